package ledger

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/syndtr/goleveldb/leveldb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weft-ledger/weft/protos"
)

func fmtModification(km *queryresult.KeyModification) string {
	ts := "-"
	if km.Timestamp != nil {
		ts = fmt.Sprintf("%d.%d", km.Timestamp.Seconds, km.Timestamp.Nanos)
	}
	if km.IsDelete {
		return fmt.Sprintf("%.8s delete value=%v @%s", km.TxId, km.Value, ts)
	}
	return fmt.Sprintf("%.8s %q @%s", km.TxId, km.Value, ts)
}

// historyOf drains GetHistoryForKey.
func historyOf(t *testing.T, l *Ledger, ns, key string) []string {
	t.Helper()
	it, err := l.GetHistoryForKey(ns, key)
	if err != nil {
		t.Fatalf("GetHistoryForKey(%s, %q): %v", ns, key, err)
	}
	defer it.Close()
	var out []string
	for {
		km, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s/%q: %v", ns, key, err)
		}
		if km == nil {
			break
		}
		out = append(out, fmtModification(km))
	}
	if km, err := it.Next(); km != nil || err != nil {
		t.Fatalf("Next after the end = %v, %v; want nil, nil", km, err)
	}
	return out
}

// scanHistory is the oracle for one key; see scanAllHistory.
func scanHistory(t *testing.T, l *Ledger, ns, key string) []string {
	t.Helper()
	return scanAllHistory(t, l)[[2]string{ns, key}]
}

// scanAllHistory is the oracle: it walks every stored block, oldest first,
// collects the writes of valid endorser transactions by (ns, key), and
// returns each key's list newest first.
func scanAllHistory(t *testing.T, l *Ledger) map[[2]string][]string {
	t.Helper()
	out := map[[2]string][]string{}
	for n := uint64(0); n < l.Blocks().Height(); n++ {
		b, err := l.Blocks().Block(n)
		if err != nil {
			t.Fatal(err)
		}
		filter := protos.TxFilter(b)
		for i, raw := range b.Data.Data {
			if pb.TxValidationCode(filter[i]) != pb.TxValidationCode_VALID {
				continue
			}
			env, err := protos.UnmarshalEnvelope(raw)
			if err != nil || cb.HeaderType(env.ChannelHeader.Type) != cb.HeaderType_ENDORSER_TRANSACTION {
				continue
			}
			etx, err := protos.ParseEndorserTx(env)
			if err != nil {
				t.Fatal(err)
			}
			sets, err := decodeRWSet(etx.ReadWriteSet)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[[2]string]bool{}
			for _, s := range sets {
				for _, w := range s.kv.Writes {
					k := [2]string{s.ns, w.Key}
					if seen[k] {
						continue
					}
					seen[k] = true
					km := &queryresult.KeyModification{TxId: env.ChannelHeader.TxId, Timestamp: env.ChannelHeader.Timestamp, IsDelete: w.IsDelete || len(w.Value) == 0}
					if !km.IsDelete {
						km.Value = w.Value
					}
					out[k] = append([]string{fmtModification(km)}, out[k]...)
				}
			}
		}
	}
	return out
}

func stamp(block uint64, tx int) *timestamppb.Timestamp {
	return &timestamppb.Timestamp{Seconds: 1_700_000_000 + int64(block), Nanos: int32(tx)}
}

// commitStamped commits pubs as the next block of s, each transaction with
// the timestamp stamp(block, tx).
func commitStamped(s *simLedger, pubs ...*rwset.TxReadWriteSet) []pb.TxValidationCode {
	s.t.Helper()
	num := uint64(0)
	if s.prev != nil {
		num = s.prev.Header.Number + 1
	}
	var envs [][]byte
	for i, p := range pubs {
		envs = append(envs, endorserEnvelopeAt(txIDFor(num, i), p, stamp(num, i)))
	}
	b := nextBlock(s.prev, envs...)
	if err := s.l.Commit(b, nil); err != nil {
		s.t.Fatalf("Commit: %v", err)
	}
	s.prev = b
	var out []pb.TxValidationCode
	for _, c := range protos.TxFilter(b) {
		out = append(out, pb.TxValidationCode(c))
	}
	return out
}

func mod(block uint64, tx int, value string, deleted bool) string {
	km := &queryresult.KeyModification{TxId: txIDFor(block, tx), Timestamp: stamp(block, tx), IsDelete: deleted}
	if !deleted {
		km.Value = []byte(value)
	}
	return fmtModification(km)
}

