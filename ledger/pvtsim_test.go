package ledger

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// seedPrivate commits private keys of cc1/coll (and one key of cc1/other and
// one public key) in one valid transaction.
func seedPrivate(s *simLedger, keys ...string) {
	s.t.Helper()
	pub, pvt := s.run(func(sim *Simulator) {
		for _, k := range keys {
			must(s.t, sim.PutPrivateData("cc1", "coll", k, []byte("p-"+k)))
		}
		must(s.t, sim.PutPrivateData("cc1", "other", "b", []byte("other-b")))
		must(s.t, sim.SetState("cc1", "b", []byte("public-b")))
	})
	if codes := s.commit([]*rwset.TxReadWriteSet{pub}, map[uint64]*rwset.TxPvtReadWriteSet{0: pvt}); codes[0] != pb.TxValidationCode_VALID {
		s.t.Fatalf("seed tx = %s", codes[0])
	}
}

func drainPrivate(t *testing.T, sim *Simulator, coll, start, end string) []string {
	t.Helper()
	it, err := sim.GetPrivateDataRange("cc1", coll, start, end)
	must(t, err)
	defer it.Close()
	var out []string
	for {
		kv, err := it.Next()
		must(t, err)
		if kv == nil {
			return out
		}
		if kv.Namespace != "cc1" {
			t.Fatalf("private range entry %q has namespace %q, want the chaincode's (cc1)", kv.Key, kv.Namespace)
		}
		out = append(out, kv.Key+"="+string(kv.Value))
	}
}

func TestSimulatorPrivateRange(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seedPrivate(s, "a", "b", "c", "d")

	var got []string
	pub, pvt := s.run(func(sim *Simulator) {
		got = drainPrivate(t, sim, "coll", "b", "d")
		if all := strings.Join(drainPrivate(t, sim, "coll", "", ""), ","); all != "a=p-a,b=p-b,c=p-c,d=p-d" {
			t.Fatalf("full private range = %s", all)
		}
		if none := drainPrivate(t, sim, "nosuchcoll", "", ""); len(none) != 0 {
			t.Fatalf("range of an unknown collection = %v", none)
		}
	})
	if strings.Join(got, ",") != "b=p-b,c=p-c" {
		t.Fatalf("private range [b, d) = %v, want b and c of collection coll only", got)
	}
	// As in Fabric, a private range query records nothing: no namespace, no
	// hashed reads, no range query info, no private write set.
	if len(pub.NsRwset) != 0 || pvt != nil {
		t.Fatalf("rwset of a private range query = %v / %v, want empty", pub, pvt)
	}

	// So MVCC cannot see a change to what was read: the transaction stays
	// valid after "b" changes and "bb" appears (Fabric behaves the same; this
	// is why such queries are confined to read-only transactions).
	change, changePvt := s.run(func(sim *Simulator) {
		must(t, sim.PutPrivateData("cc1", "coll", "b", []byte("p-b2")))
		must(t, sim.PutPrivateData("cc1", "coll", "bb", []byte("p-bb")))
	})
	codes := s.commit([]*rwset.TxReadWriteSet{change, pub}, map[uint64]*rwset.TxPvtReadWriteSet{0: changePvt})
	if codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_VALID {
		t.Fatalf("codes = %v, want VALID VALID", codes)
	}
	s.run(func(sim *Simulator) {
		if got := strings.Join(drainPrivate(t, sim, "coll", "b", "d"), ","); got != "b=p-b2,bb=p-bb,c=p-c" {
			t.Fatalf("private range after the update = %s", got)
		}
	})

	// Done closes an open private range.
	sim := s.l.NewSimulator("tx-done")
	it, err := sim.GetPrivateDataRange("cc1", "coll", "", "")
	must(t, err)
	sim.Done()
	if kv, err := it.Next(); kv != nil || err != nil {
		t.Fatalf("Next after Done = %v, %v; want the end", kv, err)
	}
	it.Close()
	if _, err := sim.GetPrivateDataRange("cc1", "coll", "", ""); err != ErrSimulationDone {
		t.Fatalf("GetPrivateDataRange after Done = %v", err)
	}
}

