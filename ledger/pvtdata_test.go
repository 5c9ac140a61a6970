package ledger

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// Collections of chaincode "cc" in these tests, as Options.Collections
// reports them for this peer.
var testRules = map[string]CollectionRules{
	"mine":      {Member: true},
	"theirs":    {Member: false},
	"short":     {Member: true, BlockToLive: 3},
	"theirsBTL": {Member: false, BlockToLive: 2},
}

func testCollections(state statedb.DB, ns, coll string) (CollectionRules, error) {
	if state == nil {
		return CollectionRules{}, errors.New("no state handed in")
	}
	r, ok := testRules[coll]
	if !ok || ns != "cc" {
		return CollectionRules{}, fmt.Errorf("unknown collection %s/%s", ns, coll)
	}
	return r, nil
}

// pvtChain commits blocks of transactions simulated on the ledger itself.
type pvtChain struct {
	t    *testing.T
	dir  string
	l    *Ledger
	prev *cb.Block
	// withheld holds the private write sets of transactions committed
	// without them, by block and tx, for reconciliation.
	withheld map[[2]uint64]*rwset.TxPvtReadWriteSet
}

func newPvtChain(t *testing.T) *pvtChain {
	t.Helper()
	c := &pvtChain{t: t, dir: t.TempDir(), withheld: map[[2]uint64]*rwset.TxPvtReadWriteSet{}}
	c.open()
	t.Cleanup(func() { c.l.Close() })
	// Block 0: one public write, so that the chain has a start.
	c.commit(pub("genesis"))
	return c
}

func (c *pvtChain) open() {
	c.t.Helper()
	l, err := OpenWithOptions(c.dir, Options{Logger: quietLog, Collections: testCollections})
	if err != nil {
		c.t.Fatal(err)
	}
	c.l = l
}

func (c *pvtChain) reopen() {
	c.t.Helper()
	must(c.t, c.l.Close())
	c.open()
}

// ptx is one transaction: what it does, and whether its private write set
// is withheld from Commit (the peer did not receive it).
type ptx struct {
	run      func(s *Simulator) error
	withhold bool
}

func pub(key string) ptx {
	return ptx{run: func(s *Simulator) error { return s.SetState("cc", key, []byte("x")) }}
}

