package endorser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"google.golang.org/protobuf/proto"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"

	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

// commitSequence commits, as the next block of l, one transaction that writes
// the sequence of chaincode name's definition in `_lifecycle`: the key every
// endorsement of name reads.
func commitSequence(t testing.TB, l *ledger.Ledger, signer protos.Signer, name string, seq int64) {
	t.Helper()
	sp, txID, err := protos.NewProposal(signer, "mychannel", lifecycle.Namespace, [][]byte{[]byte("seed")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sim := l.NewSimulator(txID)
	defer sim.Done()
	if err := sim.SetState(lifecycle.Namespace, lifecycle.SequenceKey(name), protos.Marshal(&lb.StateData{Type: &lb.StateData_Int64{Int64: seq}})); err != nil {
		t.Fatal(err)
	}
	pub, _, err := sim.Results()
	if err != nil {
		t.Fatal(err)
	}
	p, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	act := &pb.ChaincodeAction{Results: protos.Marshal(pub), Response: &pb.Response{Status: 200}, ChaincodeId: &pb.ChaincodeID{Name: lifecycle.Namespace, Version: SystemChaincodeVersion}}
	prp := protos.Marshal(&pb.ProposalResponsePayload{ProposalHash: p.Hash(), Extension: protos.Marshal(act)})
	payload, err := protos.NewTransaction(p, []*pb.ProposalResponse{{Version: 1, Response: act.Response, Payload: prp, Endorsement: &pb.Endorsement{Endorser: []byte("e")}}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := protos.SignEnvelope(payload, signer)
	if err != nil {
		t.Fatal(err)
	}
	info := l.Blocks().Info()
	b := protos.NewBlock(info.Height, info.CurrentBlockHash, [][]byte{protos.Marshal(env)})
	protos.SetTxFilter(b, []byte{0})
	if err := l.Commit(b, nil); err != nil {
		t.Fatalf("commit sequence %d of %s: %v", seq, name, err)
	}
	if f := protos.TxFilter(b); f[0] != 0 {
		t.Fatalf("sequence transaction invalid: code %d", f[0])
	}
}

// lcNet is two organisations' peers endorsing over one real ledger with the
// real `_lifecycle`; org1's peer caches definitions and runs chaincode with a
// fake runtime that records the package it was asked to run.
type lcNet struct {
	tb       testing.TB
	l        *ledger.Ledger
	org1     *orgPeer
	org2     *orgPeer
	cache    *lifecycle.DefinitionCache
	defs     *countingDefs
	rt       *fakeRuntime
	user     protos.Signer
	packages map[string]string // label -> package ID
}

// countingDefs counts the definition reads that reach the lifecycle.
type countingDefs struct {
	Definitions
	defReads, pkgReads atomic.Int64
}

func (c *countingDefs) ChaincodeDefinition(channel string, st lifecycle.StateReader, name string) (*lifecycle.Definition, error) {
	c.defReads.Add(1)
	return c.Definitions.ChaincodeDefinition(channel, st, name)
}

func (c *countingDefs) ApprovedPackageID(channel string, st lifecycle.PrivateStateReader, name string, seq int64) (string, error) {
	c.pkgReads.Add(1)
	return c.Definitions.ApprovedPackageID(channel, st, name, seq)
}

func newLCNet(tb testing.TB, cached bool, labels ...string) *lcNet {
	tb.Helper()
	tn := testnet.FabricNet(tb)
	dir := tb.TempDir()
	genesis, bundle := tn.Genesis(), tn.Bundle
	l, err := ledger.Open(filepath.Join(dir, "ledger"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	protos.SetTxFilter(genesis, []byte{0})
	if err := l.Commit(genesis, nil); err != nil {
		tb.Fatalf("commit genesis: %v", err)
	}
	n := &lcNet{tb: tb, l: l, cache: lifecycle.NewDefinitionCache(), rt: &fakeRuntime{}, user: tn.User(tb, "User1", "Org1MSP"), packages: map[string]string{}}
	newPeer := func(org, mspID string, cache *lifecycle.DefinitionCache, rt Executor, wrap func(Definitions) Definitions) *orgPeer {
		conf, err := msp.LoadMSPDir(filepath.Join(tn.OrgDir(tb, mspID), "msp"), mspID)
		if err != nil {
			tb.Fatal(err)
		}
		local, err := msp.New(conf)
		if err != nil {
			tb.Fatal(err)
		}
		lc, err := lifecycle.New(lifecycle.Config{PackageDir: filepath.Join(dir, org, "chaincodes"), LocalMSP: local, Channels: lcChannels{bundle}, Logger: quietLogger()})
		if err != nil {
			tb.Fatal(err)
		}
		tr := &transient{m: map[string]*rwset.TxPvtReadWriteSet{}}
		e, err := New(Config{
			Signer: tn.Signer(tb, "peer0."+org+".example.com"), LocalMSP: local,
			Channels:    channels{"mychannel": {Config: bundle, Ledger: NewLedger(l), Definitions: cache}},
			System:      []chaincode.SystemChaincode{lc},
			Runtime:     rt,
			Definitions: wrap(lc),
			Transient:   tr,
			Logger:      quietLogger(),
		})
		if err != nil {
			tb.Fatal(err)
		}
		return &orgPeer{e: e, peer: tn.Signer(tb, "peer0."+org+".example.com"), admin: tn.Admin(tb, mspID), transient: tr}
	}
	cache := n.cache
	if !cached {
		cache = nil
	}
	n.org1 = newPeer("org1", "Org1MSP", cache, n.rt, func(d Definitions) Definitions { n.defs = &countingDefs{Definitions: d}; return n.defs })
	n.org2 = newPeer("org2", "Org2MSP", nil, nil, func(d Definitions) Definitions { return d })
	for _, label := range labels {
		for _, p := range []*orgPeer{n.org1, n.org2} {
			_, pr := n.call(p, p.admin, "", lifecycle.Namespace, "InstallChaincode", &lb.InstallChaincodeArgs{ChaincodeInstallPackage: labelledPackage(tb, label)})
			res := &lb.InstallChaincodeResult{}
			if err := proto.Unmarshal(pr.Response.Payload, res); err != nil {
				tb.Fatal(err)
			}
			n.packages[label] = res.PackageId
		}
	}
	if !cached {
		n.cache = nil
	}
	return n
}

func labelledPackage(tb testing.TB, label string) []byte {
	meta, _ := json.Marshal(map[string]string{"type": "golang", "label": label, "path": "."})
	code := tarGz(tb, map[string][]byte{"src/main.go": []byte("package main\n\n// " + label + "\nfunc main() {}\n")})
	return tarGz(tb, map[string][]byte{"metadata.json": meta, "code.tar.gz": code})
}

func (n *lcNet) call(p *orgPeer, signer protos.Signer, channel, cc, fn string, arg proto.Message) (*pb.SignedProposal, *pb.ProposalResponse) {
	n.tb.Helper()
	sp, _, err := protos.NewProposal(signer, channel, cc, [][]byte{[]byte(fn), protos.Marshal(arg)}, nil)
	if err != nil {
		n.tb.Fatal(err)
	}
	pr, err := p.e.ProcessProposal(context.Background(), sp)
	if err != nil {
		n.tb.Fatal(err)
	}
	if pr.Response.GetStatus() != 200 {
		n.tb.Fatalf("%s %s: %d %s", cc, fn, pr.Response.GetStatus(), pr.Response.GetMessage())
	}
	return sp, pr
}

type endorsedTx struct {
	sp     *pb.SignedProposal
	resps  []*pb.ProposalResponse
	signer protos.Signer
	pvt    *rwset.TxPvtReadWriteSet
}

// commitBlock commits txs as the next block and returns its number; every
// transaction must come out VALID.
func (n *lcNet) commitBlock(txs ...endorsedTx) uint64 {
	n.tb.Helper()
	var envs [][]byte
	private := map[uint64]*rwset.TxPvtReadWriteSet{}
	for i, tx := range txs {
		p, _ := protos.ParseProposal(tx.sp)
		payload, err := protos.NewTransaction(p, tx.resps)
		if err != nil {
			n.tb.Fatalf("assemble tx %d: %v", i, err)
		}
		env, err := protos.SignEnvelope(payload, tx.signer)
		if err != nil {
			n.tb.Fatal(err)
		}
		envs = append(envs, protos.Marshal(env))
		if tx.pvt != nil {
			private[uint64(i)] = tx.pvt
		}
	}
	info := n.l.Blocks().Info()
	b := protos.NewBlock(info.Height, info.CurrentBlockHash, envs)
	protos.SetTxFilter(b, make([]byte, len(envs)))
	if err := n.l.Commit(b, private); err != nil {
		n.tb.Fatalf("commit block %d: %v", info.Height, err)
	}
	for i, f := range protos.TxFilter(b) {
		if f != 0 {
			n.tb.Fatalf("block %d tx %d: validation code %d", info.Height, i, f)
		}
	}
	return info.Height
}

// define approves (by both orgs, one block) and commits (another block) the
// definition of "basic" at version and sequence with the package of label;
// it returns the number of the block that committed the definition.
func (n *lcNet) define(version string, sequence int64, label string) uint64 {
	n.tb.Helper()
	var approvals []endorsedTx
	for _, p := range []*orgPeer{n.org1, n.org2} {
		sp, pr := n.call(p, p.admin, "mychannel", lifecycle.Namespace, "ApproveChaincodeDefinitionForMyOrg", &lb.ApproveChaincodeDefinitionForMyOrgArgs{
			Name: "basic", Version: version, Sequence: sequence,
			Source: &lb.ChaincodeSource{Type: &lb.ChaincodeSource_LocalPackage{LocalPackage: &lb.ChaincodeSource_Local{PackageId: n.packages[label]}}},
		})
		approvals = append(approvals, endorsedTx{sp: sp, resps: []*pb.ProposalResponse{pr}, signer: p.admin, pvt: p.transient.get(mustParse(n.tb, sp).ChannelHeader.TxId)})
	}
	n.commitBlock(approvals...)
	sp, _, err := protos.NewProposal(n.org1.admin, "mychannel", lifecycle.Namespace,
		[][]byte{[]byte("CommitChaincodeDefinition"), protos.Marshal(&lb.CommitChaincodeDefinitionArgs{Name: "basic", Version: version, Sequence: sequence})}, nil)
	if err != nil {
		n.tb.Fatal(err)
	}
	var resps []*pb.ProposalResponse
	for _, p := range []*orgPeer{n.org1, n.org2} {
		pr, err := p.e.ProcessProposal(context.Background(), sp)
		if err != nil || pr.Response.GetStatus() != 200 {
			n.tb.Fatalf("commit definition on a peer: %v %v", pr.GetResponse(), err)
		}
		resps = append(resps, pr)
	}
	return n.commitBlock(endorsedTx{sp: sp, resps: resps, signer: n.org1.admin})
}

// invoke endorses "put k v" on basic at org1 and returns the package the
// runtime was asked to run, the chaincode version and the recorded
// `_lifecycle` reads.
func (n *lcNet) invoke() (string, string, []*kvrwset.KVRead) {
	n.tb.Helper()
	sp, _, err := protos.NewProposal(n.user, "mychannel", "basic", strArgs("put", "k", "v"), nil)
	if err != nil {
		n.tb.Fatal(err)
	}
	pr, err := n.org1.e.ProcessProposal(context.Background(), sp)
	if err != nil || pr.Response.GetStatus() != 200 {
		n.tb.Fatalf("invoke basic: %v %v", pr.GetResponse(), err)
	}
	n.rt.mu.Lock()
	pkg := n.rt.calls[len(n.rt.calls)-1]
	n.rt.mu.Unlock()
	act := &pb.ChaincodeAction{}
	prp := &pb.ProposalResponsePayload{}
	if err := proto.Unmarshal(pr.Payload, prp); err != nil {
		n.tb.Fatal(err)
	}
	if err := proto.Unmarshal(prp.Extension, act); err != nil {
		n.tb.Fatal(err)
	}
	txrw := &rwset.TxReadWriteSet{}
	if err := proto.Unmarshal(act.Results, txrw); err != nil {
		n.tb.Fatal(err)
	}
	for _, ns := range txrw.NsRwset {
		if ns.Namespace == lifecycle.Namespace {
			kv := &kvrwset.KVRWSet{}
			if err := proto.Unmarshal(ns.Rwset, kv); err != nil {
				n.tb.Fatal(err)
			}
			return pkg, act.ChaincodeId.GetVersion(), kv.Reads
		}
	}
	return pkg, act.ChaincodeId.GetVersion(), nil
}

func checkSequenceRead(t *testing.T, reads []*kvrwset.KVRead, block uint64) {
	t.Helper()
	if len(reads) != 1 || reads[0].Key != lifecycle.SequenceKey("basic") || reads[0].GetVersion().GetBlockNum() != block || reads[0].GetVersion().GetTxNum() != 0 {
		t.Fatalf("_lifecycle reads = %v, want %s at version %d:0", reads, lifecycle.SequenceKey("basic"), block)
	}
}

// TestCachedDefinitionUpgrade: endorsements of a defined chaincode read its
// definition once; after an upgrade to sequence 2 with a new version and
// package, the next endorsement runs the new package, carries the new
// version and records the read of the new sequence — both when the commit
// path invalidated the cache and when it has not yet.
func TestCachedDefinitionUpgrade(t *testing.T) {
	for _, invalidate := range []bool{true, false} {
		t.Run(fmt.Sprintf("invalidated=%t", invalidate), func(t *testing.T) {
			n := newLCNet(t, true, "basic_1.0", "basic_2.0")
			b1 := n.define("1.0", 1, "basic_1.0")
			if invalidate {
				n.cache.Invalidate()
			}
			for range 3 {
				pkg, version, reads := n.invoke()
				if pkg != n.packages["basic_1.0"] || version != "1.0" {
					t.Fatalf("before upgrade: ran %s version %s, want %s version 1.0", pkg, version, n.packages["basic_1.0"])
				}
				checkSequenceRead(t, reads, b1)
			}
			if d, p := n.defs.defReads.Load(), n.defs.pkgReads.Load(); d != 1 || p != 1 {
				t.Fatalf("3 endorsements read the definition %d times and the package %d times, want once each (cached)", d, p)
			}

			b2 := n.define("2.0", 2, "basic_2.0")
			if invalidate {
				n.cache.Invalidate()
			}
			pkg, version, reads := n.invoke()
			if pkg != n.packages["basic_2.0"] || version != "2.0" {
				t.Fatalf("after upgrade: ran %s version %s, want %s version 2.0", pkg, version, n.packages["basic_2.0"])
			}
			checkSequenceRead(t, reads, b2)
			if d := n.defs.defReads.Load(); d != 2 {
				t.Fatalf("definition read %d times, want twice (once per sequence)", d)
			}
		})
	}
}

// TestCacheKeepsEndorsementBytes: the same proposal endorsed by a caching
// and a non-caching peer over equal ledgers yields byte-identical response
// payloads (what endorsers sign and what MVCC later checks).
func TestCacheKeepsEndorsementBytes(t *testing.T) {
	cached, uncached := newLCNet(t, true, "basic_1.0"), newLCNet(t, false, "basic_1.0")
	for _, n := range []*lcNet{cached, uncached} {
		n.define("1.0", 1, "basic_1.0")
	}
	for i := range 2 { // the second round is served from the cache
		sp, _, err := protos.NewProposal(cached.user, "mychannel", "basic", strArgs("put", "k", fmt.Sprint(i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		var payloads [][]byte
		for _, n := range []*lcNet{cached, uncached} {
			pr, err := n.org1.e.ProcessProposal(context.Background(), sp)
			if err != nil || pr.Response.GetStatus() != 200 {
				t.Fatalf("endorse: %v %v", pr.GetResponse(), err)
			}
			payloads = append(payloads, pr.Payload)
		}
		if !bytes.Equal(payloads[0], payloads[1]) {
			t.Fatalf("round %d: cached and uncached endorsements differ:\n%x\n%x", i, payloads[0], payloads[1])
		}
	}
	if d := cached.defs.defReads.Load(); d != 1 {
		t.Fatalf("caching peer read the definition %d times, want 1", d)
	}
}