func TestSimulatorPrivateRangeOnlyInReadOnlyTransactions(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seedPrivate(s, "a")
	writes := map[string]func(sim *Simulator) error{
		"SetState":          func(sim *Simulator) error { return sim.SetState("cc1", "k", []byte("v")) },
		"DeleteState":       func(sim *Simulator) error { return sim.DeleteState("cc1", "k") },
		"SetStateMetadata":  func(sim *Simulator) error { return sim.SetStateMetadata("cc1", "k", nil) },
		"PutPrivateData":    func(sim *Simulator) error { return sim.PutPrivateData("cc1", "coll", "k", []byte("v")) },
		"DeletePrivateData": func(sim *Simulator) error { return sim.DeletePrivateData("cc1", "coll", "k") },
		"PurgePrivateData":  func(sim *Simulator) error { return sim.PurgePrivateData("cc1", "coll", "k") },
	}
	for name, write := range writes {
		sim := s.l.NewSimulator("tx-" + name)
		must(t, write(sim))
		if _, err := sim.GetPrivateDataRange("cc1", "coll", "", ""); err == nil || !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), "cc1/coll") {
			t.Errorf("private range after %s = %v; want a refusal naming the collection and read-only transactions", name, err)
		}
		sim.Done()

		sim = s.l.NewSimulator("tx-range-" + name)
		_, err := sim.GetPrivateDataRange("cc1", "coll", "", "")
		must(t, err)
		if err := write(sim); err == nil || !strings.Contains(err.Error(), "private data range query") {
			t.Errorf("%s after a private range = %v; want a refusal naming the private data range query", name, err)
		}
		pub, pvt, err := sim.Results()
		must(t, err)
		if len(pub.NsRwset) != 0 || pvt != nil {
			t.Errorf("%s after a private range was recorded: %v / %v", name, pub, pvt)
		}
		sim.Done()
	}
	// Reads and further queries stay allowed.
	s.run(func(sim *Simulator) {
		_ = drainPrivate(t, sim, "coll", "", "")
		if _, err := sim.GetState("cc1", "b"); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.GetPrivateData("cc1", "coll", "a"); err != nil {
			t.Fatal(err)
		}
		_ = drainPrivate(t, sim, "other", "", "")
	})
}

// hashedWrites decodes the hashed writes of cc1/coll in pub.
func hashedWrites(t *testing.T, pub *rwset.TxReadWriteSet) []*kvrwset.KVWriteHash {
	t.Helper()
	for _, ns := range pub.NsRwset {
		for _, c := range ns.CollectionHashedRwset {
			if ns.Namespace == "cc1" && c.CollectionName == "coll" {
				h := &kvrwset.HashedRWSet{}
				must(t, proto.Unmarshal(c.HashedRwset, h))
				return h.HashedWrites
			}
		}
	}
	t.Fatalf("no hashed rwset for cc1/coll in %v", pub)
	return nil
}