func pput(coll string, kv ...string) ptx {
	return ptx{run: func(s *Simulator) error {
		for i := 0; i < len(kv); i += 2 {
			if err := s.PutPrivateData("cc", coll, kv[i], []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	}}
}

func ppurge(coll, key string) ptx {
	return ptx{run: func(s *Simulator) error { return s.PurgePrivateData("cc", coll, key) }}
}

func withheld(tx ptx) ptx { tx.withhold = true; return tx }

// build simulates txs into the next block and the private sets handed to
// Commit; filter, when set, is the block's TRANSACTIONS_FILTER.
func (c *pvtChain) build(filter []byte, txs ...ptx) (*cb.Block, map[uint64]*rwset.TxPvtReadWriteSet) {
	c.t.Helper()
	n := uint64(0)
	if c.prev != nil {
		n = c.prev.Header.Number + 1
	}
	var envs [][]byte
	private := map[uint64]*rwset.TxPvtReadWriteSet{}
	for i, tx := range txs {
		id := txIDFor(n, i)
		s := c.l.NewSimulator(id)
		must(c.t, tx.run(s))
		pubSet, pvt, err := s.Results()
		must(c.t, err)
		s.Done()
		envs = append(envs, endorserEnvelope(id, pubSet))
		if pvt == nil {
			continue
		}
		if tx.withhold {
			c.withheld[[2]uint64{n, uint64(i)}] = pvt
		} else {
			private[uint64(i)] = pvt
		}
	}
	b := nextBlock(c.prev, envs...)
	if filter != nil {
		protos.SetTxFilter(b, filter)
	}
	return b, private
}

func (c *pvtChain) commitBlock(b *cb.Block, private map[uint64]*rwset.TxPvtReadWriteSet) *cb.Block {
	c.t.Helper()
	must(c.t, c.l.Commit(b, private))
	c.prev = b
	return b
}

func (c *pvtChain) commit(txs ...ptx) *cb.Block {
	c.t.Helper()
	b, private := c.build(nil, txs...)
	return c.commitBlock(b, private)
}

// reconciled returns the withheld private set of block/tx for coll.
func (c *pvtChain) reconciled(block, tx uint64, coll string) ReconciledPrivateData {
	c.t.Helper()
	for _, ns := range c.withheld[[2]uint64{block, tx}].GetNsPvtRwset() {
		for _, cs := range ns.CollectionPvtRwset {
			if cs.CollectionName == coll {
				return ReconciledPrivateData{Block: block, Tx: tx, Namespace: ns.Namespace, Collection: coll, Rwset: cs.Rwset}
			}
		}
	}
	c.t.Fatalf("no withheld private data of block %d tx %d collection %s", block, tx, coll)
	return ReconciledPrivateData{}
}

// read returns what GetPrivateData returns for cc/coll/key.
func (c *pvtChain) read(coll, key string) (string, error) {
	s := c.l.NewSimulator("read")
	defer s.Done()
	v, err := s.GetPrivateData("cc", coll, key)
	if v == nil {
		return "<nil>", err
	}
	return string(v), err
}

func (c *pvtChain) wantValue(coll, key, want string) {
	c.t.Helper()
	got, err := c.read(coll, key)
	if err != nil || got != want {
		c.t.Fatalf("GetPrivateData(%s, %s) = %s, %v; want %s", coll, key, got, err, want)
	}
}

func (c *pvtChain) hashed(coll, key string) *statedb.VersionedValue {
	c.t.Helper()
	vv, err := c.l.State().Get(HashedNamespace("cc", coll), string(keyHash(key)))
	must(c.t, err)
	return vv
}

func (c *pvtChain) private(coll, key string) *statedb.VersionedValue {
	c.t.Helper()
	vv, err := c.l.State().Get(PrivateNamespace("cc", coll), key)
	must(c.t, err)
	return vv
}

// storedKeys lists the keys of the stored private sets of block, as
// "tx/coll/key=value".
func (c *pvtChain) storedKeys(block uint64) []string {
	c.t.Helper()
	sets, err := c.l.PrivateData(block)
	must(c.t, err)
	var out []string
	for _, tx := range keys(sets) {
		for _, ns := range sets[tx].NsPvtRwset {
			for _, cs := range ns.CollectionPvtRwset {
				kv, err := decodeKVRWSet(cs.Rwset)
				must(c.t, err)
				for _, w := range kv.Writes {
					out = append(out, fmt.Sprintf("%d/%s/%s=%s", tx, cs.CollectionName, w.Key, w.Value))
				}
			}
		}
	}
	return out
}

func (c *pvtChain) missing() []string {
	c.t.Helper()
	ms, err := c.l.MissingPrivateData(100)
	must(c.t, err)
	return fmtMissing(ms)
}

func fmtMissing(ms []MissingPrivateData) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%d/%d %s/%s", m.Block, m.Tx, m.Namespace, m.Collection))
	}
	return out
}

func TestNonMemberKeepsHashesOnly(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	c.commit(pput("mine", "k", "m1"), pput("theirs", "k", "t1"))

	if c.hashed("mine", "k") == nil || c.hashed("theirs", "k") == nil {
		t.Fatal("hashes of both collections must be in the hashed state")
	}
	if c.private("theirs", "k") != nil {
		t.Fatal("private value of a collection this peer is not a member of was stored")
	}
	c.wantValue("mine", "k", "m1")
	_, err := c.read("theirs", "k")
	if !errors.Is(err, ErrPrivateDataNotAvailable) || !strings.Contains(err.Error(), "not a member of collection theirs") {
		t.Fatalf("GetPrivateData of a non-member collection = %v, want ErrPrivateDataNotAvailable saying the organisation is not a member", err)
	}
	if got := fmt.Sprint(c.storedKeys(1)); got != "[0/mine/k=m1]" {
		t.Fatalf("PrivateData(1) = %s, want only the member collection", got)
	}
	if got := c.missing(); len(got) != 0 {
		t.Fatalf("missing = %q, want nothing (a non-member is not entitled to the data)", got)
	}
	if _, err := c.l.PrivateData(2); !errors.Is(err, ErrBlockNotFound) {
		t.Fatalf("PrivateData of an uncommitted block = %v, want ErrBlockNotFound", err)
	}
}

func TestCollectionsErrorFailsCommit(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	b, private := c.build(nil, pput("unknown", "k", "v"))
	err := c.l.Commit(b, private)
	if err == nil || !strings.Contains(err.Error(), "cc/unknown") {
		t.Fatalf("Commit with a collection whose rules fail = %v, want an error naming cc/unknown", err)
	}
	if h := c.l.Blocks().Height(); h != 1 {
		t.Fatalf("height %d after a failed commit, want 1", h)
	}
}

