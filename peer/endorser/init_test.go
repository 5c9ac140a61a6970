package endorser

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"

	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

func TestInitializedKeyIsFabrics(t *testing.T) {
	// 0x00, then U+10FFFF (the maximum rune) in UTF-8, then "initialized".
	if want := "\x00\xf4\x8f\xbf\xbfinitialized"; InitializedKey != want {
		t.Fatalf("InitializedKey = %q, want %q", InitializedKey, want)
	}
}

// memState is an InitState over a map that counts reads and writes.
type memState struct {
	kv            map[string]string
	reads, writes int
	getErr        error
}

func (m *memState) GetState(ns, key string) ([]byte, error) {
	m.reads++
	if m.getErr != nil {
		return nil, m.getErr
	}
	v, ok := m.kv[ns+"/"+key]
	if !ok {
		return nil, nil
	}
	return []byte(v), nil
}

func (m *memState) SetState(ns, key string, value []byte) error {
	m.writes++
	m.kv[ns+"/"+key] = string(value)
	return nil
}

func TestCheckInit(t *testing.T) {
	key := "cc/" + InitializedKey
	for _, tc := range []struct {
		name     string
		required bool
		stored   string // "" = absent
		isInit   bool
		getErr   error
		wantErr  []string // nil = success
		reads    int
		wantKey  string // value of the key afterwards
	}{
		{name: "not required, ordinary", reads: 0},
		{name: "not required, init", isInit: true, reads: 0,
			wantErr: []string{"chaincode 'cc' does not require initialization but called as init", "without --init-required", "without --isInit"}},
		{name: "required, ordinary before init", required: true, reads: 1,
			wantErr: []string{"chaincode 'cc' has not been initialized for this version, must call as init first", "version 2.0", "--isInit"}},
		{name: "required, init", required: true, isInit: true, reads: 1, wantKey: "2.0"},
		{name: "required, initialized, ordinary", required: true, stored: "2.0", reads: 1, wantKey: "2.0"},
		{name: "required, initialized, init again", required: true, stored: "2.0", isInit: true, reads: 1, wantKey: "2.0",
			wantErr: []string{"chaincode 'cc' is already initialized but called as init", "without --isInit"}},
		{name: "required, older version initialized, ordinary", required: true, stored: "1.0", reads: 1, wantKey: "1.0",
			wantErr: []string{"has not been initialized for this version, must call as init first"}},
		{name: "required, older version initialized, init", required: true, stored: "1.0", isInit: true, reads: 1, wantKey: "2.0"},
		{name: "read fails", required: true, getErr: errors.New("disk gone"), reads: 1,
			wantErr: []string{"'initialized' key of chaincode cc", "disk gone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &memState{kv: map[string]string{}, getErr: tc.getErr}
			if tc.stored != "" {
				st.kv[key] = tc.stored
			}
			def := &lifecycle.Definition{Name: "cc", Version: "2.0", Sequence: 4, InitRequired: tc.required}
			err := checkInit("cc", def, st, &pb.ChaincodeInput{Args: strArgs("f"), IsInit: tc.isInit})
			if tc.wantErr == nil && err != nil {
				t.Fatalf("err = %v, want none", err)
			}
			for _, w := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("err = %v, want one containing %q", err, w)
				}
			}
			if st.reads != tc.reads {
				t.Fatalf("%d reads of the key, want %d", st.reads, tc.reads)
			}
			if got := st.kv[key]; got != tc.wantKey {
				t.Fatalf("key afterwards = %q, want %q", got, tc.wantKey)
			}
		})
	}
}

// defineBasic approves (both orgs) and commits "basic" at version and
// sequence with the package of label and the given InitRequired.
func (n *lcNet) defineBasic(version string, sequence int64, label string, initRequired bool) {
	n.tb.Helper()
	var approvals []endorsedTx
	for _, p := range []*orgPeer{n.org1, n.org2} {
		sp, pr := n.call(p, p.admin, "mychannel", lifecycle.Namespace, "ApproveChaincodeDefinitionForMyOrg", &lb.ApproveChaincodeDefinitionForMyOrgArgs{
			Name: "basic", Version: version, Sequence: sequence, InitRequired: initRequired,
			Source: &lb.ChaincodeSource{Type: &lb.ChaincodeSource_LocalPackage{LocalPackage: &lb.ChaincodeSource_Local{PackageId: n.packages[label]}}},
		})
		approvals = append(approvals, endorsedTx{sp: sp, resps: []*pb.ProposalResponse{pr}, signer: p.admin, pvt: p.transient.get(mustParse(n.tb, sp).ChannelHeader.TxId)})
	}
	n.commitBlock(approvals...)
	sp, _, err := protos.NewProposal(n.org1.admin, "mychannel", lifecycle.Namespace, [][]byte{[]byte("CommitChaincodeDefinition"),
		protos.Marshal(&lb.CommitChaincodeDefinitionArgs{Name: "basic", Version: version, Sequence: sequence, InitRequired: initRequired})}, nil)
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
	n.commitBlock(endorsedTx{sp: sp, resps: resps, signer: n.org1.admin})
}