func TestHistoryForKey(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	write := func(kvs ...string) *rwset.TxReadWriteSet {
		pub, _ := s.run(func(sim *Simulator) {
			for i := 0; i < len(kvs); i += 3 {
				must(t, sim.SetState(kvs[i], kvs[i+1], []byte(kvs[i+2])))
			}
		})
		return pub
	}
	// Block 0: two txs write a; the first also writes b.
	codes := commitStamped(s, write("cc1", "a", "v1", "cc1", "b", "b1"), write("cc1", "a", "v1b"))
	if codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_VALID {
		t.Fatalf("block 0 codes %v", codes)
	}
	// Block 1: a is deleted; a tx that read b as absent conflicts, and its
	// write of a must not show up in history.
	del, _ := s.run(func(sim *Simulator) { must(t, sim.DeleteState("cc1", "a")) })
	conflict := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{{Namespace: "cc1", Rwset: protos.Marshal(&kvrwset.KVRWSet{
		Reads:  []*kvrwset.KVRead{{Key: "b"}},
		Writes: []*kvrwset.KVWrite{{Key: "a", Value: []byte("invalid")}},
	})}}}
	if codes := commitStamped(s, del, conflict); codes[1] != pb.TxValidationCode_MVCC_READ_CONFLICT {
		t.Fatalf("block 1 codes %v, want tx 1 MVCC_READ_CONFLICT", codes)
	}
	// Block 2: a is written again with private data under the same key name,
	// composite keys that share a prefix, and a key in another namespace.
	multi, _ := s.run(func(sim *Simulator) {
		must(t, sim.SetState("cc1", "a", []byte("v3")))
		must(t, sim.PutPrivateData("cc1", "coll", "a", []byte("secret")))
		must(t, sim.SetState("cc1", "\x00k\x00a\x00", []byte("c1")))
		must(t, sim.SetState("cc1", "\x00k\x00a\x00b\x00", []byte("c2")))
	})
	commitStamped(s, multi, write("cc2", "a", "other-ns"))
	// Block 3: an empty value is a delete (FAB-18386).
	commitStamped(s, write("cc1", "a", ""))

	want := []string{mod(3, 0, "", true), mod(2, 0, "v3", false), mod(1, 0, "", true), mod(0, 1, "v1b", false), mod(0, 0, "v1", false)}
	if got := historyOf(t, s.l, "cc1", "a"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history of cc1/a:\n got %q\nwant %q", got, want)
	}
	if got := scanHistory(t, s.l, "cc1", "a"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("oracle disagrees with the expected history:\n got %q\nwant %q", got, want)
	}
	if vv, err := s.l.State().Get("cc1", "a"); err != nil || vv != nil {
		t.Fatalf("state of cc1/a after an empty-value write = %v, %v; want deleted", vv, err)
	}
	cases := map[[2]string][]string{
		{"cc1", "b"}:                           {mod(0, 0, "b1", false)},
		{"cc2", "a"}:                           {mod(2, 1, "other-ns", false)},
		{"cc1", "\x00k\x00a\x00"}:              {mod(2, 0, "c1", false)},
		{"cc1", "\x00k\x00a\x00b\x00"}:         {mod(2, 0, "c2", false)},
		{"cc1", "missing"}:                     nil,
		{PrivateNamespace("cc1", "coll"), "a"}: nil,
		{HashedNamespace("cc1", "coll"), string(keyHash("a"))}: nil,
	}
	for k, want := range cases {
		if got := historyOf(t, s.l, k[0], k[1]); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("history of %s/%q:\n got %q\nwant %q", k[0], k[1], got, want)
		}
	}
}

// TestHistoryMatchesFabricFixture indexes the blocks a Fabric v2.5 peer
// produced and checks every written key's history against a scan of the blocks.
func TestHistoryMatchesFabricFixture(t *testing.T) {
	t.Parallel()
	l := openLedger(t, t.TempDir())
	defer l.Close()
	for n := 0; n <= 9; n++ {
		if err := l.Commit(loadFixtureBlock(t, n), nil); err != nil {
			t.Fatalf("Commit block %d: %v", n, err)
		}
	}
	all := scanAllHistory(t, l)
	if len(all) < 5 {
		t.Fatalf("fixture has only %d written keys; expected the asset-transfer keys", len(all))
	}
	multi := 0
	for k, want := range all {
		if got := historyOf(t, l, k[0], k[1]); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("history of %s/%q:\n got %q\nwant %q", k[0], k[1], got, want)
		}
		if len(want) > 1 {
			multi++
		}
	}
	t.Logf("%d keys checked, %d with more than one version", len(all), multi)
}