func TestMissingPrivateDataRecordedNewestFirst(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)

	// MissingIn tells before the commit what the commit records.
	b, private := c.build([]byte{0, 0, byte(pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE), 0},
		withheld(pput("mine", "a", "1")), pput("mine", "b", "2"), withheld(pput("mine", "c", "3")), withheld(pput("theirs", "d", "4")))
	in, err := c.l.MissingIn(b, private)
	must(t, err)
	if got := fmt.Sprint(fmtMissing(in)); got != "[1/0 cc/mine]" {
		t.Fatalf("MissingIn = %s, want only tx 0 (tx 1 has its data, tx 2 is invalid, tx 3 is a non-member's)", got)
	}
	if in[0].TxID != txIDFor(1, 0) {
		t.Fatalf("MissingIn TxID = %s, want %s", in[0].TxID, txIDFor(1, 0))
	}
	c.commitBlock(b, private)
	c.commit(withheld(pput("mine", "e", "5")), withheld(pput("short", "f", "6")))

	if got := fmt.Sprint(c.missing()); got != "[2/1 cc/short 2/0 cc/mine 1/0 cc/mine]" {
		t.Fatalf("missing = %s, want newest block first", got)
	}
	ms, err := c.l.MissingPrivateData(1)
	must(t, err)
	if len(ms) != 1 || ms[0].Block != 2 {
		t.Fatalf("MissingPrivateData(1) = %v, want one entry of block 2", ms)
	}
	_, err = c.read("mine", "a")
	if !errors.Is(err, ErrPrivateDataNotAvailable) || !strings.Contains(err.Error(), "has not reached this peer yet") {
		t.Fatalf("GetPrivateData of missing data = %v, want ErrPrivateDataNotAvailable saying it has not arrived", err)
	}
	c.reopen()
	if got := len(c.missing()); got != 3 {
		t.Fatalf("%d missing entries after reopen, want 3", got)
	}
}

func TestCommitPrivateData(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	c.commit(withheld(pput("mine", "k", "v1", "j", "w1")), pput("mine", "other", "o"))
	c.commit(withheld(pput("mine", "later", "l1")))
	c.commit(pput("mine", "later", "l2"))

	good := c.reconciled(1, 0, "mine")
	forged := good
	forged.Rwset = protos.Marshal(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "k", Value: []byte("forged")}}})
	notMissing := ReconciledPrivateData{Block: 1, Tx: 1, Namespace: "cc", Collection: "mine", Rwset: forged.Rwset}

	stored, rejected, err := c.l.CommitPrivateData([]ReconciledPrivateData{forged, notMissing})
	must(t, err)
	if stored != 0 || len(rejected) != 1 || !strings.Contains(rejected[0].Error(), "block 1 tx 0 collection cc/mine") {
		t.Fatalf("CommitPrivateData(forged, not missing) = %d, %v; want nothing stored and the forged set refused naming block, tx and collection", stored, rejected)
	}
	if got := len(c.missing()); got != 2 {
		t.Fatalf("%d missing entries after a refused set, want 2", got)
	}

	stored, rejected, err = c.l.CommitPrivateData([]ReconciledPrivateData{good, c.reconciled(2, 0, "mine")})
	must(t, err)
	if stored != 2 || len(rejected) != 0 {
		t.Fatalf("CommitPrivateData = %d, %v; want 2 stored", stored, rejected)
	}
	if got := c.missing(); len(got) != 0 {
		t.Fatalf("missing after reconciliation = %q, want none", got)
	}
	c.wantValue("mine", "k", "v1")
	c.wantValue("mine", "j", "w1")
	// Block 3 rewrote "later": the reconciled older value must not replace it.
	c.wantValue("mine", "later", "l2")
	if got := fmt.Sprint(c.storedKeys(1)); got != "[0/mine/j=w1 0/mine/k=v1 1/mine/other=o]" {
		t.Fatalf("PrivateData(1) after reconciliation = %s", got)
	}
	if got := fmt.Sprint(c.storedKeys(2)); got != "[0/mine/later=l1]" {
		t.Fatalf("PrivateData(2) after reconciliation = %s", got)
	}

	// Reconciling again does nothing: the data is not missing any more.
	stored, rejected, err = c.l.CommitPrivateData([]ReconciledPrivateData{good})
	if err != nil || stored != 0 || len(rejected) != 0 {
		t.Fatalf("CommitPrivateData again = %d, %v, %v; want it ignored", stored, rejected, err)
	}

	c.reopen()
	c.wantValue("mine", "k", "v1")
	if got := fmt.Sprint(c.storedKeys(1)); got != "[0/mine/j=w1 0/mine/k=v1 1/mine/other=o]" {
		t.Fatalf("PrivateData(1) after reopen = %s", got)
	}
	if got := c.missing(); len(got) != 0 {
		t.Fatalf("missing after reopen = %q, want none", got)
	}
}