func TestSimulatorPurgePrivateDataRecordsPurge(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	sum := func(k string) []byte { h := sha256.Sum256([]byte(k)); return h[:] }

	pub, pvt := s.run(func(sim *Simulator) {
		must(t, sim.PurgePrivateData("cc1", "coll", "secret"))
		must(t, sim.DeletePrivateData("cc1", "coll", "gone"))
		must(t, sim.PurgePrivateData("cc1", "coll", "rewritten"))
		must(t, sim.PutPrivateData("cc1", "coll", "rewritten", []byte("new"))) // the last operation wins
		must(t, sim.PutPrivateData("cc1", "coll", "repurged", []byte("x")))
		must(t, sim.PurgePrivateData("cc1", "coll", "repurged"))
	})
	// Fabric: KVWriteHash{key_hash, is_delete, is_purge} with no value hash;
	// a delete has is_purge unset; keys sorted by key.
	want := []*kvrwset.KVWriteHash{
		{KeyHash: sum("gone"), IsDelete: true},
		{KeyHash: sum("repurged"), IsDelete: true, IsPurge: true},
		{KeyHash: sum("rewritten"), ValueHash: sum("new")},
		{KeyHash: sum("secret"), IsDelete: true, IsPurge: true},
	}
	got := hashedWrites(t, pub)
	if len(got) != len(want) {
		t.Fatalf("hashed writes = %v", got)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("hashed write %d = %v, want %v", i, got[i], want[i])
		}
	}
	// The private write set carries a plain delete (there is no purge flag in
	// kvrwset.KVWrite), and its hash is the block's pvt_rwset_hash.
	coll := pvt.NsPvtRwset[0].CollectionPvtRwset[0]
	kv := &kvrwset.KVRWSet{}
	must(t, proto.Unmarshal(coll.Rwset, kv))
	var keys []string
	for _, w := range kv.Writes {
		keys = append(keys, fmt.Sprintf("%s:%v:%q", w.Key, w.IsDelete, w.Value))
	}
	if got := strings.Join(keys, ","); got != `gone:true:"",repurged:true:"",rewritten:false:"new",secret:true:""` {
		t.Fatalf("private writes = %s", got)
	}
	h := sha256.Sum256(coll.Rwset)
	if !bytes.Equal(pub.NsRwset[0].CollectionHashedRwset[0].PvtRwsetHash, h[:]) {
		t.Fatal("pvt_rwset_hash does not match the private write set")
	}

	// Purge is a write: refused after a paginated read, and needs a key.
	sim := s.l.NewSimulator("tx-page")
	defer sim.Done()
	_, _, err := sim.GetStateRangePage("cc1", "", "", 5)
	must(t, err)
	if err := sim.PurgePrivateData("cc1", "coll", "k"); err == nil || !strings.Contains(err.Error(), "paginated") {
		t.Fatalf("purge after a paginated read = %v", err)
	}
	if err := s.l.NewSimulator("tx-empty").PurgePrivateData("cc1", "coll", ""); err == nil || !strings.Contains(err.Error(), "empty key") {
		t.Fatalf("purge of an empty key = %v", err)
	}
}

func TestCommitPurgeRemovesPrivateData(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seedPrivate(s, "secret", "keep")
	pns, hns := PrivateNamespace("cc1", "coll"), HashedNamespace("cc1", "coll")

	// A reader simulated before the purge, in the same block after it: MVCC
	// conflict, since the purge deletes the key hash it read.
	reader, _ := s.run(func(sim *Simulator) {
		if _, err := sim.GetPrivateData("cc1", "coll", "secret"); err != nil {
			t.Fatal(err)
		}
	})
	purge, purgePvt := s.run(func(sim *Simulator) { must(t, sim.PurgePrivateData("cc1", "coll", "secret")) })
	codes := s.commit([]*rwset.TxReadWriteSet{purge, reader}, map[uint64]*rwset.TxPvtReadWriteSet{0: purgePvt})
	if codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_MVCC_READ_CONFLICT {
		t.Fatalf("codes = %v, want VALID MVCC_READ_CONFLICT", codes)
	}
	if pv, _ := s.l.State().Get(pns, "secret"); pv != nil {
		t.Fatalf("purged private value still in state: %q", pv.Value)
	}
	if hv, _ := s.l.State().Get(hns, string(keyHash("secret"))); hv != nil {
		t.Fatal("purged key hash still in hashed state")
	}
	if pv, _ := s.l.State().Get(pns, "keep"); pv == nil || string(pv.Value) != "p-keep" {
		t.Fatalf("unpurged key = %v", pv)
	}
	s.run(func(sim *Simulator) {
		if v, err := sim.GetPrivateData("cc1", "coll", "secret"); v != nil || err != nil {
			t.Fatalf("GetPrivateData after purge = %q, %v; want absent", v, err)
		}
		if got := strings.Join(drainPrivate(t, sim, "coll", "", ""), ","); got != "keep=p-keep" {
			t.Fatalf("private range after purge = %s", got)
		}
	})

	// A key purged and written again later in the same block holds the new value.
	purge2, purge2Pvt := s.run(func(sim *Simulator) { must(t, sim.PurgePrivateData("cc1", "coll", "keep")) })
	rewrite, rewritePvt := s.run(func(sim *Simulator) { must(t, sim.PutPrivateData("cc1", "coll", "keep", []byte("again"))) })
	codes = s.commit([]*rwset.TxReadWriteSet{purge2, rewrite}, map[uint64]*rwset.TxPvtReadWriteSet{0: purge2Pvt, 1: rewritePvt})
	if codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_VALID {
		t.Fatalf("codes = %v", codes)
	}
	if pv, _ := s.l.State().Get(pns, "keep"); pv == nil || string(pv.Value) != "again" {
		t.Fatalf("key written after its purge in the same block = %v, want again", pv)
	}
}