func TestHistoryIteratorIsASnapshotWhileCommitsContinue(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	put := func(v string) *rwset.TxReadWriteSet {
		pub, _ := s.run(func(sim *Simulator) { must(t, sim.SetState("cc", "k", []byte(v))) })
		return pub
	}
	for i := 0; i < 3; i++ {
		commitStamped(s, put(fmt.Sprintf("v%d", i)))
	}
	it, err := s.l.GetHistoryForKey("cc", "k")
	must(t, err)
	defer it.Close()

	// Build the later blocks up front; commit them while iterating.
	const more = 20
	var later []*cb.Block
	prev := s.prev
	for i := 0; i < more; i++ {
		n := prev.Header.Number + 1
		b := nextBlock(prev, endorserEnvelopeAt(txIDFor(n, 0), put(fmt.Sprintf("w%d", i)), stamp(n, 0)))
		later = append(later, b)
		prev = b
	}
	done := make(chan error, 1)
	go func() {
		for _, b := range later {
			if err := s.l.Commit(b, nil); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var got []string
	for {
		km, err := it.Next()
		must(t, err)
		if km == nil {
			break
		}
		got = append(got, string(km.Value))
	}
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("concurrent commits did not finish within 30s")
	}
	if fmt.Sprint(got) != "[v2 v1 v0]" {
		t.Fatalf("iterator saw %v, want the versions committed before it was created, newest first", got)
	}
	all := historyOf(t, s.l, "cc", "k")
	if len(all) != 3+more || all[0] != mod(3+more-1, 0, fmt.Sprintf("w%d", more-1), false) {
		t.Fatalf("after the commits history has %d versions starting %q, want %d starting with w%d", len(all), all[0], 3+more, more-1)
	}
}

func TestHistoryIteratorCloseAndLedgerClose(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	for i := 0; i < 2; i++ {
		pub, _ := s.run(func(sim *Simulator) { must(t, sim.SetState("cc", "k", []byte{byte('a' + i)})) })
		commitStamped(s, pub)
	}
	it, err := s.l.GetHistoryForKey("cc", "k")
	must(t, err)
	if km, err := it.Next(); err != nil || string(km.GetValue()) != "b" {
		t.Fatalf("first Next = %v, %v; want b", km, err)
	}
	it.Close()
	if km, err := it.Next(); km != nil || err != nil {
		t.Fatalf("Next after Close = %v, %v; want nil, nil", km, err)
	}

	open, err := s.l.GetHistoryForKey("cc", "k")
	must(t, err)
	must(t, s.l.Close())
	if _, err := open.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after the ledger closed: err = %v, want ErrClosed", err)
	}
	open.Close()
	if _, err := s.l.GetHistoryForKey("cc", "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetHistoryForKey on a closed ledger: err = %v, want ErrClosed", err)
	}
}

// crashKeys are the keys crashWorkload writes.
var crashKeys = []string{"b0", "b1", "b2", "b3", "b4", "k0", "k1", "k2"}

func historyDump(t *testing.T, l *Ledger) []string {
	t.Helper()
	var out []string
	for _, k := range crashKeys {
		for _, m := range historyOf(t, l, "basic", k) {
			out = append(out, k+" "+m)
		}
	}
	return out
}

