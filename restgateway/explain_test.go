package restgateway

import (
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/protos"
)

// writerTx is a transaction of basic, endorsed by endorser, that writes keys;
// it returns the envelope and its TxID.
func writerTx(t *testing.T, endorser []byte, keys ...string) (*cb.Envelope, string) {
	t.Helper()
	n := testnet.SampleNet(t)
	sp, txID, err := protos.NewProposal(n.User(t, "User1", "Org1MSP"), "mychannel", "basic", [][]byte{[]byte("Write")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	kv := &kvrwset.KVRWSet{}
	for _, k := range keys {
		kv.Writes = append(kv.Writes, &kvrwset.KVWrite{Key: k, Value: []byte("v")})
	}
	act := &pb.ChaincodeAction{
		Response:    &pb.Response{Status: 200},
		ChaincodeId: &pb.ChaincodeID{Name: "basic", Version: "1.0"},
		Results: protos.Marshal(&rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{
			{Namespace: "basic", Rwset: protos.Marshal(kv)},
		}}),
	}
	pr := &pb.ProposalResponse{
		Response:    &pb.Response{Status: 200},
		Payload:     protos.Marshal(&pb.ProposalResponsePayload{ProposalHash: prop.Hash(), Extension: protos.Marshal(act)}),
		Endorsement: &pb.Endorsement{Endorser: endorser, Signature: []byte("sig")},
	}
	payload, err := protos.NewTransaction(prop, []*pb.ProposalResponse{pr})
	if err != nil {
		t.Fatal(err)
	}
	return &cb.Envelope{Payload: protos.Marshal(payload), Signature: []byte("sig")}, txID
}

func serializedPeer(t *testing.T, host string) []byte {
	t.Helper()
	raw, err := testnet.SampleNet(t).Signer(t, host).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// readsAsset1 is the read/write set of a transfer that read asset1 at 3:0.
func readsAsset1() *kvrwset.KVRWSet {
	return &kvrwset.KVRWSet{
		Reads:  []*kvrwset.KVRead{{Key: "asset1", Version: &kvrwset.Version{BlockNum: 3, TxNum: 0}}},
		Writes: []*kvrwset.KVWrite{{Key: "asset1", Value: []byte("new")}},
	}
}

func TestMVCCConflictNamesKeyAndWriter(t *testing.T) {
	org1 := serializedPeer(t, "peer0.org1.example.com")
	cases := []struct {
		name      string
		fill      func(p *fakePeer) (txID string, block uint64)
		wantBlock uint64
	}{
		{"earlier in the same block", func(p *fakePeer) (string, uint64) {
			env, id := writerTx(t, org1, "asset1")
			p.addTx(5, env, pb.TxValidationCode_VALID)
			return id, 5
		}, 5},
		{"in a block after the version read", func(p *fakePeer) (string, uint64) {
			env, id := writerTx(t, org1, "asset1")
			other, _ := writerTx(t, org1, "asset2")
			p.addTx(4, other, pb.TxValidationCode_VALID)
			p.addTx(4, env, pb.TxValidationCode_VALID)
			// An invalid writer before it does not count.
			bad, _ := writerTx(t, org1, "asset1")
			p.addTx(3, bad, pb.TxValidationCode_MVCC_READ_CONFLICT)
			return id, 4
		}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, peer := newTestServer(t)
			peer.endorser = org1
			peer.codes["Transfer"] = pb.TxValidationCode_MVCC_READ_CONFLICT
			peer.rwsets["Transfer"] = readsAsset1()
			writer, _ := c.fill(peer)
			e := expectError(t, do(t, "POST", ts.URL+"/v1/channels/mychannel/chaincodes/basic/submit", `{"function":"Transfer"}`), 409, CodeMVCCConflict)
			want := `key "asset1" in namespace basic was read at version 3:0 but transaction ` + writer
			if !strings.Contains(e.Message, want) || !strings.Contains(e.Message, "submit again") {
				t.Fatalf("message %q, want it to contain %q", e.Message, want)
			}
			d := e.Details[0]
			if len(e.Details) != 1 || d.ValidationCode != "MVCC_READ_CONFLICT" || d.Namespace != "basic" || d.Key != "asset1" || d.ReadVersion != "3:0" ||
				d.ConflictingTxID != writer || d.ConflictingBlock == nil || *d.ConflictingBlock != c.wantBlock {
				t.Fatalf("details %+v, want basic/asset1 at 3:0 written by %s in block %d", d, writer, c.wantBlock)
			}
		})
	}
}

func TestMVCCConflictWithoutWriterKeepsMessage(t *testing.T) {
	ts, peer := newTestServer(t)
	peer.endorser = serializedPeer(t, "peer0.org1.example.com")
	peer.codes["Transfer"] = pb.TxValidationCode_MVCC_READ_CONFLICT
	peer.rwsets["Transfer"] = readsAsset1()
	// A writer of another key only.
	env, _ := writerTx(t, peer.endorser, "asset2")
	peer.addTx(4, env, pb.TxValidationCode_VALID)
	e := expectError(t, do(t, "POST", ts.URL+"/v1/channels/mychannel/chaincodes/basic/submit", `{"function":"Transfer"}`), 409, CodeMVCCConflict)
	if !strings.Contains(e.Message, "a key or range it read was changed") || e.Details[0].Key != "" || e.Details[0].ConflictingTxID != "" {
		t.Fatalf("error %+v, want today's message and no key", e)
	}
}

func TestPolicyFailureNamesPolicyAndEndorsers(t *testing.T) {
	cases := []struct {
		name, policy string
		param        []byte
	}{
		{"channel config policy", "/Channel/Application/Endorsement", protos.Marshal(&pb.ApplicationPolicy{
			Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: "/Channel/Application/Endorsement"},
		})},
		{"signature policy", "AND('Org1MSP.peer', 'Org2MSP.peer')", protos.Marshal(&pb.ApplicationPolicy{
			Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: channelconfig.MustParsePolicyDSL("AND('Org1MSP.peer','Org2MSP.peer')")},
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, peer := newTestServer(t)
			peer.endorser = serializedPeer(t, "peer0.org1.example.com")
			peer.codes["Lonely"] = pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE
			peer.rwsets["Lonely"] = &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "asset9", Value: []byte("v")}}}
			peer.policy = c.param
			e := expectError(t, do(t, "POST", ts.URL+"/v1/channels/mychannel/chaincodes/basic/submit", `{"function":"Lonely"}`), 403, CodePolicyFailure)
			want := "the endorsements of Org1MSP do not satisfy the endorsement policy of chaincode basic (" + c.policy + ")"
			if !strings.Contains(e.Message, want) || !strings.Contains(e.Message, `key-level endorsement policy of a key it writes ("asset9")`) {
				t.Fatalf("message %q, want it to contain %q and the key-level hint", e.Message, want)
			}
			d := e.Details[0]
			if d.Policy != c.policy || len(d.Endorsers) != 1 || d.Endorsers[0] != "Org1MSP" || d.ValidationCode != "ENDORSEMENT_POLICY_FAILURE" {
				t.Fatalf("details %+v", d)
			}
		})
	}
}