// propose endorses basic's "put key v" at org1, as an init when isInit.
func (n *lcNet) propose(t *testing.T, key string, isInit bool) (endorsedTx, *pb.ProposalResponse) {
	t.Helper()
	sp, _, err := protos.NewProposal(n.user, "mychannel", "basic", strArgs("put", key, "v"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if isInit {
		sp = withIsInit(t, sp, n.user)
	}
	pr, err := n.org1.e.ProcessProposal(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	return endorsedTx{sp: sp, resps: []*pb.ProposalResponse{pr}, signer: n.user}, pr
}

// withIsInit returns sp with is_init set in its chaincode input, re-signed.
func withIsInit(t *testing.T, sp *pb.SignedProposal, signer protos.Signer) *pb.SignedProposal {
	t.Helper()
	p := mustParse(t, sp)
	cis := p.Invocation
	cis.ChaincodeSpec.Input.IsInit = true
	prop := &pb.Proposal{
		Header:  p.Proposal.Header,
		Payload: protos.Marshal(&pb.ChaincodeProposalPayload{Input: protos.Marshal(cis), TransientMap: p.Payload.GetTransientMap()}),
	}
	raw := protos.Marshal(prop)
	sig, err := signer.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.SignedProposal{ProposalBytes: raw, Signature: sig}
}

// initRW returns the read and write of InitializedKey in basic's namespace
// of an endorsed response (nil when absent).
func initRW(t *testing.T, n *lcNet, sp *pb.SignedProposal, pr *pb.ProposalResponse) (*kvrwset.KVRead, *kvrwset.KVWrite) {
	t.Helper()
	kv := nsRWSet(t, decodeAction(t, sp, pr, n.org1.peer))["basic"]
	var r *kvrwset.KVRead
	var w *kvrwset.KVWrite
	for _, x := range kv.GetReads() {
		if x.Key == InitializedKey {
			r = x
		}
	}
	for _, x := range kv.GetWrites() {
		if x.Key == InitializedKey {
			w = x
		}
	}
	return r, w
}

func wantRefused(t *testing.T, n *lcNet, pr *pb.ProposalResponse, wants ...string) {
	t.Helper()
	if pr.Response.GetStatus() != 500 || pr.Endorsement != nil {
		t.Fatalf("response %d %q (endorsed: %t), want a refusal", pr.Response.GetStatus(), pr.Response.GetMessage(), pr.Endorsement != nil)
	}
	for _, w := range wants {
		if !strings.Contains(pr.Response.GetMessage(), w) {
			t.Fatalf("refusal %q does not contain %q", pr.Response.GetMessage(), w)
		}
	}
}

// TestInitRequiredWithRealLifecycle commits definitions of basic with and
// without InitRequired through the real `_lifecycle` and checks Fabric's
// init-exactly-once rules on a real ledger: refusal before the init, the
// init's read and write of the "initialized" key, MVCC against a second
// init in the same block, refusal of a second init, a new init only for a
// new version, and no init at all without InitRequired.
func TestInitRequiredWithRealLifecycle(t *testing.T) {
	n := newLCNet(t, true, "basic_1.0")
	n.defineBasic("1.0", 1, "basic_1.0", true)
	calls := func() int {
		n.rt.mu.Lock()
		defer n.rt.mu.Unlock()
		return len(n.rt.calls)
	}

	// An ordinary invocation before the init is refused before the chaincode runs.
	before := calls()
	_, pr := n.propose(t, "k0", false)
	wantRefused(t, n, pr, "failed to execute transaction", "invalid invocation: chaincode 'basic' has not been initialized for this version, must call as init first", "--isInit")
	if calls() != before {
		t.Fatal("the chaincode ran for a refused invocation")
	}

	// Two inits endorsed before either commits: both read the key absent.
	init1, pr1 := n.propose(t, "k1", true)
	init2, pr2 := n.propose(t, "k2", true)
	for _, x := range []struct {
		tx endorsedTx
		pr *pb.ProposalResponse
	}{{init1, pr1}, {init2, pr2}} {
		if x.pr.Response.GetStatus() != 200 {
			t.Fatalf("init: %d %s", x.pr.Response.GetStatus(), x.pr.Response.GetMessage())
		}
		r, w := initRW(t, n, x.tx.sp, x.pr)
		if r == nil || r.Version != nil || w == nil || string(w.Value) != "1.0" || w.IsDelete {
			t.Fatalf("init rwset: read %v, write %v; want a read of the absent key and a write of version 1.0", r, w)
		}
	}
	n.rt.mu.Lock()
	sawInit := n.rt.lastIn.GetIsInit()
	n.rt.mu.Unlock()
	if !sawInit {
		t.Fatal("the runtime was not asked for an init (is_init not passed on)")
	}
	// Both in one block: the second is an MVCC conflict, as in Fabric.
	codes := commitCodes(t, n, init1, init2)
	if codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_MVCC_READ_CONFLICT {
		t.Fatalf("codes of two inits in one block = %v, want [VALID MVCC_READ_CONFLICT]", codes)
	}
	initBlock := n.l.Blocks().Info().Height - 1

	_, pr = n.propose(t, "k3", true)
	wantRefused(t, n, pr, "chaincode 'basic' is already initialized but called as init", "without --isInit")

	ordinary, pr := n.propose(t, "k4", false)
	if pr.Response.GetStatus() != 200 {
		t.Fatalf("ordinary invocation after the init: %d %s", pr.Response.GetStatus(), pr.Response.GetMessage())
	}
	r, w := initRW(t, n, ordinary.sp, pr)
	if r == nil || r.Version.GetBlockNum() != initBlock || r.Version.GetTxNum() != 0 || w != nil {
		t.Fatalf("ordinary invocation: read %v, write %v; want a read of the key at (%d,0) and no write", r, w, initBlock)
	}

	// A new sequence with the same version needs no new init.
	n.defineBasic("1.0", 2, "basic_1.0", true)
	if _, pr = n.propose(t, "k5", false); pr.Response.GetStatus() != 200 {
		t.Fatalf("after sequence 2 (same version): %d %s", pr.Response.GetStatus(), pr.Response.GetMessage())
	}
	// A new version does.
	n.defineBasic("2.0", 3, "basic_1.0", true)
	_, pr = n.propose(t, "k6", false)
	wantRefused(t, n, pr, "chaincode 'basic' has not been initialized for this version", "version 2.0")
	init3, pr := n.propose(t, "k7", true)
	if pr.Response.GetStatus() != 200 {
		t.Fatalf("init of version 2.0: %d %s", pr.Response.GetStatus(), pr.Response.GetMessage())
	}
	if r, w := initRW(t, n, init3.sp, pr); r.GetVersion().GetBlockNum() != initBlock || string(w.GetValue()) != "2.0" {
		t.Fatalf("init of version 2.0: read %v, write %v; want the 1.0 init's version read and 2.0 written", r, w)
	}
	if codes := commitCodes(t, n, init3); codes[0] != pb.TxValidationCode_VALID {
		t.Fatalf("init of version 2.0: %v", codes)
	}
	if _, pr = n.propose(t, "k8", false); pr.Response.GetStatus() != 200 {
		t.Fatalf("after the 2.0 init: %d %s", pr.Response.GetStatus(), pr.Response.GetMessage())
	}

	// Without InitRequired an init is refused and nothing reads the key.
	n.defineBasic("3.0", 4, "basic_1.0", false)
	_, pr = n.propose(t, "k9", true)
	wantRefused(t, n, pr, "chaincode 'basic' does not require initialization but called as init", "without --isInit")
	plain, pr := n.propose(t, "k10", false)
	if pr.Response.GetStatus() != 200 {
		t.Fatalf("ordinary invocation without InitRequired: %d %s", pr.Response.GetStatus(), pr.Response.GetMessage())
	}
	if r, w := initRW(t, n, plain.sp, pr); r != nil || w != nil {
		t.Fatalf("without InitRequired: read %v, write %v of the key, want neither", r, w)
	}
}

// commitCodes commits txs as the next block and returns their validation codes.
func commitCodes(t *testing.T, n *lcNet, txs ...endorsedTx) []pb.TxValidationCode {
	t.Helper()
	var envs [][]byte
	for _, tx := range txs {
		payload, err := protos.NewTransaction(mustParse(t, tx.sp), tx.resps)
		if err != nil {
			t.Fatal(err)
		}
		env, err := protos.SignEnvelope(payload, tx.signer)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, protos.Marshal(env))
	}
	info := n.l.Blocks().Info()
	b := protos.NewBlock(info.Height, info.CurrentBlockHash, envs)
	protos.SetTxFilter(b, make([]byte, len(envs)))
	if err := n.l.Commit(b, nil); err != nil {
		t.Fatal(err)
	}
	var codes []pb.TxValidationCode
	for _, f := range protos.TxFilter(b) {
		codes = append(codes, pb.TxValidationCode(f))
	}
	return codes
}

// initDefs is the definitions fake with InitRequired set for some chaincodes.
type initDefs struct {
	definitions
	required map[string]bool
}

func (d initDefs) ChaincodeDefinition(channel string, st lifecycle.StateReader, name string) (*lifecycle.Definition, error) {
	def, err := d.definitions.ChaincodeDefinition(channel, st, name)
	if err == nil {
		def.InitRequired = d.required[name]
	}
	return def, err
}

// TestInitRequiredForCallee checks that, as in Fabric, a chaincode called by
// another is held to its own definition's InitRequired: refused until it is
// initialized for its version, with the read of its "initialized" key
// recorded in its namespace of the caller's transaction once it is.
func TestInitRequiredForCallee(t *testing.T) {
	ev := newCallEnv(t)
	ev.e.definitions = initDefs{definitions: definitions{pkg: basicPkg}, required: map[string]bool{"callee": true}}

	_, pr, _ := callVia(t, ev, "callee", "", "put", "ck", "cv")
	if pr.Response.GetStatus() != 500 || !strings.Contains(pr.Response.GetMessage(), "invalid invocation: chaincode 'callee' has not been initialized for this version, must call as init first") ||
		!strings.Contains(pr.Response.GetMessage(), "--isInit") {
		t.Fatalf("call of an uninitialized callee: %d %q", pr.Response.GetStatus(), pr.Response.GetMessage())
	}

	// Initialize callee's version 2.0 (what its init transaction commits).
	sp, _, err := protos.NewProposal(ev.user1, "mychannel", "callee", strArgs("put", "x", "y"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pr = process(t, ev.e, withIsInit(t, sp, ev.user1))
	if pr.Response.GetStatus() != 200 {
		t.Fatalf("init of callee: %d %s", pr.Response.GetStatus(), pr.Response.GetMessage())
	}
	commitEndorsed(t, ev, sp, pr)

	sp, pr, inner := callVia(t, ev, "callee", "", "put", "ck", "cv")
	if inner.GetStatus() != 200 {
		t.Fatalf("call of the initialized callee: %v (proposal response %v)", inner, pr.Response)
	}
	if got := readKeys(nsRWSet(t, decodeAction(t, sp, pr, ev.peer))["callee"].GetReads()); got != InitializedKey+",ck" {
		t.Fatalf("callee reads = %q, want its initialized key then ck", got)
	}
}

// commitEndorsed commits an endorsed proposal (signed by ev.user1) as the
// next block of ev's ledger; it must be valid.
func commitEndorsed(t *testing.T, ev *env, sp *pb.SignedProposal, pr *pb.ProposalResponse) {
	t.Helper()
	payload, err := protos.NewTransaction(mustParse(t, sp), []*pb.ProposalResponse{pr})
	if err != nil {
		t.Fatal(err)
	}
	envl, err := protos.SignEnvelope(payload, ev.user1)
	if err != nil {
		t.Fatal(err)
	}
	l := ev.ledger.Ledger.(ledgerAdapter).l
	info := l.Blocks().Info()
	b := protos.NewBlock(info.Height, info.CurrentBlockHash, [][]byte{protos.Marshal(envl)})
	protos.SetTxFilter(b, []byte{0})
	if err := l.Commit(b, nil); err != nil {
		t.Fatal(err)
	}
	if f := protos.TxFilter(b); f[0] != 0 {
		t.Fatalf("init transaction invalid: code %d", f[0])
	}
}
