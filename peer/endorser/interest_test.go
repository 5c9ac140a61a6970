package endorser

import (
	"context"
	"fmt"
	"strings"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/protos"
)

// scriptRuntime runs chaincode whose arguments are operations, each
// "op:arg:...": put:k:v, putpriv:coll:k:v, getpriv:coll:k (through the
// simulator's PrivateDataReader capability), gethash:coll:k, and
// call:cc:op... (calls chaincode cc on the channel with the one operation
// after it).
type scriptRuntime struct{}

func (scriptRuntime) Execute(ctx context.Context, _ string, txc *chaincode.TxContext, in *pb.ChaincodeInput) (*pb.Response, *pb.ChaincodeEvent, error) {
	for _, raw := range in.GetArgs() {
		op := strings.Split(string(raw), ":")
		var err error
		switch op[0] {
		case "put":
			err = txc.Simulator.SetState(txc.Namespace, op[1], []byte(op[2]))
		case "putpriv":
			err = txc.Simulator.PutPrivateData(txc.Namespace, op[1], op[2], []byte(op[3]))
		case "getpriv":
			r, ok := txc.Simulator.(chaincode.PrivateDataReader)
			if !ok {
				return nil, nil, fmt.Errorf("the simulator %T cannot read private data", txc.Simulator)
			}
			_, err = r.GetPrivateData(txc.Namespace, op[1], op[2])
		case "gethash":
			_, err = txc.Simulator.GetPrivateDataHash(txc.Namespace, op[1], op[2])
		case "call":
			var resp *pb.Response
			resp, err = txc.Invoker.InvokeChaincode(ctx, txc, op[1], "", &pb.ChaincodeInput{Args: [][]byte{[]byte(strings.Join(op[2:], ":"))}})
			if err == nil && resp.GetStatus() != 200 {
				err = fmt.Errorf("%s answered %d %s", op[1], resp.GetStatus(), resp.GetMessage())
			}
		default:
			err = fmt.Errorf("unknown operation %q", raw)
		}
		if err != nil {
			return &pb.Response{Status: 500, Message: err.Error()}, nil, nil
		}
	}
	return &pb.Response{Status: 200}, nil, nil
}

// newInterestEnv is newCallEnv running scriptRuntime on the real ledger
// adapter (which reads key metadata).
func newInterestEnv(t *testing.T) (*env, *ledger.Ledger) {
	t.Helper()
	ev := newCallEnv(t)
	ev.e.runtime = scriptRuntime{}
	adapter := ev.ledger.Ledger.(ledgerAdapter)
	ch, err := ev.e.channels.Channel("mychannel")
	if err != nil {
		t.Fatal(err)
	}
	ch.Ledger = adapter
	return ev, adapter.l
}

func endorseInterest(t *testing.T, ev *env, ops ...string) *pb.ChaincodeInterest {
	t.Helper()
	sp, _, err := protos.NewProposal(ev.user1, "mychannel", "basic", strArgs(ops...), nil)
	if err != nil {
		t.Fatal(err)
	}
	pr := process(t, ev.e, sp)
	if pr.GetResponse().GetStatus() != 200 || pr.GetEndorsement() == nil {
		t.Fatalf("endorsement failed: %v", pr.GetResponse())
	}
	return pr.Interest
}

func wantInterest(t *testing.T, got *pb.ChaincodeInterest, want string) {
	t.Helper()
	w := &pb.ChaincodeInterest{}
	if err := prototext.Unmarshal([]byte(want), w); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, w) {
		t.Fatalf("interest:\n%v\nwant:\n%v", prototext.Format(got), prototext.Format(w))
	}
}

// A transaction that writes a public key and a collection, reads another
// collection's private data and a third's hash only, and calls chaincode
// that writes: Fabric's endorser answers one call per namespace written,
// one per collection written or privately read (NoPrivateReads telling
// which), none for the hash read nor for _lifecycle.
func TestInterestOfCollectionsAndChaincodeCalls(t *testing.T) {
	ev, _ := newInterestEnv(t)
	got := endorseInterest(t, ev, "put:k:v", "putpriv:coll1:pk:pv", "getpriv:coll2:x", "gethash:coll3:y", "call:callee:put:ck:cv")
	wantInterest(t, got, `
		chaincodes: {name: "basic"}
		chaincodes: {name: "basic" collection_names: "coll1" no_private_reads: true}
		chaincodes: {name: "basic" collection_names: "coll2"}
		chaincodes: {name: "callee"}`)

	// A collection written only: the namespace's own policy is not asked for.
	got = endorseInterest(t, ev, "putpriv:coll1:pk:pv")
	wantInterest(t, got, `chaincodes: {name: "basic" collection_names: "coll1" no_private_reads: true}`)

	// A chaincode only read (by a call) still needs its policy.
	got = endorseInterest(t, ev, "put:k:v", "call:callee:gethash:c:k")
	wantInterest(t, got, `
		chaincodes: {name: "basic"}
		chaincodes: {name: "callee"}`)
}

