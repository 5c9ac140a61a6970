package chaincode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
)

// testCollections are the collections of the test chaincode in these tests,
// all with Org1MSP as their only member.
var testCollections = map[string]CollectionAccess{
	"org1only": {MemberOrgs: []string{"Org1MSP"}, MemberOnlyRead: true, MemberOnlyWrite: true},
	"open":     {MemberOrgs: []string{"Org1MSP"}},
	"readers":  {MemberOrgs: []string{"Org1MSP"}, MemberOnlyRead: true},
	"writers":  {MemberOrgs: []string{"Org1MSP"}, MemberOnlyWrite: true},
}

func testCollection(ns, coll string) (CollectionAccess, error) {
	if ns != "testcc" {
		return CollectionAccess{}, fmt.Errorf("unexpected chaincode %s", ns)
	}
	ca, ok := testCollections[coll]
	if !ok {
		return CollectionAccess{}, fmt.Errorf("chaincode %s defines no collection %s: %w", ns, coll, ErrUnknownCollection)
	}
	return ca, nil
}

// runAs runs args on the test chaincode in a transaction of a client of
// mspID, with the collections above (the V2_5 capability on, for purges).
func runAs(t *testing.T, rt *Runtime, id string, sim TxSimulator, mspID string, args ...string) *pb.Response {
	t.Helper()
	txc, in := newTx(t, cctest.Signer(t, mspID), "testcc", sim, nil, args...)
	txc.Creator = &msp.Identity{MSPID: mspID}
	txc.Collection = testCollection
	txc.ApplicationCapabilities = []string{"V2_5"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, _, err := rt.Execute(ctx, id, txc, in)
	if err != nil {
		t.Fatalf("%v as %s: %v", args, mspID, err)
	}
	return resp
}

// memberOnly is what TestMemberOnlyAccess expects of one chaincode call.
type memberOnly struct {
	args []string
	// read, write: the call needs read or write access (neither: a hash read).
	read, write bool
}

// TestMemberOnlyAccess checks memberOnlyRead and memberOnlyWrite as Fabric
// enforces them at the peer: a client of a non-member organisation is
// refused private reads of a memberOnlyRead collection and writes of a
// memberOnlyWrite one, with an error naming the collection, the chaincode
// and its organisation; members always may; hash reads always may.
func TestMemberOnlyAccess(t *testing.T) {
	rt, id := peerLaunched(t, Config{})
	tl := newTestLedger(t)
	tl.seed(func(sim *ledger.Simulator) error {
		for coll := range testCollections {
			if err := sim.PutPrivateData("testcc", coll, "k", []byte("v-"+coll)); err != nil {
				return err
			}
		}
		return nil
	})
	calls := func(coll string) []memberOnly {
		return []memberOnly{
			{args: []string{"getpriv", coll, "k"}, read: true},
			{args: []string{"privrange", coll, "a", "z"}, read: true},
			{args: []string{"privquery", coll, `{"selector":{}}`}, read: true},
			{args: []string{"getprivep", coll, "k"}, read: true},
			{args: []string{"privhash", coll, "k"}},
			{args: []string{"putpriv", coll, "k", "new"}, write: true},
			{args: []string{"delpriv", coll, "k"}, write: true},
			{args: []string{"purgepriv", coll, "k"}, write: true},
			{args: []string{"setprivep", coll, "k", "policy"}, write: true},
		}
	}
	for coll, ca := range testCollections {
		for _, c := range calls(coll) {
			for _, mspID := range []string{"Org1MSP", "Org2MSP"} {
				sim := tl.l.NewSimulator("tx")
				resp := runAs(t, rt, id, sim, mspID, c.args...)
				sim.Done()
				refused := mspID == "Org2MSP" && ((c.read && ca.MemberOnlyRead) || (c.write && ca.MemberOnlyWrite))
				denied := strings.Contains(resp.Message, "does not have")
				switch {
				case refused && (resp.Status != 500 || !denied):
					t.Errorf("%v as %s = %d %q; want a refusal", c.args, mspID, resp.Status, resp.Message)
				case refused:
					access, flag := "read", "memberOnlyRead"
					if c.write {
						access, flag = "write", "memberOnlyWrite"
					}
					for _, want := range []string{"tx creator does not have " + access + " access permission on privatedata",
						"chaincodeName:testcc", "collectionName: " + coll, "Org2MSP", flag, "Org1MSP"} {
						if !strings.Contains(resp.Message, want) {
							t.Errorf("%v as %s: refusal %q does not say %q", c.args, mspID, resp.Message, want)
						}
					}
				case denied:
					t.Errorf("%v as %s refused: %q", c.args, mspID, resp.Message)
				case c.args[0] == "privquery":
					// LevelDB has no rich queries: past the access check, the
					// simulator refuses it.
					if !strings.Contains(resp.Message, "CouchDB") {
						t.Errorf("%v as %s = %d %q; want the LevelDB refusal", c.args, mspID, resp.Status, resp.Message)
					}
				case resp.Status != 200:
					t.Errorf("%v as %s = %d %q", c.args, mspID, resp.Status, resp.Message)
				}
			}
		}
	}

	// A collection the chaincode does not define, as Fabric words it.
	for _, args := range [][]string{{"getpriv", "nosuch", "k"}, {"putpriv", "nosuch", "k", "v"}} {
		sim := tl.l.NewSimulator("tx")
		resp := runAs(t, rt, id, sim, "Org1MSP", args...)
		sim.Done()
		if resp.Status != 500 || !strings.Contains(resp.Message, "collection mychannel/testcc/nosuch could not be found") {
			t.Errorf("%v = %d %q; want the collection not found", args, resp.Status, resp.Message)
		}
	}

	// Without collection rules (TxContext.Collection nil) nothing is checked.
	sim := tl.l.NewSimulator("tx")
	txc, in := newTx(t, cctest.Signer(t, "Org2MSP"), "testcc", sim, nil, "getpriv", "org1only", "k")
	txc.Creator = &msp.Identity{MSPID: "Org2MSP"}
	resp, _, err := rt.Execute(context.Background(), id, txc, in)
	sim.Done()
	if err != nil || resp.Status != 200 || string(resp.Payload) != "v-org1only" {
		t.Fatalf("read without collection rules = %v, %v", resp, err)
	}
}

// As in Fabric, chaincode Init() cannot use private data, hashes included.
func TestPrivateDataRefusedInInit(t *testing.T) {
	rt, id := peerLaunched(t, Config{})
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "testcc", newFakeSim(nil), nil, "initpriv", "open", "k")
	txc.Creator = &msp.Identity{MSPID: "Org1MSP"}
	txc.Collection = testCollection
	in.IsInit = true
	resp, _, err := rt.Execute(context.Background(), id, txc, in)
	if err == nil || !strings.Contains(err.Error(), "private data APIs are not allowed in chaincode Init()") || !strings.Contains(err.Error(), `"open"`) {
		t.Fatalf("private write in Init = %v, %v", resp, err)
	}
	tx := &txState{txc: &TxContext{}, ns: "testcc", isInit: true}
	if err := tx.checkPrivate("GetPrivateDataHash", "open", useHash); err == nil {
		t.Fatal("hash read in Init allowed")
	}
}