// A set from which keys were removed (as a purge does on the peer that
// serves it) still verifies key by key; a key the block does not commit
// to does not.
func TestCommitPrivateDataVerifiesKeyByKey(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	c.commit(withheld(pput("mine", "k", "v1", "j", "w1")))

	cut := c.reconciled(1, 0, "mine")
	cut.Rwset = protos.Marshal(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "j", Value: []byte("w1")}}})
	extra := cut
	extra.Rwset = protos.Marshal(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "j", Value: []byte("w1")}, {Key: "z", Value: []byte("z")}}})

	stored, rejected, err := c.l.CommitPrivateData([]ReconciledPrivateData{extra})
	must(t, err)
	if stored != 0 || len(rejected) != 1 || !strings.Contains(rejected[0].Error(), `key "z"`) {
		t.Fatalf("CommitPrivateData(extra key) = %d, %v; want it refused naming the key", stored, rejected)
	}
	stored, rejected, err = c.l.CommitPrivateData([]ReconciledPrivateData{cut})
	must(t, err)
	if stored != 1 || len(rejected) != 0 {
		t.Fatalf("CommitPrivateData(cut set) = %d, %v; want it stored", stored, rejected)
	}
	c.wantValue("mine", "j", "w1")
}

func TestBlockToLive(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	// Block 1 (N): written with blockToLive 3, readable through block 4,
	// gone once block 5 commits. "re" is rewritten at block 3 and lives on
	// to block 7; "gap" is missing and "hash" is a non-member's (BTL 2).
	c.commit(pput("short", "k", "v1", "re", "r1"), withheld(pput("short", "gap", "g")), pput("theirsBTL", "hash", "h"))
	c.commit(pub("a"))
	c.commit(pput("short", "re", "r2"))
	if c.hashed("theirsBTL", "hash") == nil {
		t.Fatal("non-member hash gone at block 3, want it through block 3 (BTL 2)")
	}
	c.commit(pub("b")) // block 4 = N+3
	if c.hashed("theirsBTL", "hash") != nil {
		t.Fatal("non-member hash still there after block 4 (BTL 2 from block 1)")
	}
	c.wantValue("short", "k", "v1")
	c.wantValue("short", "re", "r2")
	if got := len(c.storedKeys(1)); got != 2 {
		t.Fatalf("block 1 stored keys = %d before expiry, want 2", got)
	}
	c.reopen()
	c.wantValue("short", "k", "v1")
	if got := fmt.Sprint(c.missing()); got != "[1/1 cc/short]" {
		t.Fatalf("missing before expiry = %s", got)
	}

	c.commit(pub("c")) // block 5 = N+4
	if c.hashed("short", "k") != nil || c.private("short", "k") != nil {
		t.Fatal("value or hash of k still there after block N+4 committed")
	}
	if c.hashed("short", "gap") != nil {
		t.Fatal("hash of the missing key still there after expiry")
	}
	if v, err := c.read("short", "k"); err != nil || v != "<nil>" {
		t.Fatalf("GetPrivateData of an expired key = %s, %v; want nil, nil", v, err)
	}
	c.wantValue("short", "re", "r2") // rewritten at block 3: not block 1's to remove
	if got := c.storedKeys(1); len(got) != 0 {
		t.Fatalf("block 1 stored sets after expiry = %q, want none", got)
	}
	if got := c.missing(); len(got) != 0 {
		t.Fatalf("missing after expiry = %q, want none", got)
	}
	stored, rejected, err := c.l.CommitPrivateData([]ReconciledPrivateData{c.reconciled(1, 1, "short")})
	if err != nil || stored != 0 || len(rejected) != 0 {
		t.Fatalf("CommitPrivateData of expired data = %d, %v, %v; want it dropped", stored, rejected, err)
	}
	if c.private("short", "gap") != nil {
		t.Fatal("expired reconciled data applied")
	}

	c.commit(pub("d"))
	c.reopen()
	c.wantValue("short", "re", "r2")
	c.commit(pub("e")) // block 7 = 3+4
	if c.hashed("short", "re") != nil || c.private("short", "re") != nil {
		t.Fatal("rewritten key still there after its own expiry")
	}
}

