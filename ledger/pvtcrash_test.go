package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
)

const (
	pvtCC   = "_lifecycle"
	pvtColl = "_implicit_org_Org1MSP"
)

// pvtTx builds an endorser transaction of pvtCC writing pub publicly and
// writes to pvtColl privately, and the private write set the peer would get
// from its transient store. With forge set the private bytes differ from the
// ones the block's pvt_rwset_hash commits to.
func pvtTx(txID string, pub *kvrwset.KVRWSet, writes []*kvrwset.KVWrite, forge bool) ([]byte, *rwset.TxPvtReadWriteSet) {
	real := protos.Marshal(&kvrwset.KVRWSet{Writes: writes})
	hashed := &kvrwset.HashedRWSet{}
	for _, w := range writes {
		kh := sha256.Sum256([]byte(w.Key))
		hw := &kvrwset.KVWriteHash{KeyHash: kh[:], IsDelete: w.IsDelete}
		if !w.IsDelete {
			vh := sha256.Sum256(w.Value)
			hw.ValueHash = vh[:]
		}
		hashed.HashedWrites = append(hashed.HashedWrites, hw)
	}
	sum := sha256.Sum256(real)
	rws := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{{
		Namespace: pvtCC,
		Rwset:     protos.Marshal(pub),
		CollectionHashedRwset: []*rwset.CollectionHashedReadWriteSet{{
			CollectionName: pvtColl, HashedRwset: protos.Marshal(hashed), PvtRwsetHash: sum[:],
		}},
	}}}
	sent := real
	if forge {
		var forged []*kvrwset.KVWrite
		for _, w := range writes {
			forged = append(forged, &kvrwset.KVWrite{Key: w.Key, IsDelete: w.IsDelete, Value: []byte("forged")})
		}
		sent = protos.Marshal(&kvrwset.KVRWSet{Writes: forged})
	}
	pvt := &rwset.TxPvtReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsPvtRwset: []*rwset.NsPvtReadWriteSet{{
		Namespace:          pvtCC,
		CollectionPvtRwset: []*rwset.CollectionPvtReadWriteSet{{CollectionName: pvtColl, Rwset: sent}},
	}}}
	return endorserEnvelope(txID, rws), pvt
}

func put(k, v string) *kvrwset.KVWrite { return &kvrwset.KVWrite{Key: k, Value: []byte(v)} }

// pvtWorkload is a chain of blocks whose transactions carry private writes:
// valid ones, one whose private bytes are forged, one the endorsement filter
// rejects and one MVCC rejects, each block with the private sets the peer holds.
func pvtWorkload() ([]*cb.Block, []map[uint64]*rwset.TxPvtReadWriteSet) {
	var blocks []*cb.Block
	var privates []map[uint64]*rwset.TxPvtReadWriteSet
	add := func(filter []byte, txs ...func(txID string) ([]byte, *rwset.TxPvtReadWriteSet)) {
		var prev *cb.Block
		if len(blocks) > 0 {
			prev = blocks[len(blocks)-1]
		}
		n := uint64(len(blocks))
		var envs [][]byte
		private := map[uint64]*rwset.TxPvtReadWriteSet{}
		for i, tx := range txs {
			env, pvt := tx(txIDFor(n, i))
			envs = append(envs, env)
			if pvt != nil {
				private[uint64(i)] = pvt
			}
		}
		b := nextBlock(prev, envs...)
		if filter != nil {
			protos.SetTxFilter(b, filter)
		}
		blocks = append(blocks, b)
		privates = append(privates, private)
	}
	pub := func(k, v string) *kvrwset.KVRWSet { return &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{put(k, v)}} }
	add([]byte{0, 0, byte(pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE)},
		func(id string) ([]byte, *rwset.TxPvtReadWriteSet) {
			return pvtTx(id, pub("p0", "v0"), []*kvrwset.KVWrite{put("approved", "pkg-1"), put("other", "o1")}, false)
		},
		func(id string) ([]byte, *rwset.TxPvtReadWriteSet) {
			return pvtTx(id, pub("p1", "v1"), []*kvrwset.KVWrite{put("forged", "real")}, true)
		},
		func(id string) ([]byte, *rwset.TxPvtReadWriteSet) {
			return pvtTx(id, pub("p2", "v2"), []*kvrwset.KVWrite{put("rejected", "r")}, false)
		},
	)
	add(nil,
		func(id string) ([]byte, *rwset.TxPvtReadWriteSet) {
			return pvtTx(id, pub("p0", "v1"), []*kvrwset.KVWrite{put("approved", "pkg-2"), {Key: "other", IsDelete: true}}, false)
		},
		func(id string) ([]byte, *rwset.TxPvtReadWriteSet) {
			// Reads p0 at a version that block 1 tx 0 has just replaced.
			kv := pub("p3", "v3")
			kv.Reads = []*kvrwset.KVRead{{Key: "p0", Version: &kvrwset.Version{BlockNum: 0, TxNum: 0}}}
			return pvtTx(id, kv, []*kvrwset.KVWrite{put("conflicted", "c")}, false)
		},
	)
	add(nil, func(id string) ([]byte, *rwset.TxPvtReadWriteSet) {
		return pvtTx(id, pub("p4", "v4"), []*kvrwset.KVWrite{put("late", "l")}, false)
	})
	return blocks, privates
}