// The rules of a collection are read once per transaction, and a chaincode
// called by chaincode gets them too.
func TestCollectionRulesReadOncePerTransaction(t *testing.T) {
	n := 0
	txc := &TxContext{Creator: &msp.Identity{MSPID: "Org2MSP"}, Collection: func(ns, coll string) (CollectionAccess, error) {
		n++
		return testCollection(ns, coll)
	}}
	tx := &txState{txc: txc, ns: "testcc"}
	for range 3 {
		if err := tx.checkPrivate("GetPrivateData", "open", useRead); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Fatalf("collection rules read %d times, want once", n)
	}
	if err := tx.checkPrivate("PutPrivateData", "writers", useWrite); err == nil {
		t.Fatal("write to a memberOnlyWrite collection by a non-member allowed")
	}
	if txc.Callee("other").Collection == nil {
		t.Fatal("Callee dropped the collection rules")
	}
	txc.Creator = nil
	tx = &txState{txc: txc, ns: "testcc"}
	if err := tx.checkPrivate("GetPrivateData", "org1only", useRead); err == nil || !strings.Contains(err.Error(), "no identified client") {
		t.Fatalf("read without a creator = %v", err)
	}
	failing := errors.New("state unreadable")
	txc.Collection = func(ns, coll string) (CollectionAccess, error) { return CollectionAccess{}, failing }
	tx = &txState{txc: txc, ns: "testcc"}
	if err := tx.checkPrivate("GetPrivateData", "org1only", useRead); !errors.Is(err, failing) || !strings.Contains(err.Error(), "org1only") {
		t.Fatalf("rules unreadable = %v", err)
	}
}