// Writing keys with key-level policies puts the policies in the interest,
// disregarding the chaincode's policy unless a key without one is written.
func TestInterestOfKeyLevelPolicies(t *testing.T) {
	ev, l := newInterestEnv(t)
	env, err := channelconfig.ParsePolicyDSL("OR('Org2MSP.peer')")
	if err != nil {
		t.Fatal(err)
	}
	commitWrites(t, l, ev.peer, func(sim *ledger.Simulator) error {
		if err := sim.SetState("basic", "guarded", []byte("v1")); err != nil {
			return err
		}
		return sim.SetStateMetadata("basic", "guarded", map[string][]byte{validationParameter: protos.Marshal(env)})
	})
	policy := prototext.Format(env)

	got := endorseInterest(t, ev, "put:guarded:v2")
	wantInterest(t, got, `chaincodes: {name: "basic" key_policies: {`+policy+`} disregard_namespace_policy: true}`)

	got = endorseInterest(t, ev, "put:guarded:v2", "put:free:v")
	wantInterest(t, got, `chaincodes: {name: "basic" key_policies: {`+policy+`}}`)
}

// A read-only proposal to a system chaincode has no user chaincode in its
// interest.
func TestInterestLeavesOutSystemChaincodes(t *testing.T) {
	ev, _ := newInterestEnv(t)
	sp, _, err := protos.NewProposal(ev.user1, "mychannel", "qscc", strArgs("GetChainInfo", "mychannel"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pr := process(t, ev.e, sp)
	if pr.GetEndorsement() == nil {
		t.Fatalf("qscc proposal not endorsed: %v", pr.GetResponse())
	}
	if n := len(pr.GetInterest().GetChaincodes()); n != 0 {
		t.Fatalf("interest of a system chaincode proposal lists %d calls: %v", n, pr.Interest)
	}
}

// commitWrites commits one valid transaction whose writes write makes.
func commitWrites(t *testing.T, l *ledger.Ledger, signer protos.Signer, write func(*ledger.Simulator) error) {
	t.Helper()
	sp, txID, err := protos.NewProposal(signer, "mychannel", "basic", [][]byte{[]byte("seed")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sim := l.NewSimulator(txID)
	defer sim.Done()
	if err := write(sim); err != nil {
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
	act := &pb.ChaincodeAction{Results: protos.Marshal(pub), Response: &pb.Response{Status: 200}, ChaincodeId: &pb.ChaincodeID{Name: "basic", Version: "1.0"}}
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
	protos.SetTxFilter(b, []byte{byte(pb.TxValidationCode_VALID)})
	if err := l.Commit(b, nil); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// TestInterestFromDecodedResultsAgrees checks that the interest built from
// the messages the simulator hands over is the one built by decoding the
// read/write set's bytes, for writes of every kind, with and without
// key-level policies.
func TestInterestFromDecodedResultsAgrees(t *testing.T) {
	ev, l := newInterestEnv(t)
	policy, err := channelconfig.ParsePolicyDSL("OR('Org2MSP.peer')")
	if err != nil {
		t.Fatal(err)
	}
	vp := map[string][]byte{validationParameter: protos.Marshal(policy)}
	commitWrites(t, l, ev.peer, func(sim *ledger.Simulator) error {
		if err := sim.SetState("basic", "guarded", []byte("v1")); err != nil {
			return err
		}
		return sim.SetStateMetadata("basic", "guarded", vp)
	})
	sims := map[string]func(*ledger.Simulator) error{
		"read only": func(sim *ledger.Simulator) error { _, err := sim.GetState("basic", "k"); return err },
		"public": func(sim *ledger.Simulator) error {
			if err := sim.SetState("basic", "guarded", []byte("v2")); err != nil {
				return err
			}
			return sim.SetState("callee", "free", nil)
		},
		"metadata": func(sim *ledger.Simulator) error { return sim.SetStateMetadata("basic", "m", vp) },
		"private": func(sim *ledger.Simulator) error {
			if err := sim.PutPrivateData("basic", "coll1", "pk", []byte("pv")); err != nil {
				return err
			}
			if err := sim.DeletePrivateData("basic", "coll2", "gone"); err != nil {
				return err
			}
			if _, err := sim.GetPrivateDataHash("basic", "coll3", "h"); err != nil {
				return err
			}
			return sim.SetPrivateDataMetadata("callee", "coll1", "pm", vp)
		},
	}
	for name, run := range sims {
		sim := l.NewSimulator("tx")
		if err := run(sim); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pub, _, decoded, err := simResults(sim)
		if err != nil {
			t.Fatal(err)
		}
		if decoded == nil {
			t.Fatal("the ledger's simulator handed over no decoded results")
		}
		meta := NewLedger(l).(KeyMetadataReader)
		got, err := buildInterest(pub, decoded, privateReadsOf(sim), meta, ev.e.isSystem)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := buildInterest(pub, nil, privateReadsOf(sim), meta, ev.e.isSystem)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("%s: interest from decoded results\n%v\nfrom the bytes\n%v", name, prototext.Format(got), prototext.Format(want))
		}
		sim.Done()
	}
}
