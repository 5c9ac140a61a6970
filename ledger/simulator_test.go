package ledger

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

type simLedger struct {
	t    *testing.T
	l    *Ledger
	prev *cb.Block
}

func newSimLedger(t *testing.T) *simLedger {
	l := openLedger(t, t.TempDir())
	t.Cleanup(func() { l.Close() })
	return &simLedger{t: t, l: l}
}

// commit puts the given simulation results in the next block and returns
// the final validation codes.
func (s *simLedger) commit(pubs []*rwset.TxReadWriteSet, private map[uint64]*rwset.TxPvtReadWriteSet) []pb.TxValidationCode {
	s.t.Helper()
	num := uint64(0)
	if s.prev != nil {
		num = s.prev.Header.Number + 1
	}
	var envs [][]byte
	for i, p := range pubs {
		envs = append(envs, endorserEnvelope(txIDFor(num, i), p))
	}
	b := nextBlock(s.prev, envs...)
	if err := s.l.Commit(b, private); err != nil {
		s.t.Fatalf("Commit: %v", err)
	}
	s.prev = b
	var out []pb.TxValidationCode
	for _, c := range protos.TxFilter(b) {
		out = append(out, pb.TxValidationCode(c))
	}
	return out
}

func (s *simLedger) run(fn func(sim *Simulator)) (*rwset.TxReadWriteSet, *rwset.TxPvtReadWriteSet) {
	s.t.Helper()
	sim := s.l.NewSimulator("tx")
	defer sim.Done()
	fn(sim)
	pub, pvt, err := sim.Results()
	if err != nil {
		s.t.Fatal(err)
	}
	return pub, pvt
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func drain(t *testing.T, sim *Simulator, ns, start, end string, limit int) []string {
	t.Helper()
	it, err := sim.GetStateRange(ns, start, end)
	must(t, err)
	defer it.Close()
	var keys []string
	for limit < 0 || len(keys) < limit {
		kv, err := it.Next()
		must(t, err)
		if kv == nil {
			break
		}
		keys = append(keys, kv.Key)
	}
	return keys
}

func seed(s *simLedger) {
	pub, pvt := s.run(func(sim *Simulator) {
		for _, k := range []string{"a", "b", "c", "d"} {
			must(s.t, sim.SetState("cc1", k, []byte("v-"+k)))
		}
		must(s.t, sim.SetState("cc2", "x", []byte("x0")))
		must(s.t, sim.PutPrivateData("cc1", "coll", "secret", []byte("s0")))
	})
	if codes := s.commit([]*rwset.TxReadWriteSet{pub}, map[uint64]*rwset.TxPvtReadWriteSet{0: pvt}); codes[0] != pb.TxValidationCode_VALID {
		s.t.Fatalf("seed tx = %s", codes[0])
	}
}

func TestSimulatorDeterministicAcrossCallOrder(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seed(s)
	type op func(t *testing.T, sim *Simulator)
	ops := []op{
		func(t *testing.T, sim *Simulator) { _, err := sim.GetState("cc2", "x"); must(t, err) },
		func(t *testing.T, sim *Simulator) { _, err := sim.GetState("cc1", "b"); must(t, err) },
		func(t *testing.T, sim *Simulator) { _, err := sim.GetState("cc1", "missing"); must(t, err) },
		func(t *testing.T, sim *Simulator) { must(t, sim.SetState("cc1", "z", []byte("1"))) },
		func(t *testing.T, sim *Simulator) { must(t, sim.SetState("cc1", "a", []byte("2"))) },
		func(t *testing.T, sim *Simulator) { must(t, sim.DeleteState("cc2", "x")) },
		func(t *testing.T, sim *Simulator) { must(t, sim.PutPrivateData("cc1", "coll", "k2", []byte("p2"))) },
		func(t *testing.T, sim *Simulator) { must(t, sim.PutPrivateData("cc1", "alpha", "k1", []byte("p1"))) },
		func(t *testing.T, sim *Simulator) {
			_, err := sim.GetPrivateDataHash("cc1", "coll", "secret")
			must(t, err)
		},
		func(t *testing.T, sim *Simulator) {
			_, err := sim.GetPrivateData("cc1", "coll", "secret")
			must(t, err)
		},
		func(t *testing.T, sim *Simulator) {
			must(t, sim.SetStateMetadata("cc1", "b", map[string][]byte{"z": {1}, "a": {2}}))
		},
	}
	orders := [][]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		{10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
		{5, 2, 7, 0, 9, 3, 10, 1, 8, 6, 4},
	}
	var firstPub, firstPvt []byte
	for i, order := range orders {
		pub, pvt := s.run(func(sim *Simulator) {
			for _, j := range order {
				ops[j](t, sim)
			}
		})
		pb1, pv1 := protos.Marshal(pub), protos.Marshal(pvt)
		if i == 0 {
			firstPub, firstPvt = pb1, pv1
			continue
		}
		if !bytes.Equal(pb1, firstPub) || !bytes.Equal(pv1, firstPvt) {
			t.Fatalf("order %v produced different results from order %v", order, orders[0])
		}
	}
	// Layout: namespaces sorted, keys sorted, collections sorted.
	pub := &rwset.TxReadWriteSet{}
	must(t, proto.Unmarshal(firstPub, pub))
	if len(pub.NsRwset) != 2 || pub.NsRwset[0].Namespace != "cc1" || pub.NsRwset[1].Namespace != "cc2" {
		t.Fatalf("namespaces not sorted: %v", pub.NsRwset)
	}
	kv := &kvrwset.KVRWSet{}
	must(t, proto.Unmarshal(pub.NsRwset[0].Rwset, kv))
	if len(kv.Reads) != 2 || kv.Reads[0].Key != "b" || kv.Reads[1].Key != "missing" || kv.Reads[1].Version != nil {
		t.Fatalf("reads = %v, want b then missing (nil version)", kv.Reads)
	}
	if kv.Reads[0].Version.GetBlockNum() != 0 || kv.Reads[0].Version.GetTxNum() != 0 {
		t.Fatalf("read of b at %v, want 0:0", kv.Reads[0].Version)
	}
	if len(kv.Writes) != 2 || kv.Writes[0].Key != "a" || kv.Writes[1].Key != "z" {
		t.Fatalf("writes = %v, want a then z", kv.Writes)
	}
	if me := kv.MetadataWrites[0].Entries; me[0].Name != "a" || me[1].Name != "z" {
		t.Fatalf("metadata entries not sorted: %v", me)
	}
	colls := pub.NsRwset[0].CollectionHashedRwset
	if len(colls) != 2 || colls[0].CollectionName != "alpha" || colls[1].CollectionName != "coll" {
		t.Fatalf("collections = %v, want alpha then coll", colls)
	}
	h := &kvrwset.HashedRWSet{}
	must(t, proto.Unmarshal(colls[1].HashedRwset, h))
	kh := sha256.Sum256([]byte("k2"))
	vh := sha256.Sum256([]byte("p2"))
	if len(h.HashedWrites) != 1 || !bytes.Equal(h.HashedWrites[0].KeyHash, kh[:]) || !bytes.Equal(h.HashedWrites[0].ValueHash, vh[:]) {
		t.Fatalf("hashed writes = %v, want SHA-256 of k2/p2", h.HashedWrites)
	}
	if len(h.HashedReads) != 1 || h.HashedReads[0].Version.GetBlockNum() != 0 {
		t.Fatalf("hashed reads = %v, want one read of secret at 0:0", h.HashedReads)
	}
	pvt := &rwset.TxPvtReadWriteSet{}
	must(t, proto.Unmarshal(firstPvt, pvt))
	wantHash := sha256.Sum256(pvt.NsPvtRwset[0].CollectionPvtRwset[1].Rwset)
	if !bytes.Equal(colls[1].PvtRwsetHash, wantHash[:]) {
		t.Fatal("pvt_rwset_hash is not SHA-256 of the collection's private rwset bytes")
	}
	cx := &kvrwset.KVRWSet{}
	must(t, proto.Unmarshal(pub.NsRwset[1].Rwset, cx))
	if len(cx.Writes) != 1 || !cx.Writes[0].IsDelete || cx.Writes[0].Value != nil {
		t.Fatalf("cc2 writes = %v, want a delete of x", cx.Writes)
	}
}

func TestSimulatorReadsCommittedStateOnly(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seed(s)
	s.run(func(sim *Simulator) {
		must(t, sim.SetState("cc1", "a", []byte("new")))
		must(t, sim.SetState("cc1", "fresh", []byte("new")))
		if v, _ := sim.GetState("cc1", "a"); string(v) != "v-a" {
			t.Fatalf("GetState after SetState = %q, want the committed v-a", v)
		}
		if v, _ := sim.GetState("cc1", "fresh"); v != nil {
			t.Fatalf("GetState of own uncommitted write = %q, want nil", v)
		}
		if keys := drain(t, sim, "cc1", "", "", -1); fmt.Sprint(keys) != "[a b c d]" {
			t.Fatalf("range saw %v, want committed keys only", keys)
		}
	})
	if v, _ := s.l.State().Get("cc1", "fresh"); v != nil {
		t.Fatal("simulation changed state")
	}
}

func rangeInfos(t *testing.T, pub *rwset.TxReadWriteSet, ns string) []*kvrwset.RangeQueryInfo {
	t.Helper()
	for _, n := range pub.NsRwset {
		if n.Namespace == ns {
			kv := &kvrwset.KVRWSet{}
			must(t, proto.Unmarshal(n.Rwset, kv))
			return kv.RangeQueriesInfo
		}
	}
	return nil
}

func TestSimulatorRangeQueries(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seed(s)
	pub, _ := s.run(func(sim *Simulator) {
		drain(t, sim, "cc1", "b", "", -1)  // exhausted
		drain(t, sim, "cc1", "a", "d", 2)  // stopped after b
		drain(t, sim, "cc1", "b", "", -1)  // repeat: dropped
		drain(t, sim, "cc1", "x", "y", -1) // empty, exhausted
		must(t, sim.SetState("cc1", "out", []byte("1")))
	})
	infos := rangeInfos(t, pub, "cc1")
	if len(infos) != 3 {
		t.Fatalf("%d range infos, want 3 (repeat dropped): %v", len(infos), infos)
	}
	if i := infos[0]; i.StartKey != "b" || i.EndKey != "" || !i.ItrExhausted || len(i.GetRawReads().GetKvReads()) != 3 {
		t.Fatalf("exhausted range recorded as %v", i)
	}
	if i := infos[1]; i.StartKey != "a" || i.EndKey != "b" || i.ItrExhausted || len(i.GetRawReads().GetKvReads()) != 2 {
		t.Fatalf("partial range recorded as %v, want end key b (last read), not exhausted", i)
	}
	if i := infos[2]; i.EndKey != "y" || !i.ItrExhausted || i.ReadsInfo != nil {
		t.Fatalf("empty range recorded as %v, want no reads_info", i)
	}

	// An insert after b (but before d) invalidates the exhausted scan of
	// [b, ""), not the partial scan that stopped at b.
	partial, _ := s.run(func(sim *Simulator) {
		drain(t, sim, "cc1", "a", "d", 2)
		must(t, sim.SetState("cc1", "p", []byte("1")))
	})
	insert, _ := s.run(func(sim *Simulator) { must(t, sim.SetState("cc1", "bz", []byte("1"))) })
	codes := s.commit([]*rwset.TxReadWriteSet{insert, pub, partial}, nil)
	if codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_PHANTOM_READ_CONFLICT || codes[2] != pb.TxValidationCode_VALID {
		t.Fatalf("codes = %v, want VALID PHANTOM_READ_CONFLICT VALID", codes)
	}
}

func TestSimulatorLargeRangeUsesMerkleSummary(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	pub, _ := s.run(func(sim *Simulator) {
		for i := 0; i < 3000; i++ {
			must(t, sim.SetState("big", fmt.Sprintf("k%05d", i), []byte("v")))
		}
	})
	s.commit([]*rwset.TxReadWriteSet{pub}, nil)
	scan := func() *rwset.TxReadWriteSet {
		p, _ := s.run(func(sim *Simulator) {
			if n := len(drain(t, sim, "big", "", "", -1)); n != 3000 {
				t.Fatalf("scanned %d keys, want 3000", n)
			}
		})
		return p
	}
	before := scan()
	info := rangeInfos(t, before, "big")[0]
	ms := info.GetReadsMerkleHashes()
	if ms == nil || ms.MaxDegree != 50 || info.GetRawReads() != nil {
		t.Fatalf("range of 3000 keys recorded as %v, want a merkle summary with max_degree 50", info)
	}
	if ms.MaxLevel < 2 || len(ms.MaxLevelHashes) == 0 || len(ms.MaxLevelHashes) > 50 {
		t.Fatalf("merkle summary %v out of shape", ms)
	}
	if !proto.Equal(before, scan()) {
		t.Fatal("two scans of unchanged state gave different summaries")
	}
	stale := scan()
	change, _ := s.run(func(sim *Simulator) { must(t, sim.SetState("big", "k01500", []byte("w"))) })
	codes := s.commit([]*rwset.TxReadWriteSet{before, change, stale}, nil)
	if codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_VALID || codes[2] != pb.TxValidationCode_PHANTOM_READ_CONFLICT {
		t.Fatalf("codes = %v, want VALID VALID PHANTOM_READ_CONFLICT", codes)
	}
}

func TestSimulatorPrivateData(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seed(s)
	hash, err := s.l.NewSimulator("q").GetPrivateDataHash("cc1", "coll", "secret")
	must(t, err)
	want := sha256.Sum256([]byte("s0"))
	if !bytes.Equal(hash, want[:]) {
		t.Fatalf("GetPrivateDataHash = %x, want SHA-256(s0)", hash)
	}
	v, err := s.l.NewSimulator("q").GetPrivateData("cc1", "coll", "secret")
	if err != nil || string(v) != "s0" {
		t.Fatalf("GetPrivateData = %q, %v; want s0", v, err)
	}

	// Private data whose hash does not match the block is not applied, and
	// GetPrivateData then refuses to serve the stale copy.
	pub, pvt := s.run(func(sim *Simulator) { must(t, sim.PutPrivateData("cc1", "coll", "secret", []byte("s1"))) })
	forged := proto.Clone(pvt).(*rwset.TxPvtReadWriteSet)
	kv := &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "secret", Value: []byte("forged")}}}
	forged.NsPvtRwset[0].CollectionPvtRwset[0].Rwset = protos.Marshal(kv)
	if codes := s.commit([]*rwset.TxReadWriteSet{pub}, map[uint64]*rwset.TxPvtReadWriteSet{0: forged}); codes[0] != pb.TxValidationCode_VALID {
		t.Fatalf("code = %v", codes[0])
	}
	if pv, _ := s.l.State().Get(PrivateNamespace("cc1", "coll"), "secret"); pv == nil || string(pv.Value) == "forged" {
		t.Fatalf("private state = %v, forged data must not be applied", pv)
	}
	if _, err := s.l.NewSimulator("q").GetPrivateData("cc1", "coll", "secret"); err == nil {
		t.Fatal("GetPrivateData served private data older than the hashed state")
	}
	hash, _ = s.l.NewSimulator("q").GetPrivateDataHash("cc1", "coll", "secret")
	want = sha256.Sum256([]byte("s1"))
	if !bytes.Equal(hash, want[:]) {
		t.Fatal("hashed state not updated to SHA-256(s1)")
	}
}