// Reconciled data expires like data received at commit.
func TestReconciledDataExpires(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	c.commit(withheld(pput("short", "k", "v")))
	c.commit(pub("a"))
	stored, _, err := c.l.CommitPrivateData([]ReconciledPrivateData{c.reconciled(1, 0, "short")})
	if err != nil || stored != 1 {
		t.Fatalf("CommitPrivateData = %d, %v", stored, err)
	}
	c.wantValue("short", "k", "v")
	c.reopen()
	c.commit(pub("b"))
	c.commit(pub("c"))
	c.wantValue("short", "k", "v")
	c.commit(pub("d")) // block 5 = 1+4
	if c.private("short", "k") != nil || c.hashed("short", "k") != nil {
		t.Fatal("reconciled value still there after its expiry")
	}
}

// A crash between the append of the expiry block and its state update:
// replay removes the expired data, exactly as the commit would have.
func TestBlockToLiveCrashReplay(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	c.commit(pput("short", "k", "v1"))
	for _, k := range []string{"a", "b", "c"} {
		c.commit(pub(k))
	}
	c.l.afterAppend = func(n uint64) error {
		if n == 5 {
			return errSimulatedCrash
		}
		return nil
	}
	b, private := c.build(nil, pub("d"))
	if err := c.l.Commit(b, private); !errors.Is(err, errSimulatedCrash) {
		t.Fatalf("Commit = %v, want the simulated crash", err)
	}
	c.prev = b
	if c.hashed("short", "k") == nil {
		t.Fatal("hash removed before the state update")
	}
	c.reopen()
	if c.hashed("short", "k") != nil || c.private("short", "k") != nil {
		t.Fatal("expired data still there after replay of the expiry block")
	}
	if got := c.storedKeys(1); len(got) != 0 {
		t.Fatalf("block 1 stored sets after replayed expiry = %q", got)
	}
}

func TestPurgeRemovesKeyFromStoredSets(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	c.commit(pput("mine", "k", "v1", "j", "w1"), pput("mine", "k", "v2"))
	c.commit(withheld(pput("mine", "k", "v3", "x", "x1")))
	c.commit(pput("mine", "only", "o"), ppurge("mine", "k"))
	c.commit(pput("mine", "k", "after"))

	if got := fmt.Sprint(c.storedKeys(1)); got != "[0/mine/j=w1]" {
		t.Fatalf("PrivateData(1) after the purge = %s, want k gone", got)
	}
	// The purge's own private set keeps its delete (no value): nothing to hide.
	if got := fmt.Sprint(c.storedKeys(3)); got != "[0/mine/only=o 1/mine/k=]" {
		t.Fatalf("PrivateData(3) = %s, want the purge's own delete kept", got)
	}
	if got := fmt.Sprint(c.storedKeys(4)); got != "[0/mine/k=after]" {
		t.Fatalf("PrivateData(4) = %s, want the write after the purge kept", got)
	}
	// The set withheld at block 2 arrives after the purge: the purged key
	// is neither stored nor applied.
	stored, rejected, err := c.l.CommitPrivateData([]ReconciledPrivateData{c.reconciled(2, 0, "mine")})
	if err != nil || stored != 1 || len(rejected) != 0 {
		t.Fatalf("CommitPrivateData = %d, %v, %v", stored, rejected, err)
	}
	if got := fmt.Sprint(c.storedKeys(2)); got != "[0/mine/x=x1]" {
		t.Fatalf("PrivateData(2) after reconciliation = %s, want the purged key left out", got)
	}
	c.wantValue("mine", "k", "after")
	c.wantValue("mine", "x", "x1")
}

