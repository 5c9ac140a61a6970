package validator

import (
	"context"
	"os"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

// network is a freshly generated copy of the fixture network (same
// crypto-config.yaml and configtx.yaml, new keys), so tests can sign.
type network struct {
	bundle   *channelconfig.Bundle
	genesis  *cb.Block
	admin    map[string]*msp.SigningIdentity // by MSP ID
	peer     map[string]*msp.SigningIdentity
	user     map[string]*msp.SigningIdentity
	lc       map[string]*lifecycle.Lifecycle
	l        *ledger.Ledger
	v        *Validator
	prevHash []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

func newNetwork(t *testing.T) *network {
	t.Helper()
	tn := testnet.FabricNet(t)
	genesis, bundle := tn.Genesis(), tn.Bundle
	n := &network{bundle: bundle, genesis: genesis, admin: map[string]*msp.SigningIdentity{}, peer: map[string]*msp.SigningIdentity{},
		user: map[string]*msp.SigningIdentity{}, lc: map[string]*lifecycle.Lifecycle{}, v: New(Config{Workers: 3})}
	for _, org := range []string{"1", "2"} {
		mspID, domain := "Org"+org+"MSP", "org"+org+".example.com"
		n.admin[mspID] = tn.Admin(t, mspID)
		n.user[mspID] = tn.User(t, "User1", mspID)
		n.peer[mspID] = tn.Signer(t, "peer0."+domain)
		local, ok := bundle.MSPs().MSP(mspID)
		if !ok {
			t.Fatalf("no MSP %s in channel", mspID)
		}
		lc, err := lifecycle.New(lifecycle.Config{PackageDir: t.TempDir(), LocalMSP: local, Channels: channels{bundle}})
		if err != nil {
			t.Fatal(err)
		}
		n.lc[mspID] = lc
	}
	n.admin["OrdererMSP"] = tn.Admin(t, "OrdererMSP")
	var err error
	n.l, err = ledger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.l.Close() })
	n.commit(t, genesis, nil, pb.TxValidationCode_VALID)
	return n
}

type channels struct{ b *channelconfig.Bundle }

func (c channels) ChannelConfig(id string) (lifecycle.ChannelConfig, error) {
	return lifecycle.BundleChannel{Bundle: c.b}, nil
}

// tx is one endorsed transaction and the private data its endorser keeps.
type tx struct {
	env *cb.Envelope
	pvt *rwset.TxPvtReadWriteSet
}

// endorse builds a signed transaction as a client would: proposal by client,
// proposal response endorsed by each endorser, envelope signed by client.
func endorse(t *testing.T, client *msp.SigningIdentity, endorsers []*msp.SigningIdentity, channel, cc, version string, args [][]byte, pub *rwset.TxReadWriteSet) *cb.Envelope {
	t.Helper()
	return endorseProposal(t, propose(t, client, channel, cc, args), client, endorsers, version, pub)
}