// A peer that did not receive the purge's private write set (or got one that
// does not match the block) still drops the private value, found by its hash.
func TestCommitPurgeWithoutPrivateWriteSet(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seedPrivate(s, "secret", "keep")
	pns := PrivateNamespace("cc1", "coll")

	purge, _ := s.run(func(sim *Simulator) { must(t, sim.PurgePrivateData("cc1", "coll", "secret")) })
	del, _ := s.run(func(sim *Simulator) { must(t, sim.DeletePrivateData("cc1", "coll", "keep")) })
	codes := s.commit([]*rwset.TxReadWriteSet{purge, del}, nil)
	if codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_VALID {
		t.Fatalf("codes = %v", codes)
	}
	if pv, _ := s.l.State().Get(pns, "secret"); pv != nil {
		t.Fatalf("purge without its private write set left the private value %q", pv.Value)
	}
	// A plain delete without its private write set leaves the stale copy
	// (as in Fabric), which GetPrivateData then refuses to serve.
	if pv, _ := s.l.State().Get(pns, "keep"); pv == nil {
		t.Fatal("a delete without its private write set removed the private value")
	}
	if _, err := s.l.NewSimulator("q").GetPrivateData("cc1", "coll", "keep"); err == nil {
		t.Fatal("GetPrivateData served a value the hashed state deleted")
	}

	// The value may come from an earlier transaction of the same block.
	write, writePvt := s.run(func(sim *Simulator) { must(t, sim.PutPrivateData("cc1", "coll", "fresh", []byte("f"))) })
	purge, _ = s.run(func(sim *Simulator) { must(t, sim.PurgePrivateData("cc1", "coll", "fresh")) })
	forged := &rwset.TxPvtReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsPvtRwset: []*rwset.NsPvtReadWriteSet{{
		Namespace: "cc1", CollectionPvtRwset: []*rwset.CollectionPvtReadWriteSet{{CollectionName: "coll", Rwset: []byte("not the purge")}},
	}}}
	codes = s.commit([]*rwset.TxReadWriteSet{write, purge}, map[uint64]*rwset.TxPvtReadWriteSet{0: writePvt, 1: forged})
	if codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_VALID {
		t.Fatalf("codes = %v", codes)
	}
	if pv, _ := s.l.State().Get(pns, "fresh"); pv != nil {
		t.Fatalf("key written and purged in one block = %q, want gone", pv.Value)
	}
	if got := dump(t, s.l.State(), PrivateNamespace("cc1", "other")); len(got) != 1 {
		t.Fatalf("other collection touched: %v", got)
	}
}

// A purge replayed by Open after a crash between the block append and the
// state update has the same effect.
func TestPurgeReplayedAfterCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLedger(t, dir)
	s := &simLedger{t: t, l: l}
	seedPrivate(s, "secret")
	purge, purgePvt := s.run(func(sim *Simulator) { must(t, sim.PurgePrivateData("cc1", "coll", "secret")) })
	l.afterAppend = func(uint64) error { return fmt.Errorf("simulated crash") }
	b := nextBlock(s.prev, endorserEnvelope(txIDFor(1, 0), purge))
	if err := l.Commit(b, map[uint64]*rwset.TxPvtReadWriteSet{0: purgePvt}); err == nil {
		t.Fatal("commit with a failing hook succeeded")
	}
	if pv, _ := l.State().Get(PrivateNamespace("cc1", "coll"), "secret"); pv == nil {
		t.Fatal("state updated despite the crash")
	}
	must(t, l.Close())
	l = openLedger(t, dir)
	defer l.Close()
	if pv, _ := l.State().Get(PrivateNamespace("cc1", "coll"), "secret"); pv != nil {
		t.Fatalf("purge not replayed: private value %q", pv.Value)
	}
	if hv, _ := l.State().Get(HashedNamespace("cc1", "coll"), string(keyHash("secret"))); hv != nil {
		t.Fatal("purge not replayed: key hash still present")
	}
}