var pvtNamespaces = []string{pvtCC, PrivateNamespace(pvtCC, pvtColl), HashedNamespace(pvtCC, pvtColl)}

// commitCrashing commits blocks into a fresh ledger in dir, simulating a crash
// between append and state update of block crashAt, then reopens it and
// commits the rest. It returns the reopened ledger.
func commitCrashing(t *testing.T, dir string, blocks []*cb.Block, privates []map[uint64]*rwset.TxPvtReadWriteSet, crashAt uint64) *Ledger {
	t.Helper()
	l := openLedger(t, dir)
	l.afterAppend = func(n uint64) error {
		if n == crashAt {
			return errSimulatedCrash
		}
		return nil
	}
	for _, b := range blocks[:crashAt+1] {
		err := l.Commit(cloneBlock(b), privates[b.Header.Number])
		if b.Header.Number == crashAt {
			if !errors.Is(err, errSimulatedCrash) {
				t.Fatalf("Commit block %d: err = %v, want the simulated crash", crashAt, err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if got := dump(t, l.State(), PrivateNamespace(pvtCC, pvtColl)); crashAt == 0 && len(got) != 0 {
		t.Fatalf("private state before reopen = %q, want empty (crash before the state update)", got)
	}
	l.Close()

	l = openLedger(t, dir)
	t.Cleanup(func() { l.Close() })
	if sp, ok, _ := l.State().Savepoint(); !ok || sp.BlockNum != crashAt {
		t.Fatalf("after reopen savepoint = %v %v, want block %d", sp, ok, crashAt)
	}
	for _, b := range blocks[crashAt+1:] {
		if err := l.Commit(cloneBlock(b), privates[b.Header.Number]); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// storedPrivate lists every private write set the store keeps for blocks
// below upTo, as "block/tx ns/coll sha256".
func storedPrivate(t *testing.T, l *Ledger, upTo uint64) []string {
	t.Helper()
	var out []string
	for n := uint64(0); n < upTo; n++ {
		got, err := l.PrivateData(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range keys(got) {
			for _, ns := range got[tx].NsPvtRwset {
				for _, c := range ns.CollectionPvtRwset {
					out = append(out, fmt.Sprintf("%d/%d %s/%s %x", n, tx, ns.Namespace, c.CollectionName, sha256.Sum256(c.Rwset)))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestCrashBetweenAppendAndApplyReplaysPrivateData(t *testing.T) {
	t.Parallel()
	blocks, privates := pvtWorkload()

	ref := openLedger(t, t.TempDir())
	for _, b := range blocks {
		if err := ref.Commit(cloneBlock(b), privates[b.Header.Number]); err != nil {
			t.Fatal(err)
		}
	}
	want := dump(t, ref.State(), pvtNamespaces...)
	if pv, err := ref.State().Get(PrivateNamespace(pvtCC, pvtColl), "approved"); err != nil || pv == nil || string(pv.Value) != "pkg-2" {
		t.Fatalf("reference approval = %v, %v; want pkg-2 (the workload is broken)", pv, err)
	}
	wantStored := storedPrivate(t, ref, uint64(len(blocks)))
	if len(wantStored) != 3 {
		t.Fatalf("reference stored private sets %q, want 3 (the valid, hash-matching ones)", wantStored)
	}
	ref.Close()

	for crashAt := range uint64(len(blocks)) {
		t.Run(fmt.Sprintf("crash at block %d", crashAt), func(t *testing.T) {
			l := commitCrashing(t, t.TempDir(), blocks, privates, crashAt)
			got := dump(t, l.State(), pvtNamespaces...)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("state after crash and replay differs:\n got %q\nwant %q", got, want)
			}
			if got := storedPrivate(t, l, uint64(len(blocks))); fmt.Sprint(got) != fmt.Sprint(wantStored) {
				t.Fatalf("stored private data after crash and replay differs:\n got %q\nwant %q", got, wantStored)
			}
		})
	}
}

func TestPrivateDataHashMismatchNotApplied(t *testing.T) {
	t.Parallel()
	blocks, privates := pvtWorkload()
	check := func(t *testing.T, l *Ledger) {
		t.Helper()
		pns, hns := PrivateNamespace(pvtCC, pvtColl), HashedNamespace(pvtCC, pvtColl)
		kh := sha256.Sum256([]byte("forged"))
		if hv, err := l.State().Get(hns, string(kh[:])); err != nil || hv == nil {
			t.Fatalf("hashed write of the forged tx = %v, %v; want it applied (the tx is valid)", hv, err)
		}
		if pv, err := l.State().Get(pns, "forged"); err != nil || pv != nil {
			t.Fatalf("private state of the forged key = %v, %v; want absent", pv, err)
		}
		for _, k := range []string{"rejected", "conflicted"} {
			if pv, err := l.State().Get(pns, k); err != nil || pv != nil {
				t.Fatalf("private state of %s (invalid tx) = %v, %v; want absent", k, pv, err)
			}
		}
		for k, v := range map[string]string{"approved": "pkg-2", "late": "l"} {
			if pv, err := l.State().Get(pns, k); err != nil || pv == nil || string(pv.Value) != v {
				t.Fatalf("private state of %s = %v, %v; want %s", k, pv, err, v)
			}
		}
	}
	t.Run("no crash", func(t *testing.T) {
		t.Parallel()
		l := openLedger(t, t.TempDir())
		defer l.Close()
		for _, b := range blocks {
			if err := l.Commit(cloneBlock(b), privates[b.Header.Number]); err != nil {
				t.Fatal(err)
			}
		}
		check(t, l)
	})
	t.Run("crash after append", func(t *testing.T) {
		t.Parallel()
		check(t, commitCrashing(t, t.TempDir(), blocks, privates, 0))
	})
}

// Only the private sets of transactions the final filter marks valid, and
// that match the block's hashes, are stored before the append; a block
// without any writes nothing there.
func TestCommitStoresOnlyValidPrivateData(t *testing.T) {
	t.Parallel()
	blocks, privates := pvtWorkload()
	l := openLedger(t, t.TempDir())
	defer l.Close()
	var stored map[uint64]*rwset.TxPvtReadWriteSet
	l.afterAppend = func(n uint64) error {
		var err error
		stored, err = l.pvt.sets(n)
		return err
	}
	must(t, l.Commit(cloneBlock(blocks[0]), privates[0]))
	if len(stored) != 1 || stored[0] == nil {
		t.Fatalf("block 0 stored private sets of txs %v, want only 0 (tx 1 is forged, tx 2 failed endorsement)", keys(stored))
	}
	must(t, l.Commit(cloneBlock(blocks[1]), privates[1]))
	if len(stored) != 1 || stored[0] == nil {
		t.Fatalf("block 1 stored private sets of txs %v, want only 0 (tx 1 has an MVCC conflict)", keys(stored))
	}
	must(t, l.Commit(cloneBlock(blocks[2]), nil))
	if len(stored) != 0 {
		t.Fatalf("block 2 committed without private data stored sets of txs %v", keys(stored))
	}
}

func keys(m map[uint64]*rwset.TxPvtReadWriteSet) []uint64 {
	var out []uint64
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