// SetPrivateDataValidationParameter and GetPrivateDataValidationParameter
// of the official shim: the policy is written, as in Fabric, to both write
// sets without reading the key, and read back from the hashed state once
// committed.
func TestPrivateDataValidationParameter(t *testing.T) {
	rt, id := peerLaunched(t, Config{})
	tl := newTestLedger(t)
	tl.seed(func(sim *ledger.Simulator) error { return sim.PutPrivateData("testcc", "org1only", "k", []byte("v")) })

	sim := tl.l.NewSimulator("tx")
	if resp := runAs(t, rt, id, sim, "Org1MSP", "setprivep", "org1only", "k", "policy-bytes"); resp.Status != 200 {
		t.Fatalf("SetPrivateDataValidationParameter = %d %q", resp.Status, resp.Message)
	}
	pub, pvt, err := sim.Results()
	if err != nil {
		t.Fatal(err)
	}
	h := &kvrwset.HashedRWSet{}
	if err := proto.Unmarshal(pub.NsRwset[0].CollectionHashedRwset[0].HashedRwset, h); err != nil {
		t.Fatal(err)
	}
	if len(h.HashedReads) != 0 || len(h.HashedWrites) != 0 || len(h.MetadataWrites) != 1 ||
		len(h.MetadataWrites[0].Entries) != 1 || h.MetadataWrites[0].Entries[0].Name != "VALIDATION_PARAMETER" ||
		string(h.MetadataWrites[0].Entries[0].Value) != "policy-bytes" {
		t.Fatalf("hashed rwset = %v; want just the metadata write", h)
	}
	if pvt == nil || len(pvt.NsPvtRwset) != 1 {
		t.Fatalf("private write set = %v; want the metadata write", pvt)
	}
	if code := tl.commit(sim); code != pb.TxValidationCode_VALID {
		t.Fatalf("metadata tx = %s", code)
	}

	q := tl.l.NewSimulator("q")
	resp := runAs(t, rt, id, q, "Org1MSP", "getprivep", "org1only", "k")
	q.Done()
	if resp.Status != 200 || !bytes.Equal(resp.Payload, []byte("policy-bytes")) {
		t.Fatalf("GetPrivateDataValidationParameter = %d %q %q", resp.Status, resp.Payload, resp.Message)
	}

	// A simulator without the capability refuses both, naming the collection.
	for _, args := range [][]string{{"getprivep", "open", "k"}, {"setprivep", "open", "k", "p"}} {
		resp := runAs(t, rt, id, newFakeSim(nil), "Org1MSP", args...)
		if resp.Status != 500 || !strings.Contains(resp.Message, "not supported") || !strings.Contains(resp.Message, `"open"`) {
			t.Errorf("%v without the capability = %d %q", args, resp.Status, resp.Message)
		}
	}

	// The public path writes the parameter without reading the key either.
	sim = tl.l.NewSimulator("tx2")
	if resp := runAs(t, rt, id, sim, "Org1MSP", "setep", "pk", "p"); resp.Status != 200 {
		t.Fatalf("SetStateValidationParameter = %d %q", resp.Status, resp.Message)
	}
	pub, _, err = sim.Results()
	sim.Done()
	if err != nil {
		t.Fatal(err)
	}
	kv := &kvrwset.KVRWSet{}
	if err := proto.Unmarshal(pub.NsRwset[0].Rwset, kv); err != nil {
		t.Fatal(err)
	}
	if len(kv.Reads) != 0 || len(kv.MetadataWrites) != 1 {
		t.Fatalf("public rwset of SetStateValidationParameter = %v; want one metadata write and no read", kv)
	}
}