func TestHistoryCrashRecovery(t *testing.T) {
	t.Parallel()
	blocks := crashWorkload()
	ref := openLedger(t, t.TempDir())
	for _, b := range crashWorkload() {
		must(t, ref.Commit(b, nil))
	}
	want := historyDump(t, ref)
	for _, k := range crashKeys {
		if o := scanHistory(t, ref, "basic", k); fmt.Sprint(o) != fmt.Sprint(historyOf(t, ref, "basic", k)) {
			t.Fatalf("reference history of %s differs from a scan of its blocks", k)
		}
	}
	ref.Close()
	if len(want) < 10 {
		t.Fatalf("reference history has %d entries; the workload is broken", len(want))
	}

	commitAll := func(t *testing.T, l *Ledger, bs []*cb.Block) {
		t.Helper()
		for _, b := range bs {
			must(t, l.Commit(cloneBlock(b), nil))
		}
	}
	check := func(t *testing.T, l *Ledger) {
		t.Helper()
		if got := historyDump(t, l); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("history differs from a ledger that never crashed:\n got %q\nwant %q", got, want)
		}
	}
	const crashAt = 2

	t.Run("crash after append", func(t *testing.T) {
		dir := t.TempDir()
		l := openLedger(t, dir)
		commitAll(t, l, blocks[:crashAt])
		l.afterAppend = func(uint64) error { return errSimulatedCrash }
		if err := l.Commit(cloneBlock(blocks[crashAt]), nil); !errors.Is(err, errSimulatedCrash) {
			t.Fatalf("Commit: err = %v, want the simulated crash", err)
		}
		l.Close()
		l = openLedger(t, dir)
		defer l.Close()
		commitAll(t, l, blocks[crashAt+1:])
		check(t, l)
	})

	t.Run("crash between state and history", func(t *testing.T) {
		dir := t.TempDir()
		l := openLedger(t, dir)
		commitAll(t, l, blocks[:crashAt])
		l.beforeHistory = func(uint64) error { return errSimulatedCrash }
		if err := l.Commit(cloneBlock(blocks[crashAt]), nil); !errors.Is(err, errSimulatedCrash) {
			t.Fatalf("Commit: err = %v, want the simulated crash", err)
		}
		if sp, _, _ := l.State().Savepoint(); sp.BlockNum != crashAt {
			t.Fatalf("state savepoint %v, want block %d (the crash hit after the state update)", sp, crashAt)
		}
		if h := historyOf(t, l, "basic", fmt.Sprintf("b%d", crashAt)); len(h) != 0 {
			t.Fatalf("history of block %d present before reopen: %q", crashAt, h)
		}
		l.Close()
		l = openLedger(t, dir)
		defer l.Close()
		key := fmt.Sprintf("b%d", crashAt)
		if h, want := historyOf(t, l, "basic", key), scanHistory(t, l, "basic", key); len(h) == 0 || fmt.Sprint(h) != fmt.Sprint(want) {
			t.Fatalf("history of %s after reopen = %q, want the writes of block %d %q", key, h, crashAt, want)
		}
		commitAll(t, l, blocks[crashAt+1:])
		check(t, l)
	})

	t.Run("failed history update is redone by the next commit", func(t *testing.T) {
		l := openLedger(t, t.TempDir())
		defer l.Close()
		commitAll(t, l, blocks[:crashAt])
		l.beforeHistory = func(n uint64) error {
			if n == crashAt {
				return errSimulatedCrash
			}
			return nil
		}
		if err := l.Commit(cloneBlock(blocks[crashAt]), nil); !errors.Is(err, errSimulatedCrash) {
			t.Fatalf("Commit: err = %v, want the simulated failure", err)
		}
		commitAll(t, l, blocks[crashAt+1:])
		check(t, l)
	})

	t.Run("lost savepoint reindexes without duplicates", func(t *testing.T) {
		dir := t.TempDir()
		l := openLedger(t, dir)
		commitAll(t, l, blocks)
		l.Close()
		// Entries of blocks 2-4 stay, the savepoint goes back to block 1.
		db, err := leveldb.OpenFile(filepath.Join(dir, "history"), nil)
		must(t, err)
		must(t, db.Put(historySavepointKey, []byte{1}, nil))
		must(t, db.Close())
		l = openLedger(t, dir)
		defer l.Close()
		check(t, l)
	})

	t.Run("removed history folder is rebuilt", func(t *testing.T) {
		dir := t.TempDir()
		l := openLedger(t, dir)
		commitAll(t, l, blocks)
		l.Close()
		must(t, os.RemoveAll(filepath.Join(dir, "history")))
		l = openLedger(t, dir)
		defer l.Close()
		check(t, l)
	})

	t.Run("history ahead of the block store is refused", func(t *testing.T) {
		dir := t.TempDir()
		l := openLedger(t, dir)
		commitAll(t, l, blocks[:2])
		l.Close()
		db, err := leveldb.OpenFile(filepath.Join(dir, "history"), nil)
		must(t, err)
		must(t, db.Put(historySavepointKey, []byte{7}, nil))
		must(t, db.Close())
		if l, err := OpenWithOptions(dir, Options{Logger: quietLog}); err == nil {
			l.Close()
			t.Fatal("Open accepted a history index ahead of the block store")
		}
	})
}

// TestHistoryKeysDoNotCollide checks the index key layout: the prefix of one
// (ns, key) is never a prefix of another's entries.
func TestHistoryKeysDoNotCollide(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{{"a", "b"}, {"a\x00", "b"}, {"a", "\x00b"}, {"ab", ""}, {"a", "b\x00"}, {"", "ab"}, {"a", "b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}}
	var all []string
	for _, p := range pairs {
		all = append(all, string(historyKey(p[0], p[1], 7, 3)))
	}
	for i, p := range pairs {
		prefix := string(historyPrefix(p[0], p[1]))
		for j, k := range all {
			if i != j && strings.HasPrefix(k, prefix) {
				t.Fatalf("entry of %q/%q falls under the prefix of %q/%q", pairs[j][0], pairs[j][1], p[0], p[1])
			}
		}
	}
	sorted := []string{string(historyKey("n", "k", 1, 9)), string(historyKey("n", "k", 2, 0)), string(historyKey("n", "k", 0, 5))}
	sort.Strings(sorted)
	if sorted[0] != string(historyKey("n", "k", 0, 5)) || sorted[2] != string(historyKey("n", "k", 2, 0)) {
		t.Fatal("index keys of one (ns, key) do not sort by (block, tx)")
	}
}