// Sets in the layout of earlier versions (block ‖ tx → whole set, kept
// until the state was applied) are replayed and then dropped.
func TestLegacyPendingPrivateDataReplayed(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	c.l.afterAppend = func(uint64) error { return errSimulatedCrash }
	b, private := c.build(nil, pput("mine", "k", "v"))
	if err := c.l.Commit(b, private); !errors.Is(err, errSimulatedCrash) {
		t.Fatalf("Commit = %v", err)
	}
	// Rewrite the store as an earlier version left it.
	must(t, c.l.pvt.db.Delete(idKey(recSet, pvtID{block: 1, tx: 0, ns: "cc", coll: "mine"}), nil))
	legacyKey := appendU64(appendU64(nil, 1), 0)
	must(t, c.l.pvt.db.Put(legacyKey, protos.Marshal(private[0]), nil))
	c.reopen()
	c.wantValue("mine", "k", "v")
	if got := fmt.Sprint(c.storedKeys(1)); got != "[0/mine/k=v]" {
		t.Fatalf("PrivateData(1) = %s", got)
	}
	if ok, err := c.l.pvt.db.Has(legacyKey, nil); err != nil || ok {
		t.Fatalf("legacy entry still there: %v %v", ok, err)
	}
}

// The store drops what was written for a block whose append never completed.
func TestPrivateDataOfUnappendedBlockDropped(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	b, private := c.build(nil, pput("short", "k", "v"), withheld(pput("mine", "m", "v")))
	// Store the block's records, then "crash" before the append.
	p, err := c.l.prepare(b, protos.TxFilter(b), private, true)
	must(t, err)
	must(t, c.l.pvt.put(p.pvt, true))
	c.reopen()
	if got := c.missing(); len(got) != 0 {
		t.Fatalf("missing = %q, want the unappended block's entries dropped", got)
	}
	due, _, err := c.l.pvt.due(5)
	must(t, err)
	if len(due) != 0 {
		t.Fatalf("expiry schedule of an unappended block kept: %v", due)
	}
	c.commitBlock(b, private)
	if got := fmt.Sprint(c.storedKeys(1)); got != "[0/short/k=v]" {
		t.Fatalf("PrivateData(1) = %s", got)
	}
}

// A commit that stored its records but failed to append leaves nothing
// behind once the block is committed again with more private data.
func TestRetriedCommitReplacesPrivateRecords(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	b, _ := c.build(nil, withheld(pput("mine", "k", "v")))
	bad := cloneBlock(b)
	bad.Header.PreviousHash = []byte("not the previous block")
	if err := c.l.Commit(bad, nil); !errors.Is(err, ErrBadChain) {
		t.Fatalf("Commit of a block that does not chain = %v, want ErrBadChain", err)
	}
	c.commitBlock(b, map[uint64]*rwset.TxPvtReadWriteSet{0: c.withheld[[2]uint64{1, 0}]})
	if got := c.missing(); len(got) != 0 {
		t.Fatalf("missing = %q after the retry brought the data, want none", got)
	}
	c.wantValue("mine", "k", "v")
}

// As in Fabric, what blockToLive removes is not part of the commit hash:
// a peer that expires data records the same hashes as one that keeps it.
func TestBlockToLiveOutsideCommitHash(t *testing.T) {
	t.Parallel()
	c := newPvtChain(t)
	c.commit(pput("short", "k", "v"), pput("theirsBTL", "h", "x"))
	for _, k := range []string{"a", "b", "c", "d"} {
		c.commit(pub(k))
	}
	if c.hashed("short", "k") != nil {
		t.Fatal("the workload expires nothing")
	}
	keep := openLedger(t, t.TempDir()) // no Collections: nothing expires
	defer keep.Close()
	for n := uint64(0); n < c.l.Blocks().Height(); n++ {
		b := cloneBlock(mustBlock(t, c.l, n))
		private, err := c.l.PrivateData(n)
		must(t, err)
		must(t, keep.Commit(b, private))
	}
	for n := uint64(1); n < c.l.Blocks().Height(); n++ {
		want, _ := CommitHash(mustBlock(t, c.l, n))
		got, _ := CommitHash(mustBlock(t, keep, n))
		if len(want) == 0 || fmt.Sprintf("%x", got) != fmt.Sprintf("%x", want) {
			t.Fatalf("block %d: commit hash %x on the peer that keeps the data, %x on the one that expires it", n, got, want)
		}
	}
	if vv, err := keep.State().Get(HashedNamespace("cc", "short"), string(keyHash("k"))); err != nil || vv == nil {
		t.Fatalf("the ledger without blockToLive lost the hash: %v %v", vv, err)
	}
}