func propose(t *testing.T, client *msp.SigningIdentity, channel, cc string, args [][]byte) *protos.Proposal {
	t.Helper()
	sp, _, err := protos.NewProposal(client, channel, cc, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func endorseProposal(t *testing.T, p *protos.Proposal, client *msp.SigningIdentity, endorsers []*msp.SigningIdentity, version string, pub *rwset.TxReadWriteSet) *cb.Envelope {
	t.Helper()
	cc := p.ChaincodeName()
	act := &pb.ChaincodeAction{Results: protos.Marshal(pub), Response: &pb.Response{Status: 200}, ChaincodeId: &pb.ChaincodeID{Name: cc, Version: version}}
	prp := protos.Marshal(&pb.ProposalResponsePayload{ProposalHash: p.Hash(), Extension: protos.Marshal(act)})
	var responses []*pb.ProposalResponse
	for _, e := range endorsers {
		ser, err := e.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		sig, err := e.Sign(append(append([]byte{}, prp...), ser...))
		if err != nil {
			t.Fatal(err)
		}
		responses = append(responses, &pb.ProposalResponse{Response: &pb.Response{Status: 200}, Payload: prp, Endorsement: &pb.Endorsement{Endorser: ser, Signature: sig}})
	}
	payload, err := protos.NewTransaction(p, responses)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protos.SignEnvelope(payload, client)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// lifecycleTx runs a _lifecycle function as mspID's peer on the ledger and
// returns the transaction endorsed by endorsers.
func (n *network) lifecycleTx(t *testing.T, mspID string, fn string, arg proto.Message, endorsers ...*msp.SigningIdentity) tx {
	t.Helper()
	args := [][]byte{[]byte(fn), protos.Marshal(arg)}
	client := n.admin[mspID]
	p := propose(t, client, "mychannel", lifecycle.Namespace, args)
	sim := n.l.NewSimulator(p.ChannelHeader.TxId)
	resp := n.lc[mspID].Call(context.Background(), &lifecycle.Invocation{ChannelID: "mychannel", TxID: p.ChannelHeader.TxId,
		Creator: p.SignatureHeader.Creator, Simulator: sim, SignedData: []protos.SignedData{p.SignedData()}}, &pb.ChaincodeInput{Args: args})
	sim.Done()
	if resp.Status != 200 {
		t.Fatalf("%s by %s: %d %s", fn, mspID, resp.Status, resp.Message)
	}
	pub, pvt, err := sim.Results()
	if err != nil {
		t.Fatal(err)
	}
	return tx{env: endorseProposal(t, p, client, endorsers, "syscc", pub), pvt: pvt}
}

// block orders txs into the next block, signed by nobody (VerifyBlock is
// covered by the fixture tests).
func (n *network) block(txs ...tx) (*cb.Block, map[uint64]*rwset.TxPvtReadWriteSet) {
	var envs [][]byte
	private := map[uint64]*rwset.TxPvtReadWriteSet{}
	for i, x := range txs {
		envs = append(envs, protos.Marshal(x.env))
		if x.pvt != nil {
			private[uint64(i)] = x.pvt
		}
	}
	return protos.NewBlock(n.l.Blocks().Height(), n.prevHash, envs), private
}

// commit validates b, checks the verdicts and commits it.
func (n *network) commit(t *testing.T, b *cb.Block, private map[uint64]*rwset.TxPvtReadWriteSet, want ...pb.TxValidationCode) []Verdict {
	t.Helper()
	vs, err := n.v.Validate(b, n.bundle, n.l.State(), n.l.Blocks().TxExists)
	if err != nil {
		t.Fatal(err)
	}
	flags := make([]byte, len(vs))
	for i, vd := range vs {
		flags[i] = byte(vd.Code)
		if i < len(want) && vd.Code != want[i] {
			t.Errorf("block %d tx %d: %s (%s), want %s", b.Header.Number, i, vd.Code, vd.Reason, want[i])
		}
	}
	protos.SetTxFilter(b, flags)
	if err := n.l.Commit(b, private); err != nil {
		t.Fatal(err)
	}
	n.prevHash = protos.BlockHeaderHash(b.Header)
	return vs
}

func approve(name string, seq int64, policy string) *lb.ApproveChaincodeDefinitionForMyOrgArgs {
	env, err := channelconfig.ParsePolicyDSL(policy)
	if err != nil {
		panic(err)
	}
	return &lb.ApproveChaincodeDefinitionForMyOrgArgs{
		Sequence: seq, Name: name, Version: "1.0",
		ValidationParameter: protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: env}}),
		Source:              &lb.ChaincodeSource{Type: &lb.ChaincodeSource_LocalPackage{LocalPackage: &lb.ChaincodeSource_Local{PackageId: "basic_1.0:" + strings.Repeat("ab", 32)}}},
	}
}

func commitDef(a *lb.ApproveChaincodeDefinitionForMyOrgArgs) *lb.CommitChaincodeDefinitionArgs {
	return &lb.CommitChaincodeDefinitionArgs{Sequence: a.Sequence, Name: a.Name, Version: a.Version, ValidationParameter: a.ValidationParameter}
}

