package ledger

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// TestDecodedResultsAreTheMarshalledMessages checks that DecodedResults
// hands over what the public set decodes to, namespace by namespace and
// collection by collection, and the same sets as Results.
func TestDecodedResultsAreTheMarshalledMessages(t *testing.T) {
	s := newSimLedger(t)
	seedEveryKind(s)
	sim := s.l.NewSimulator("tx")
	defer sim.Done()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	simulateEveryKind(t, sim)

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

// seedEveryKind commits the keys simulateEveryKind reads.
func seedEveryKind(s *simLedger) {
	s.t.Helper()
	sim := s.l.NewSimulator("seed")
	defer sim.Done()
	for _, kv := range [][2]string{{"cc1", "read"}, {"cc3", "b"}, {"cc3", "c"}} {
		if err := sim.SetState(kv[0], kv[1], []byte("seeded")); err != nil {
			s.t.Fatal(err)
		}
	}
	pub, _, err := sim.Results()
	if err != nil {
		s.t.Fatal(err)
	}
	s.commit([]*rwset.TxReadWriteSet{pub}, nil)
}

// simulateEveryKind records on sim reads, writes, deletes, metadata writes
// and a range read of public data, and writes, deletes, metadata writes and
// hashed reads of private data, over three namespaces (seedEveryKind
// commits what it reads).
func simulateEveryKind(t *testing.T, sim *Simulator) {
	t.Helper()
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
	for range 2 {
		_, err = it.Next()
		must(err)
	}
	it.Close()
}

// TestResultsBytesUnchanged holds the bytes Results gives for
// simulateEveryKind to those it gave before its messages were allocated
// together (ledger at 904417e).
func TestResultsBytesUnchanged(t *testing.T) {
	s := newSimLedger(t)
	seedEveryKind(s)
	sim := s.l.NewSimulator("tx")
	defer sim.Done()
	simulateEveryKind(t, sim)
	pub, pvt, err := sim.Results()
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%x %x", sha256.Sum256(protos.Marshal(pub)), sha256.Sum256(protos.Marshal(pvt)))
	const want = "3332de2cb9e585c5271c650236e1c41dcd0b1fdf86960da5f2f4858a3e867548 04a4498629f949a9058badb409f235dc7ab8ea400f9da5f94e695d7867ad1896"
	if got != want {
		t.Fatalf("results hash to %s, want %s", got, want)
	}
}