func TestSimulatorUseAfterDone(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	sim := s.l.NewSimulator("tx")
	sim.Done()
	if _, err := sim.GetState("ns", "k"); err != ErrSimulationDone {
		t.Fatalf("GetState after Done = %v, want ErrSimulationDone", err)
	}
	if err := sim.SetState("ns", "k", []byte("v")); err != ErrSimulationDone {
		t.Fatalf("SetState after Done = %v, want ErrSimulationDone", err)
	}
}

// TestSimulatorPrivateReads lists the collections read with GetPrivateData,
// not those whose hashes were read (the chaincode interest needs the first).
func TestSimulatorPrivateReads(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seed(s)
	sim := s.l.NewSimulator("reads")
	defer sim.Done()
	_, err := sim.GetPrivateDataHash("cc1", "coll", "secret")
	must(t, err)
	if got := sim.PrivateReads(); len(got) != 0 {
		t.Fatalf("after a hash read, PrivateReads = %v, want none", got)
	}
	for range 2 {
		_, err = sim.GetPrivateData("cc1", "coll", "secret")
		must(t, err)
	}
	if got := sim.PrivateReads(); len(got) != 1 || len(got["cc1"]) != 1 || got["cc1"][0] != "coll" {
		t.Fatalf("PrivateReads = %v, want cc1: [coll]", got)
	}
}