// TestLifecycleThroughValidator deploys a chaincode with _lifecycle on a real
// ledger, validating every step, then checks the endorsement rules on
// invocations, including tampered ones.
func TestLifecycleThroughValidator(t *testing.T) {
	n := newNetwork(t)
	o1, o2 := "Org1MSP", "Org2MSP"
	def := approve("basic", 1, "AND('Org1MSP.peer','Org2MSP.peer')")

	// Approvals: each org's peer endorses writes to its own implicit collection.
	// Org2's approval endorsed only by Org1's peer writes Org2's collection: refused.
	forged := n.lifecycleTx(t, o2, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, def, n.peer[o1])
	b, pvt := n.block(n.lifecycleTx(t, o1, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, def, n.peer[o1]), forged)
	vs := n.commit(t, b, pvt, pb.TxValidationCode_VALID, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE)
	if !strings.Contains(vs[1].Reason, "_implicit_org_Org2MSP") {
		t.Errorf("forged approval reason does not name the collection: %q", vs[1].Reason)
	}
	b, pvt = n.block(n.lifecycleTx(t, o2, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, def, n.peer[o2]))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID)

	// Commit: LifecycleEndorsement (MAJORITY Endorsement) needs both orgs' peers.
	lone := n.lifecycleTx(t, o1, lifecycle.FuncCommitChaincodeDefinition, commitDef(def), n.peer[o1])
	both := n.lifecycleTx(t, o1, lifecycle.FuncCommitChaincodeDefinition, commitDef(def), n.peer[o1], n.peer[o2])
	b, pvt = n.block(lone, both)
	vs = n.commit(t, b, pvt, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, pb.TxValidationCode_VALID)
	if !strings.Contains(vs[0].Reason, lifecycle.LifecycleEndorsementPolicyRef) {
		t.Errorf("lone commit reason does not name the policy: %q", vs[0].Reason)
	}
	d, err := lifecycle.ReadDefinition(lifecycle.DBState{DB: n.l.State()}, "basic")
	if err != nil || d.Sequence != 1 {
		t.Fatalf("definition after commit: %+v %v", d, err)
	}
	pkg, err := n.lc[o1].ApprovedPackageID("mychannel", lifecycle.DBState{DB: n.l.State()}, "basic", 1)
	if err != nil || pkg != "basic_1.0:"+strings.Repeat("ab", 32) {
		t.Fatalf("Org1's approved package: %q %v", pkg, err)
	}

	// Invocations of basic.
	invoke := func(client *msp.SigningIdentity, channel, cc string, endorsers ...*msp.SigningIdentity) *cb.Envelope {
		sim := n.l.NewSimulator("sim")
		if _, err := sim.GetState(lifecycle.Namespace, "namespaces/fields/"+cc+"/Sequence"); err != nil {
			t.Fatal(err)
		}
		if err := sim.SetState(cc, "asset1", []byte(`{"ID":"asset1"}`)); err != nil {
			t.Fatal(err)
		}
		pub, _, err := sim.Results()
		if err != nil {
			t.Fatal(err)
		}
		return endorse(t, client, endorsers, channel, cc, "1.0", [][]byte{[]byte("CreateAsset")}, pub)
	}
	resign := func(env *cb.Envelope, client *msp.SigningIdentity, edit func(p *cb.Payload)) *cb.Envelope {
		p := &cb.Payload{}
		if err := proto.Unmarshal(env.Payload, p); err != nil {
			t.Fatal(err)
		}
		edit(p)
		out, err := protos.SignEnvelope(p, client)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	editChannelHeader := func(edit func(*cb.ChannelHeader)) func(*cb.Payload) {
		return func(p *cb.Payload) {
			h := &cb.ChannelHeader{}
			if err := proto.Unmarshal(p.Header.ChannelHeader, h); err != nil {
				t.Fatal(err)
			}
			edit(h)
			p.Header.ChannelHeader = protos.Marshal(h)
		}
	}
	user := n.user[o1]
	peers := []*msp.SigningIdentity{n.peer[o1], n.peer[o2]}

	flipped := invoke(user, "mychannel", "basic", peers...)
	flipped = resign(flipped, user, func(p *cb.Payload) {
		txm := &pb.Transaction{}
		proto.Unmarshal(p.Data, txm)
		cap := &pb.ChaincodeActionPayload{}
		proto.Unmarshal(txm.Actions[0].Payload, cap)
		sig := cap.Action.Endorsements[1].Signature
		sig[len(sig)-1] ^= 1
		txm.Actions[0].Payload = protos.Marshal(cap)
		p.Data = protos.Marshal(txm)
	})
	config := resign(invoke(user, "mychannel", "basic", peers...), n.admin["OrdererMSP"], func(p *cb.Payload) {
		editChannelHeader(func(h *cb.ChannelHeader) { h.Type = int32(cb.HeaderType_CONFIG) })(p)
		p.Data = protos.Marshal(&cb.ConfigEnvelope{Config: n.bundle.Config()})
		sh := &cb.SignatureHeader{}
		proto.Unmarshal(p.Header.SignatureHeader, sh)
		sh.Creator, _ = n.admin["OrdererMSP"].Serialize()
		p.Header.SignatureHeader = protos.Marshal(sh)
	})
	cases := []struct {
		name string
		env  *cb.Envelope
		want pb.TxValidationCode
	}{
		{"endorsed by both orgs", invoke(user, "mychannel", "basic", peers...), pb.TxValidationCode_VALID},
		{"endorsed by Org1 only", invoke(user, "mychannel", "basic", n.peer[o1]), pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE},
		{"endorsed twice by Org1", invoke(user, "mychannel", "basic", n.peer[o1], n.peer[o1]), pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE},
		{"endorsed by admins, not peers", invoke(user, "mychannel", "basic", n.admin[o1], n.admin[o2]), pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE},
		{"flipped endorsement signature", flipped, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE},
		{"undefined chaincode", invoke(user, "mychannel", "nocc", peers...), pb.TxValidationCode_INVALID_CHAINCODE},
		{"wrong txid", resign(invoke(user, "mychannel", "basic", peers...), user, editChannelHeader(func(h *cb.ChannelHeader) { h.TxId = strings.Repeat("0", 64) })), pb.TxValidationCode_BAD_PROPOSAL_TXID},
		{"other channel", invoke(user, "otherchannel", "basic", peers...), pb.TxValidationCode_TARGET_CHAIN_NOT_FOUND},
		{"epoch 1", resign(invoke(user, "mychannel", "basic", peers...), user, editChannelHeader(func(h *cb.ChannelHeader) { h.Epoch = 1 })), pb.TxValidationCode_BAD_COMMON_HEADER},
		{"unknown header type", resign(invoke(user, "mychannel", "basic", peers...), user, editChannelHeader(func(h *cb.ChannelHeader) { h.Type = 42 })), pb.TxValidationCode_BAD_COMMON_HEADER},
		{"signed by someone else", resign(invoke(user, "mychannel", "basic", peers...), n.user[o2], func(*cb.Payload) {}), pb.TxValidationCode_BAD_CREATOR_SIGNATURE},
		{"config transaction", config, pb.TxValidationCode_VALID},
	}
	var txs []tx
	for _, c := range cases {
		txs = append(txs, tx{env: c.env})
	}
	b, pvt = n.block(txs...)
	vs = n.commit(t, b, pvt)
	for i, c := range cases {
		if vs[i].Code != c.want {
			t.Errorf("%s: %s (%s), want %s", c.name, vs[i].Code, vs[i].Reason, c.want)
		}
		if c.want != pb.TxValidationCode_VALID && vs[i].Reason == "" {
			t.Errorf("%s: no reason given", c.name)
		}
	}
	if v, err := n.l.State().Get("basic", "asset1"); err != nil || v == nil {
		t.Fatalf("valid invocation not committed: %v %v", v, err)
	}
}

