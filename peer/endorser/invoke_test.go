package endorser

import (
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/protos"
)

// newCallEnv is newEnv with chaincode "callee" committed on mychannel too.
func newCallEnv(t *testing.T) *env {
	t.Helper()
	ev := newEnv(t)
	commitSequence(t, ev.ledger.Ledger.(ledgerAdapter).l, ev.peer, "callee", 1)
	return ev
}

// callVia endorses basic's "call" of args and returns the proposal, its
// response and the callee's response as basic received it.
func callVia(t *testing.T, ev *env, args ...string) (*pb.SignedProposal, *pb.ProposalResponse, *pb.Response) {
	t.Helper()
	sp, _, err := protos.NewProposal(ev.user1, "mychannel", "basic", strArgs(append([]string{"call"}, args...)...), nil)
	if err != nil {
		t.Fatal(err)
	}
	pr := process(t, ev.e, sp)
	if pr.Response.GetStatus() != 200 {
		return sp, pr, nil
	}
	inner := &pb.Response{}
	if err := proto.Unmarshal(pr.Response.Payload, inner); err != nil {
		t.Fatal(err)
	}
	return sp, pr, inner
}

func readKeys(reads []*kvrwset.KVRead) string {
	var keys []string
	for _, r := range reads {
		keys = append(keys, r.Key)
	}
	return strings.Join(keys, ",")
}

func TestChaincodeCallsChaincodeOnItsChannel(t *testing.T) {
	ev := newCallEnv(t)

	sp, pr, inner := callVia(t, ev, "callee", "", "put", "ck", "cv")
	if inner.GetStatus() != 200 || string(inner.Payload) != "stored ck" {
		t.Fatalf("callee response = %v (proposal response %v)", inner, pr.Response)
	}
	act := decodeAction(t, sp, pr, ev.peer)
	if act.ChaincodeId.GetName() != "basic" || act.ChaincodeId.GetVersion() != "1.0" {
		t.Fatalf("endorsed chaincode id = %v, want the invoked chaincode", act.ChaincodeId)
	}
	rw := nsRWSet(t, act)
	callee := rw["callee"]
	if callee == nil || len(callee.Writes) != 1 || callee.Writes[0].Key != "ck" || string(callee.Writes[0].Value) != "cv" || readKeys(callee.Reads) != "ck" {
		t.Fatalf("callee rwset = %v, want its read and write of ck in its own namespace", callee)
	}
	if b := rw["basic"]; b != nil && len(b.Writes) != 0 {
		t.Fatalf("basic rwset = %v, want no writes", b)
	}
	if got := readKeys(rw["_lifecycle"].GetReads()); got != "namespaces/fields/basic/Sequence,namespaces/fields/callee/Sequence" {
		t.Fatalf("_lifecycle reads = %s, want the sequences of both definitions", got)
	}
	ev.rt.mu.Lock()
	calls, last := append([]string(nil), ev.rt.calls...), ev.rt.lastTxc
	ev.rt.mu.Unlock()
	if txID := mustParse(t, sp).ChannelHeader.TxId; strings.Join(calls, ",") != basicPkg+","+calleePkg || last.Namespace != "callee" || last.TxID != txID {
		t.Fatalf("runtime calls = %v, callee namespace %q txid %q, want %s then %s in transaction %s", calls, last.Namespace, last.TxID, basicPkg, calleePkg, txID)
	}

	// The callee's event is dropped: only the invoked chaincode's counts.
	sp, pr, inner = callVia(t, ev, "callee", "", "event", "CalleeEvent", "x")
	if inner.GetStatus() != 200 {
		t.Fatalf("callee event response = %v", inner)
	}
	if act := decodeAction(t, sp, pr, ev.peer); len(act.Events) != 0 {
		t.Fatalf("endorsement carries the callee's event: %x", act.Events)
	}

	// The callee's status reaches the caller unchanged.
	if _, _, inner := callVia(t, ev, "callee", "", "status", "404", "no such asset"); inner.GetStatus() != 404 || inner.Message != "no such asset" {
		t.Fatalf("callee 404 = %v", inner)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"undefined callee", []string{"nosuch", "", "put", "k", "v"}, []string{"chaincode nosuch is not defined on channel mychannel"}},
		{"callee failure", []string{"callee", "", "error", "boom"}, []string{"boom"}},
		{"channel not joined", []string{"callee", "nowhere", "put", "k", "v"}, []string{"channel nowhere", "not joined"}},
	} {
		_, pr, _ := callVia(t, ev, tc.args...)
		if pr.Response.GetStatus() != 500 {
			t.Errorf("%s: response %v, want the caller's 500", tc.name, pr.Response)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(pr.Response.Message, w) {
				t.Errorf("%s: message %q does not mention %q", tc.name, pr.Response.Message, w)
			}
		}
	}

	// System chaincode: allowed, subject to the policy of the function.
	if _, _, inner := callVia(t, ev, "qscc", "", "GetChainInfo", "mychannel"); inner.GetStatus() != 200 || string(inner.Payload) != "qscc for Org1MSP" {
		t.Fatalf("call of qscc = %v", inner)
	}
}

