package ledger

import (
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"google.golang.org/protobuf/proto"
)

// TestDecodedResultsAreTheMarshalledMessages checks that DecodedResults
// hands over what the public set decodes to, namespace by namespace and
// collection by collection, and the same sets as Results.
func TestDecodedResultsAreTheMarshalledMessages(t *testing.T) {
	s := newSimLedger(t)
	sim := s.l.NewSimulator("tx")
	defer sim.Done()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := sim.GetState("cc1", "read")
	must(err)
	must(sim.SetState("cc1", "b", []byte("v")))
	must(sim.SetState("cc1", "a", nil))
	must(sim.SetStateMetadata("cc1", "m", map[string][]byte{"VALIDATION_PARAMETER": []byte("p")}))
	must(sim.PutPrivateData("cc2", "coll2", "k", []byte("secret")))
	must(sim.PutPrivateData("cc2", "coll1", "k", nil))
	must(sim.SetPrivateDataMetadata("cc2", "coll1", "m", map[string][]byte{"x": []byte("y")}))
	_, err = sim.GetPrivateDataHash("cc3", "coll", "h")
	must(err)
	it, err := sim.GetStateRange("cc3", "a", "z")
	must(err)
	_, err = it.Next()
	must(err)
	it.Close()

	r, err := sim.DecodedResults()
	must(err)
	pub, pvt, err := sim.Results()
	must(err)
	if !proto.Equal(r.Public, pub) || !proto.Equal(r.Private, pvt) {
		t.Fatal("DecodedResults and Results give different sets")
	}
	if len(r.Namespaces) != len(pub.NsRwset) || len(pub.NsRwset) != 3 {
		t.Fatalf("%d decoded namespaces for %d in the set (want 3)", len(r.Namespaces), len(pub.NsRwset))
	}
	for i, nsrw := range pub.NsRwset {
		kv := &kvrwset.KVRWSet{}
		must(proto.Unmarshal(nsrw.Rwset, kv))
		if !proto.Equal(kv, r.Namespaces[i].KV) {
			t.Fatalf("namespace %s: decoded %v, the bytes hold %v", nsrw.Namespace, r.Namespaces[i].KV, kv)
		}
		if len(r.Namespaces[i].Hashed) != len(nsrw.CollectionHashedRwset) {
			t.Fatalf("namespace %s: %d decoded collections for %d", nsrw.Namespace, len(r.Namespaces[i].Hashed), len(nsrw.CollectionHashedRwset))
		}
		for j, c := range nsrw.CollectionHashedRwset {
			h := &kvrwset.HashedRWSet{}
			must(proto.Unmarshal(c.HashedRwset, h))
			if !proto.Equal(h, r.Namespaces[i].Hashed[j]) {
				t.Fatalf("%s/%s: decoded %v, the bytes hold %v", nsrw.Namespace, c.CollectionName, r.Namespaces[i].Hashed[j], h)
			}
		}
	}
}