// TestKeyLevelEndorsementPolicies checks state-based endorsement: a key's own
// validation parameter replaces the chaincode policy for writes to it, and a
// key whose policy an earlier transaction of the block changed cannot be
// written later in that block.
func TestKeyLevelEndorsementPolicies(t *testing.T) {
	n := newNetwork(t)
	o1, o2 := "Org1MSP", "Org2MSP"
	def := approve("basic", 1, "AND('Org1MSP.peer','Org2MSP.peer')")
	b, pvt := n.block(n.lifecycleTx(t, o1, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, def, n.peer[o1]),
		n.lifecycleTx(t, o2, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, def, n.peer[o2]))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID, pb.TxValidationCode_VALID)
	b, pvt = n.block(n.lifecycleTx(t, o1, lifecycle.FuncCommitChaincodeDefinition, commitDef(def), n.peer[o1], n.peer[o2]))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID)

	user, both := n.user[o1], []*msp.SigningIdentity{n.peer[o1], n.peer[o2]}
	// write simulates basic setting key to value and, when vp is set, its key-level policy.
	write := func(key string, vp string, endorsers ...*msp.SigningIdentity) tx {
		sim := n.l.NewSimulator("sim")
		if vp == "" {
			if err := sim.SetState("basic", key, []byte("v")); err != nil {
				t.Fatal(err)
			}
		} else {
			env, err := channelconfig.ParsePolicyDSL(vp)
			if err != nil {
				t.Fatal(err)
			}
			if err := sim.SetStateMetadata("basic", key, map[string][]byte{"VALIDATION_PARAMETER": protos.Marshal(env)}); err != nil {
				t.Fatal(err)
			}
		}
		pub, _, err := sim.Results()
		if err != nil {
			t.Fatal(err)
		}
		return tx{env: endorse(t, user, endorsers, "mychannel", "basic", "1.0", [][]byte{[]byte("f")}, pub)}
	}
	b, pvt = n.block(write("a", "", both...), write("b", "", both...))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID, pb.TxValidationCode_VALID)
	// Setting a's policy is itself a write under the chaincode policy (AND).
	b, pvt = n.block(write("a", "OR('Org1MSP.peer')", n.peer[o1]), write("a", "OR('Org1MSP.peer')", both...))
	n.commit(t, b, pvt, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, pb.TxValidationCode_VALID)
	// Now Org1 alone may write a, but not b.
	b, pvt = n.block(write("a", "", n.peer[o1]), write("b", "", n.peer[o1]))
	vs := n.commit(t, b, pvt, pb.TxValidationCode_VALID, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE)
	if !strings.Contains(vs[1].Reason, "AND('Org1MSP.peer', 'Org2MSP.peer')") {
		t.Errorf("reason does not show the chaincode policy: %q", vs[1].Reason)
	}
	// Org2 alone cannot write a (its policy is Org1's).
	b, pvt = n.block(write("a", "", n.peer[o2]))
	vs = n.commit(t, b, pvt, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE)
	if !strings.Contains(vs[0].Reason, `key-level endorsement policy of key "a"`) {
		t.Errorf("reason does not name the key-level policy: %q", vs[0].Reason)
	}
	// Changing a's policy invalidates later writes to a in the same block;
	// an invalid change does not.
	b, pvt = n.block(write("a", "OR('Org2MSP.peer')", n.peer[o2]), write("a", "", n.peer[o1]),
		write("a", "OR('Org2MSP.peer')", n.peer[o1]), write("a", "", n.peer[o1]))
	vs = n.commit(t, b, pvt, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, pb.TxValidationCode_VALID,
		pb.TxValidationCode_VALID, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE)
	if !strings.Contains(vs[3].Reason, "transaction 2 of this block changed the key-level endorsement policy") {
		t.Errorf("in-block dependency reason: %q", vs[3].Reason)
	}
}