func TestChaincodeCallsChaincodeOnAnotherChannel(t *testing.T) {
	ev := newCallEnv(t)
	org1, org2 := loadMSP(t, "org1", "Org1MSP"), loadMSP(t, "org2", "Org2MSP")
	join := func(name string, writers string) *ledger.Ledger {
		l, err := ledger.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		commitSequence(t, l, ev.peer, "callee", 1)
		conf := newChannelConf(t, org1, org2)
		env, err := channelconfig.ParsePolicyDSL(writers)
		if err != nil {
			t.Fatal(err)
		}
		if conf.policies[WritersPolicy], err = channelconfig.NewSignaturePolicy(env, conf.msps); err != nil {
			t.Fatal(err)
		}
		ev.e.channels.(channels)[name] = &Channel{Config: conf, Ledger: NewLedger(l)}
		return l
	}
	other := join("other", "OR('Org1MSP.member')")
	join("locked", "OR('Org2MSP.member')")

	// The callee runs on the other channel's state, read-only: its writes
	// and reads are not part of the endorsement.
	sp, pr, inner := callVia(t, ev, "callee", "other", "put", "ok", "v")
	if inner.GetStatus() != 200 || string(inner.Payload) != "stored ok" {
		t.Fatalf("cross-channel call = %v (response %v)", inner, pr.Response)
	}
	rw := nsRWSet(t, decodeAction(t, sp, pr, ev.peer))
	if rw["callee"] != nil {
		t.Fatalf("the endorsement carries the other channel's rwset: %v", rw["callee"])
	}
	if got := readKeys(rw["_lifecycle"].GetReads()); got != "namespaces/fields/basic/Sequence" {
		t.Fatalf("_lifecycle reads = %s, want only basic's sequence on mychannel", got)
	}
	ev.rt.mu.Lock()
	last := ev.rt.lastTxc
	ev.rt.mu.Unlock()
	if last.ChannelID != "other" || last.Namespace != "callee" || last.Creator == nil || last.Creator.MSPID != "Org1MSP" || last.History == nil {
		t.Fatalf("callee context = channel %q namespace %q creator %v history %v", last.ChannelID, last.Namespace, last.Creator, last.History)
	}
	if v, err := other.State().Get("callee", "ok"); err != nil || v != nil {
		t.Fatalf("the other channel's state changed: %v, %v", v, err)
	}

	// The caller must satisfy the other channel's Writers policy.
	_, pr, _ = callVia(t, ev, "callee", "locked", "put", "k", "v")
	msg := pr.Response.GetMessage()
	if pr.Response.GetStatus() != 500 || !strings.Contains(msg, "access denied") || !strings.Contains(msg, WritersPolicy) || !strings.Contains(msg, "channel locked") {
		t.Fatalf("call into a channel whose Writers exclude the caller = %v", pr.Response)
	}
}
