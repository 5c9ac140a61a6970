package endorser

import (
	"bytes"
	"context"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

func process(t *testing.T, e *Endorser, sp *pb.SignedProposal) *pb.ProposalResponse {
	t.Helper()
	pr, err := e.ProcessProposal(context.Background(), sp)
	if err != nil {
		t.Fatalf("ProcessProposal returned a gRPC error: %v", err)
	}
	return pr
}

// decodeAction verifies the endorsement of pr and returns its chaincode action.
func decodeAction(t *testing.T, sp *pb.SignedProposal, pr *pb.ProposalResponse, peer *msp.SigningIdentity) *pb.ChaincodeAction {
	t.Helper()
	if pr.Endorsement == nil {
		t.Fatalf("no endorsement; response %v", pr.Response)
	}
	if !bytes.Equal(pr.Endorsement.Endorser, peer.Serialized) {
		t.Fatal("endorser is not the peer's serialized identity")
	}
	id, err := msp.ParseSerializedIdentity(pr.Endorsement.Endorser)
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Verify(append(append([]byte{}, pr.Payload...), pr.Endorsement.Endorser...), pr.Endorsement.Signature); err != nil {
		t.Fatalf("endorsement signature does not verify: %v", err)
	}
	prp := &pb.ProposalResponsePayload{}
	if err := proto.Unmarshal(pr.Payload, prp); err != nil {
		t.Fatal(err)
	}
	p, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(prp.ProposalHash, p.Hash()) {
		t.Fatal("proposal hash does not match the proposal")
	}
	act := &pb.ChaincodeAction{}
	if err := proto.Unmarshal(prp.Extension, act); err != nil {
		t.Fatal(err)
	}
	return act
}

func nsRWSet(t *testing.T, act *pb.ChaincodeAction) map[string]*kvrwset.KVRWSet {
	t.Helper()
	txrw := &rwset.TxReadWriteSet{}
	if err := proto.Unmarshal(act.Results, txrw); err != nil {
		t.Fatal(err)
	}
	out := map[string]*kvrwset.KVRWSet{}
	for _, ns := range txrw.NsRwset {
		kv := &kvrwset.KVRWSet{}
		if err := proto.Unmarshal(ns.Rwset, kv); err != nil {
			t.Fatal(err)
		}
		out[ns.Namespace] = kv
	}
	return out
}

func TestEndorseGoodProposal(t *testing.T) {
	ev := newEnv(t)
	sp, txID, err := protos.NewProposal(ev.user1, "mychannel", "basic", strArgs("put", "asset1", "blue"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pr := process(t, ev.e, sp)
	if pr.Response.Status != 200 || string(pr.Response.Payload) != "stored asset1" {
		t.Fatalf("response = %v", pr.Response)
	}
	act := decodeAction(t, sp, pr, ev.peer)
	if act.ChaincodeId.GetName() != "basic" || act.ChaincodeId.GetVersion() != "1.0" {
		t.Fatalf("chaincode id = %v", act.ChaincodeId)
	}
	if act.Response.GetStatus() != 200 || len(act.Events) != 0 {
		t.Fatalf("action response %v events %x", act.Response, act.Events)
	}
	rw := nsRWSet(t, act)
	basic := rw["basic"]
	if basic == nil || len(basic.Writes) != 1 || basic.Writes[0].Key != "asset1" || string(basic.Writes[0].Value) != "blue" {
		t.Fatalf("basic rwset = %v", basic)
	}
	if len(basic.Reads) != 1 || basic.Reads[0].Key != "asset1" {
		t.Fatalf("basic reads = %v", basic.Reads)
	}
	lc := rw["_lifecycle"]
	if lc == nil || len(lc.Reads) != 1 || lc.Reads[0].Key != "namespaces/fields/basic/Sequence" || len(lc.Writes) != 0 {
		t.Fatalf("_lifecycle rwset = %v, want one read of the definition's sequence", lc)
	}
	if caps := ev.rt.lastTxc.ApplicationCapabilities; len(caps) != 1 || caps[0] != "V2_5" {
		t.Fatalf("chaincode sees application capabilities %v, want the channel's [V2_5] (PurgePrivateData needs it)", caps)
	}
	if ev.rt.calls[0] != basicPkg || ev.rt.lastTxc.TxID != txID || ev.rt.lastTxc.Creator.MSPID != "Org1MSP" {
		t.Fatalf("runtime got package %v, txc %+v", ev.rt.calls, ev.rt.lastTxc)
	}

	// The response assembles into a transaction as a client would do it.
	p, _ := protos.ParseProposal(sp)
	if _, err := protos.NewTransaction(p, []*pb.ProposalResponse{pr}); err != nil {
		t.Fatalf("assemble transaction: %v", err)
	}
}

func TestEndorseEventAndPrivateData(t *testing.T) {
	ev := newEnv(t)
	sp, _, _ := protos.NewProposal(ev.user1, "mychannel", "basic", strArgs("event", "Created", "p1"), nil)
	pr := process(t, ev.e, sp)
	act := decodeAction(t, sp, pr, ev.peer)
	evt := &pb.ChaincodeEvent{}
	if err := proto.Unmarshal(act.Events, evt); err != nil || evt.EventName != "Created" || string(evt.Payload) != "p1" {
		t.Fatalf("event = %v (%v)", evt, err)
	}

	sp, txID, _ := protos.NewProposal(ev.user1, "mychannel", "basic", strArgs("putpriv", "coll1", "secret", "v"), nil)
	pr = process(t, ev.e, sp)
	decodeAction(t, sp, pr, ev.peer)
	pvt := ev.transient.get(txID)
	if pvt == nil || len(pvt.NsPvtRwset) != 1 || pvt.NsPvtRwset[0].Namespace != "basic" {
		t.Fatalf("transient store for %s = %v", txID, pvt)
	}
	if bytes.Contains(pr.Payload, []byte("secret")) {
		t.Fatal("the private key name leaked into the public proposal response")
	}
}

// System chaincodes check the ACL of the function called themselves (qscc,
// cscc and _lifecycle do, as in Fabric): the endorser does not hold them to
// peer/Propose, so Org2, a reader but not a writer, reaches them.
func TestSystemChaincodeNotHeldToPeerPropose(t *testing.T) {
	ev := newEnv(t)
	sp, _, _ := protos.NewProposal(ev.user2, "mychannel", "qscc", strArgs("GetChainInfo", "mychannel"), nil)
	pr := process(t, ev.e, sp)
	if pr.Response.Status != 200 || string(pr.Response.Payload) != "qscc for Org2MSP" {
		t.Fatalf("qscc by Org2 = %v", pr.Response)
	}
	act := decodeAction(t, sp, pr, ev.peer)
	if act.ChaincodeId.GetName() != "qscc" || act.ChaincodeId.GetVersion() != "syscc" {
		t.Fatalf("chaincode id = %v", act.ChaincodeId)
	}
	for _, fn := range []string{"QueryChaincodeDefinitions", "CommitChaincodeDefinition"} {
		sp, _, _ = protos.NewProposal(ev.user2, "mychannel", "_lifecycle", strArgs(fn, ""), nil)
		if pr := process(t, ev.e, sp); pr.Response.Status != 200 || string(pr.Response.Payload) != "_lifecycle for Org2MSP" {
			t.Fatalf("_lifecycle %s by Org2 = %v, want it handed to _lifecycle", fn, pr.Response)
		}
	}
}

// peer/Propose and peer/ChaincodeToChaincode come from the channel's ACLs,
// with Fabric's default (Writers) when the ACLs do not name them; a refusal
// names the resource, the policy and the identity.
func TestPeerProposeACLFromChannelConfig(t *testing.T) {
	ev := newCallEnv(t)
	conf := ev.e.channels.(channels)["mychannel"].Config.(*channelConf)
	propose := func(signer protos.Signer, args ...string) *pb.ProposalResponse {
		sp, _, err := protos.NewProposal(signer, "mychannel", "basic", strArgs(args...), nil)
		if err != nil {
			t.Fatal(err)
		}
		return process(t, ev.e, sp)
	}
	wantDenied := func(pr *pb.ProposalResponse, resource, policy string) {
		t.Helper()
		msg := pr.Response.GetMessage()
		for _, w := range []string{"access denied", resource, policy, "Org2MSP", "User1@org2.example.com"} {
			if !strings.Contains(msg, w) {
				t.Errorf("refusal %q does not name %q", msg, w)
			}
		}
		if pr.Response.GetStatus() != 500 || pr.Endorsement != nil {
			t.Errorf("refused proposal answered %d, endorsed %t", pr.Response.GetStatus(), pr.Endorsement != nil)
		}
	}

	// Default: peer/Propose is Writers (Org1 only).
	wantDenied(propose(ev.user2, "put", "k", "v"), "peer/Propose", WritersPolicy)

	// The channel's ACLs point peer/Propose at Readers: Org2 may propose.
	conf.acls = map[string]string{"peer/Propose": ReadersPolicy}
	if pr := propose(ev.user2, "put", "k", "v"); pr.Endorsement == nil {
		t.Fatalf("Org2 with peer/Propose = Readers: %d %s", pr.Response.GetStatus(), pr.Response.GetMessage())
	}

	// peer/ChaincodeToChaincode defaults to Writers: Org2's transaction may
	// not call chaincode, and the refusal names the resource.
	pr := propose(ev.user2, "call", "callee", "", "put", "k", "v")
	if msg := string(pr.Response.GetMessage()); pr.Response.GetStatus() != 500 ||
		!strings.Contains(msg, "peer/ChaincodeToChaincode") || !strings.Contains(msg, WritersPolicy) || !strings.Contains(msg, "Org2MSP") {
		t.Fatalf("call by Org2 = %d %q, want refused by peer/ChaincodeToChaincode (%s)", pr.Response.GetStatus(), msg, WritersPolicy)
	}
	conf.acls["peer/ChaincodeToChaincode"] = ReadersPolicy
	if pr := propose(ev.user2, "call", "callee", "", "put", "k", "v"); pr.Endorsement == nil {
		t.Fatalf("call by Org2 with peer/ChaincodeToChaincode = Readers: %d %s", pr.Response.GetStatus(), pr.Response.GetMessage())
	}

	// An ACL naming a policy the channel does not have refuses, naming it.
	conf.acls["peer/Propose"] = "/Channel/Application/Nobody"
	wantDenied(propose(ev.user2, "put", "k", "v"), "peer/Propose", "/Channel/Application/Nobody")
	if pr := propose(ev.user1, "put", "k", "v"); pr.Endorsement != nil {
		t.Fatal("a proposal was endorsed under an ACL naming a missing policy")
	}
}

func TestChannellessProposals(t *testing.T) {
	ev := newEnv(t)
	for _, tc := range []struct {
		name   string
		signer protos.Signer
		cc     string
		fn     string
		status int32
		want   string
	}{
		{"cscc by local org", ev.user1, "cscc", "GetChannels", 200, "cscc for Org1MSP"},
		{"install by local org", ev.user1, "_lifecycle", "InstallChaincode", 200, "_lifecycle for Org1MSP"},
		{"approve needs a channel", ev.user1, "_lifecycle", "ApproveChaincodeDefinitionForMyOrg", 500, "needs a channel"},
		{"user chaincode needs a channel", ev.user1, "basic", "put", 500, "needs a channel"},
		{"other org is not local", ev.user2, "cscc", "GetChannels", 500, "not an identity of this peer's MSP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, _, _ := protos.NewProposal(tc.signer, "", tc.cc, strArgs(tc.fn), nil)
			pr := process(t, ev.e, sp)
			if pr.Response.Status != tc.status {
				t.Fatalf("status %d (%s), want %d", pr.Response.Status, pr.Response.Message, tc.status)
			}
			if got := pr.Response.Message + string(pr.Response.Payload); !strings.Contains(got, tc.want) {
				t.Fatalf("response %q, want it to contain %q", got, tc.want)
			}
			if pr.Endorsement != nil || pr.Payload != nil {
				t.Fatal("channel-less proposals must not be endorsed")
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	ev := newEnv(t)
	other := loadSigner(t, "org1", "Org1MSP", "Admin")
	dupSP, dupTx := buildProposal(t, ev.user1, "mychannel", "basic", strArgs("put", "k", "v"), propOpts{})
	ev.ledger.seen[dupTx] = true
	badTxSP, _ := buildProposal(t, ev.user1, "mychannel", "basic", strArgs("put", "k", "v"), propOpts{txID: "deadbeef"})

	for _, tc := range []struct {
		name string
		sp   *pb.SignedProposal
		want []string
	}{
		{"malformed", &pb.SignedProposal{ProposalBytes: []byte("junk")}, []string{"malformed proposal"}},
		{"header type", mustBuild(t, ev.user1, "basic", propOpts{headerType: cb.HeaderType_CONFIG_UPDATE}), []string{"invalid header type CONFIG_UPDATE"}},
		{"txid", badTxSP, []string{"deadbeef", protos.ComputeTxID(mustParse(t, badTxSP).SignatureHeader.Nonce, ev.user1.Serialized)}},
		{"signature by someone else", mustBuild(t, ev.user1, "basic", propOpts{signWith: other}), []string{"signature", "does not verify"}},
		{"unknown MSP", mustBuildStranger(t), []string{"not a valid identity on channel mychannel"}},
		{"writers", mustBuild(t, ev.user2, "basic", propOpts{}), []string{"access denied", WritersPolicy}},
		{"duplicate", dupSP, []string{"duplicate transaction found", dupTx}},
		{"not defined", mustBuild(t, ev.user1, "nothere", propOpts{}), []string{"chaincode nothere is not defined on channel mychannel"}},
		{"unknown channel", mustBuildOn(t, ev.user1, "otherchannel"), []string{"otherchannel"}},
		{"chaincode error", mustBuild(t, ev.user1, "basic", propOpts{}, "error", "boom"), []string{"error in simulation: transaction returned with failure: boom"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := process(t, ev.e, tc.sp)
			if pr.Response.GetStatus() != 500 {
				t.Fatalf("status %d (%q), want 500", pr.Response.GetStatus(), pr.Response.GetMessage())
			}
			for _, w := range tc.want {
				if !strings.Contains(pr.Response.Message, w) {
					t.Errorf("message %q does not contain %q", pr.Response.Message, w)
				}
			}
			if pr.Endorsement != nil {
				t.Error("a refused proposal was endorsed")
			}
		})
	}
}

func TestChaincodeErrorStatusIsNotEndorsed(t *testing.T) {
	ev := newEnv(t)
	for _, code := range []string{"400", "404", "500"} {
		sp, _, _ := protos.NewProposal(ev.user1, "mychannel", "basic", strArgs("status", code, "asset x does not exist"), nil)
		pr := process(t, ev.e, sp)
		if got := pr.Response.GetStatus(); got == 200 || pr.Response.Message != "asset x does not exist" {
			t.Fatalf("status %s: response %v", code, pr.Response)
		}
		if pr.Endorsement != nil {
			t.Fatalf("status %s: response was endorsed", code)
		}
		// As Fabric's endorser: 400-499 is the response alone; 500 and
		// above carries the proposal response payload (with the response)
		// so that a gateway does not ask another peer again.
		if code != "500" {
			if pr.Payload != nil {
				t.Fatalf("status %s: a payload came with the response", code)
			}
			continue
		}
		prp := &pb.ProposalResponsePayload{}
		action := &pb.ChaincodeAction{}
		if err := proto.Unmarshal(pr.Payload, prp); err != nil || proto.Unmarshal(prp.Extension, action) != nil {
			t.Fatalf("status 500: payload does not decode: %v", err)
		}
		if !bytes.Equal(prp.ProposalHash, mustParse(t, sp).Hash()) || action.Response.GetStatus() != 500 || action.ChaincodeId.GetName() != "basic" {
			t.Fatalf("status 500: payload %v, action %v", prp, action)
		}
	}
	// Status 2xx/3xx is endorsed.
	sp, _, _ := protos.NewProposal(ev.user1, "mychannel", "basic", strArgs("status", "201", "created"), nil)
	decodeAction(t, sp, process(t, ev.e, sp), ev.peer)
}

func mustParse(t testing.TB, sp *pb.SignedProposal) *protos.Proposal {
	t.Helper()
	p, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustBuild(t *testing.T, signer protos.Signer, cc string, o propOpts, args ...string) *pb.SignedProposal {
	t.Helper()
	if len(args) == 0 {
		args = []string{"put", "k", "v"}
	}
	sp, _ := buildProposal(t, signer, "mychannel", cc, strArgs(args...), o)
	return sp
}

func mustBuildOn(t *testing.T, signer protos.Signer, channel string) *pb.SignedProposal {
	t.Helper()
	sp, _ := buildProposal(t, signer, channel, "basic", strArgs("put", "k", "v"), propOpts{})
	return sp
}

// mustBuildStranger signs with an identity of an MSP the channel does not know.
func mustBuildStranger(t *testing.T) *pb.SignedProposal {
	t.Helper()
	s := loadSigner(t, "org1", "Org1MSP", "User1")
	stranger := &msp.SigningIdentity{Identity: msp.NewIdentity("Org3MSP", s.Cert), Key: s.Key}
	sp, _ := buildProposal(t, stranger, "mychannel", "basic", strArgs("put", "k", "v"), propOpts{})
	return sp
}