func TestPolicyFailureLookupFailsKeepsMessage(t *testing.T) {
	ts, peer := newTestServer(t)
	peer.endorser = serializedPeer(t, "peer0.org1.example.com")
	peer.codes["Lonely"] = pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE
	// peer.policy nil: _lifecycle answers an error.
	e := expectError(t, do(t, "POST", ts.URL+"/v1/channels/mychannel/chaincodes/basic/submit", `{"function":"Lonely"}`), 403, CodePolicyFailure)
	if !strings.Contains(e.Message, "its endorsements do not satisfy the chaincode's endorsement policy") || e.Details[0].Policy != "" {
		t.Fatalf("error %+v, want today's message", e)
	}
}

func TestDescribeApplicationPolicy(t *testing.T) {
	if got := describeApplicationPolicy([]byte{0xff, 0x01}); got != "" {
		t.Errorf("garbage = %q, want empty", got)
	}
	if got := describeApplicationPolicy(nil); got != "" {
		t.Errorf("nil = %q, want empty", got)
	}
	ref := protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: "Endorsement"}})
	if got := describeApplicationPolicy(ref); got != "/Channel/Application/Endorsement" {
		t.Errorf("relative reference = %q", got)
	}
}

func TestMVCCConflictSearchIsBounded(t *testing.T) {
	ts, peer := newTestServer(t)
	peer.endorser = serializedPeer(t, "peer0.org1.example.com")
	peer.height = 150
	peer.codes["Transfer"] = pb.TxValidationCode_MVCC_READ_CONFLICT
	peer.rwsets["Transfer"] = readsAsset1() // read at 3:0, far below block 150
	// The only writer is out of reach.
	env, _ := writerTx(t, peer.endorser, "asset1")
	peer.addTx(4, env, pb.TxValidationCode_VALID)
	e := expectError(t, do(t, "POST", ts.URL+"/v1/channels/mychannel/chaincodes/basic/submit", `{"function":"Transfer"}`), 409, CodeMVCCConflict)
	if !strings.Contains(e.Message, "a key or range it read was changed") || !strings.Contains(e.Message, "blocks 50 to 150; older blocks were not searched") || e.Details[0].Key != "" {
		t.Fatalf("error %+v, want today's message and the searched blocks named", e)
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	if peer.qscc > explainMaxBlocks+1 {
		t.Fatalf("%d blocks fetched, want at most %d", peer.qscc, explainMaxBlocks+1)
	}
}
