package endorser

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

type lcChannels struct{ b *channelconfig.Bundle }

func (c lcChannels) ChannelConfig(string) (lifecycle.ChannelConfig, error) {
	return lifecycle.BundleChannel{Bundle: c.b}, nil
}

// orgPeer is one organisation's endorsing peer over a shared ledger.
type orgPeer struct {
	e         *Endorser
	peer      *msp.SigningIdentity
	admin     *msp.SigningIdentity
	transient *transient
}

// TestChaincodeLifecycleThenInvoke drives the real `_lifecycle` through the
// endorser on a channel made from configtx.yaml (test-network layout):
// install, approve by both orgs, commit, then invoke the chaincode, which the
// runtime builds and launches from the installed package.
func TestChaincodeLifecycleThenInvoke(t *testing.T) {
	tn := testnet.FabricNet(t)
	dir := t.TempDir()
	genesis, bundle := tn.Genesis(), tn.Bundle
	l, err := ledger.Open(filepath.Join(dir, "ledger"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	protos.SetTxFilter(genesis, []byte{0})
	if err := l.Commit(genesis, nil); err != nil {
		t.Fatalf("commit genesis: %v", err)
	}

	newPeer := func(org, mspID string, rt Executor) *orgPeer {
		conf, err := msp.LoadMSPDir(filepath.Join(tn.OrgDir(t, mspID), "msp"), mspID)
		if err != nil {
			t.Fatal(err)
		}
		local, err := msp.New(conf)
		if err != nil {
			t.Fatal(err)
		}
		peer, admin := tn.Signer(t, "peer0."+org+".example.com"), tn.Admin(t, mspID)
		lc, err := lifecycle.New(lifecycle.Config{PackageDir: filepath.Join(dir, org, "chaincodes"), LocalMSP: local, Channels: lcChannels{bundle}, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		tr := &transient{m: map[string]*rwset.TxPvtReadWriteSet{}}
		e, err := New(Config{
			Signer: peer, LocalMSP: local,
			Channels:    channels{"mychannel": {Config: bundle, Ledger: NewLedger(l)}},
			System:      []chaincode.SystemChaincode{lc},
			Runtime:     rt,
			Definitions: lc,
			Transient:   tr,
			Logger:      quietLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return &orgPeer{e: e, peer: peer, admin: admin, transient: tr}
	}

	launcher := &chaincode.PackageLauncher{
		PackageDir: filepath.Join(dir, "org1", "chaincodes"), BuildDir: filepath.Join(dir, "build"),
		Env: []string{"GOFLAGS=-mod=mod -buildvcs=false -ldflags=-w"}, Logger: quietLogger(),
	}
	rt := chaincode.NewRuntime(chaincode.Config{Logger: quietLogger()}, launcher)
	launcher.PeerAddress = serveRegister(t, rt)
	org1, org2 := newPeer("org1", "Org1MSP", rt), newPeer("org2", "Org2MSP", nil)

	call := func(p *orgPeer, signer protos.Signer, channel, cc string, args [][]byte) (*pb.SignedProposal, *pb.ProposalResponse) {
		t.Helper()
		sp, _, err := protos.NewProposal(signer, channel, cc, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := p.e.ProcessProposal(context.Background(), sp)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Response.GetStatus() != 200 {
			t.Fatalf("%s %s: %d %s", cc, args[0], pr.Response.GetStatus(), pr.Response.GetMessage())
		}
		return sp, pr
	}
	height := uint64(1)
	type endorsed struct {
		sp     *pb.SignedProposal
		resps  []*pb.ProposalResponse
		signer protos.Signer
		pvt    *rwset.TxPvtReadWriteSet
	}
	commitBlock := func(txs ...endorsed) {
		t.Helper()
		var envs [][]byte
		private := map[uint64]*rwset.TxPvtReadWriteSet{}
		for i, tx := range txs {
			p, _ := protos.ParseProposal(tx.sp)
			payload, err := protos.NewTransaction(p, tx.resps)
			if err != nil {
				t.Fatalf("assemble tx %d: %v", i, err)
			}
			env, err := protos.SignEnvelope(payload, tx.signer)
			if err != nil {
				t.Fatal(err)
			}
			envs = append(envs, protos.Marshal(env))
			if tx.pvt != nil {
				private[uint64(i)] = tx.pvt
			}
		}
		prev := l.Blocks().Info().CurrentBlockHash
		b := protos.NewBlock(height, prev, envs)
		protos.SetTxFilter(b, make([]byte, len(envs)))
		if err := l.Commit(b, private); err != nil {
			t.Fatalf("commit block %d: %v", height, err)
		}
		if f := protos.TxFilter(b); len(f) != len(envs) || f[0] != 0 || f[len(f)-1] != 0 {
			t.Fatalf("block %d validation codes %v", height, f)
		}
		height++
	}

	// Install on both peers (channel-less, by each org's admin).
	pkgID := ""
	pkg := testPackageBytes(t)
	for _, p := range []*orgPeer{org1, org2} {
		_, pr := call(p, p.admin, "", "_lifecycle", [][]byte{[]byte("InstallChaincode"), protos.Marshal(&lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg})})
		res := &lb.InstallChaincodeResult{}
		if err := proto.Unmarshal(pr.Response.Payload, res); err != nil {
			t.Fatal(err)
		}
		if pkgID != "" && res.PackageId != pkgID {
			t.Fatalf("package IDs differ: %s vs %s", res.PackageId, pkgID)
		}
		pkgID = res.PackageId
	}

	// Approve by both orgs, in one block.
	def := func() *lb.ApproveChaincodeDefinitionForMyOrgArgs {
		return &lb.ApproveChaincodeDefinitionForMyOrgArgs{
			Name: "basic", Version: "1.0", Sequence: 1,
			Source: &lb.ChaincodeSource{Type: &lb.ChaincodeSource_LocalPackage{LocalPackage: &lb.ChaincodeSource_Local{PackageId: pkgID}}},
		}
	}
	var approvals []endorsed
	for _, p := range []*orgPeer{org1, org2} {
		sp, pr := call(p, p.admin, "mychannel", "_lifecycle", [][]byte{[]byte("ApproveChaincodeDefinitionForMyOrg"), protos.Marshal(def())})
		txID := mustParse(t, sp).ChannelHeader.TxId
		approvals = append(approvals, endorsed{sp: sp, resps: []*pb.ProposalResponse{pr}, signer: p.admin, pvt: p.transient.get(txID)})
		if p.transient.get(txID) == nil {
			t.Fatal("approval left no private write set in the transient store")
		}
	}
	commitBlock(approvals...)

	// Commit the definition, endorsed identically by both peers.
	commitArgs := protos.Marshal(&lb.CommitChaincodeDefinitionArgs{Name: "basic", Version: "1.0", Sequence: 1})
	sp, _, err := protos.NewProposal(org1.admin, "mychannel", "_lifecycle", [][]byte{[]byte("CommitChaincodeDefinition"), commitArgs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var resps []*pb.ProposalResponse
	for _, p := range []*orgPeer{org1, org2} {
		pr, err := p.e.ProcessProposal(context.Background(), sp)
		if err != nil || pr.Response.GetStatus() != 200 {
			t.Fatalf("commit definition on a peer: %v %v", pr.GetResponse(), err)
		}
		resps = append(resps, pr)
	}
	commitBlock(endorsed{sp: sp, resps: resps, signer: org1.admin})

	// Invoke the chaincode: the runtime builds and launches the approved package.
	user := tn.User(t, "User1", "Org1MSP")
	sp, pr := call(org1, user, "mychannel", "basic", [][]byte{[]byte("put"), []byte("asset1"), []byte("blue")})
	act := decodeAction(t, sp, pr, org1.peer)
	if act.ChaincodeId.GetName() != "basic" || act.ChaincodeId.GetVersion() != "1.0" {
		t.Fatalf("chaincode id = %v", act.ChaincodeId)
	}
	rw := nsRWSet(t, act)
	if w := rw["basic"].GetWrites(); len(w) != 1 || w[0].Key != "asset1" || string(w[0].Value) != "blue" {
		t.Fatalf("basic writes = %v", w)
	}
	lcReads := rw["_lifecycle"].GetReads()
	if len(lcReads) != 1 || lcReads[0].Key != "namespaces/fields/basic/Sequence" || lcReads[0].GetVersion().GetBlockNum() != 2 {
		t.Fatalf("_lifecycle reads = %v, want the sequence written in block 2", lcReads)
	}

	// Org2's peer has the definition but no runtime: a clear refusal.
	sp, _, _ = protos.NewProposal(user, "mychannel", "basic", [][]byte{[]byte("get"), []byte("asset1")}, nil)
	if pr, _ := org2.e.ProcessProposal(context.Background(), sp); pr.Response.GetStatus() != 500 {
		t.Fatalf("org2 without a runtime = %v", pr.Response)
	}
}
