package ledger

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-ledger/weft/statedb"
)

// decodeUpdates reads Fabric's Updates message back into one line per
// KVWrite, "ns|coll|key|del|value|version", with empty fields as written.
func decodeUpdates(t *testing.T, raw []byte) []string {
	t.Helper()
	var out []string
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			t.Fatalf("Updates: unexpected field %d type %d", num, typ)
		}
		raw = raw[n:]
		msg, n := protowire.ConsumeBytes(raw)
		if n < 0 {
			t.Fatal("Updates: truncated KVWrite")
		}
		raw = raw[n:]
		f := make([]string, 6)
		for len(msg) > 0 {
			num, typ, n := protowire.ConsumeTag(msg)
			msg = msg[n:]
			switch typ {
			case protowire.BytesType:
				v, n := protowire.ConsumeBytes(msg)
				msg = msg[n:]
				if num == 6 {
					f[5] = fmt.Sprintf("%x", v)
				} else {
					f[num-1] = string(v)
				}
			case protowire.VarintType:
				v, n := protowire.ConsumeVarint(msg)
				msg = msg[n:]
				f[num-1] = fmt.Sprint(v)
			default:
				t.Fatalf("KVWrite: field %d has type %d", num, typ)
			}
		}
		out = append(out, strings.Join(f, "|"))
	}
	return out
}

// TestCommitHashUpdatesLayout pins the layout Fabric's ledger hashes: namespaces
// in byte order, public keys before collections, collections by name, the
// namespace and collection named once per run, deletes without a value,
// private values left out and heights in the order-preserving encoding.
func TestCommitHashUpdatesLayout(t *testing.T) {
	b := statedb.NewBatch()
	b.Put("mycc", "k2", []byte("v2"), nil, statedb.Version{BlockNum: 5, TxNum: 0})
	b.Delete("mycc", "k1", statedb.Version{BlockNum: 5, TxNum: 1})
	b.Put(HashedNamespace("mycc", "zeta"), "h2", []byte("vh2"), nil, statedb.Version{BlockNum: 5, TxNum: 2})
	b.Put(HashedNamespace("mycc", "alpha"), "h9", []byte("vh9"), nil, statedb.Version{BlockNum: 5, TxNum: 2})
	b.Delete(HashedNamespace("mycc", "alpha"), "h1", statedb.Version{BlockNum: 5, TxNum: 2})
	b.Put(PrivateNamespace("mycc", "alpha"), "secret", []byte("never hashed"), nil, statedb.Version{BlockNum: 5, TxNum: 2})
	b.Put(HashedNamespace("onlyhashed", "c"), "h", []byte("vh"), nil, statedb.Version{BlockNum: 300, TxNum: 256})
	b.Put("a-b", "k", []byte("v"), nil, statedb.Version{BlockNum: 0, TxNum: 0})
	b.Put(HashedNamespace("a", "c"), "h", []byte("vh"), nil, statedb.Version{BlockNum: 1, TxNum: 0})

	got := decodeUpdates(t, commitHashUpdates(b))
	want := []string{
		// "a" sorts before "a-b", although "a$$hc" sorts after it.
		"a|c|h||vh|010100",
		"a-b||k||v|0000",
		"mycc||k1|1||01050101",
		"||k2||v2|010500",
		"|alpha|h1|1||01050102",
		"||h9||vh9|01050102",
		"|zeta|h2||vh2|01050102",
		"onlyhashed|c|h||vh|02012c020100",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Updates =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCommitHashAcrossRestart commits the Fabric fixture blocks with a
// restart in the middle: the reopened ledger chains on from the stored hash
// and still records what the Fabric peer recorded.
func TestCommitHashAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLedger(t, dir)
	for n := 0; n <= 9; n++ {
		if n == 5 {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openLedger(t, dir)
		}
		b := loadFixtureBlock(t, n)
		want, err := CommitHash(b)
		if err != nil {
			t.Fatal(err)
		}
		b.Metadata.Metadata[cb.BlockMetadataIndex_COMMIT_HASH] = nil
		if err := l.Commit(b, nil); err != nil {
			t.Fatal(err)
		}
		stored, err := l.Blocks().Block(uint64(n))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := CommitHash(stored); !bytes.Equal(got, want) {
			t.Fatalf("block %d: commit hash %x, Fabric recorded %x", n, got, want)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCommitHashDiverges commits the same blocks to two ledgers whose states
// differ (one had a key changed behind the ledger's back, as a corrupted or
// tampered state database would): from the first block whose verdict the
// difference changes, their commit hashes differ, and stay different.
func TestCommitHashDiverges(t *testing.T) {
	t.Parallel()
	good, bad := openLedger(t, t.TempDir()), openLedger(t, t.TempDir())
	defer good.Close()
	defer bad.Close()
	for n := 0; n <= 8; n++ {
		for _, l := range []*Ledger{good, bad} {
			if err := l.Commit(loadFixtureBlock(t, n), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Block 9 creates asset keys that must not exist yet: on the tampered
	// ledger one already does, so that CreateAsset fails MVCC there.
	b9 := loadFixtureBlock(t, 9)
	key := firstWrittenKey(t, b9, "basic")
	if err := statedb.Update(bad.State(), statedb.Version{BlockNum: 8}, func(batch *statedb.Batch) error {
		batch.Put("basic", key, []byte("planted"), nil, statedb.Version{BlockNum: 8, TxNum: 0})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h8g, _ := CommitHash(mustBlock(t, good, 8))
	h8b, _ := CommitHash(mustBlock(t, bad, 8))
	if !bytes.Equal(h8g, h8b) {
		t.Fatal("the ledgers disagree before the state was changed")
	}
	for _, l := range []*Ledger{good, bad} {
		if err := l.Commit(loadFixtureBlock(t, 9), nil); err != nil {
			t.Fatal(err)
		}
	}
	h9g, _ := CommitHash(mustBlock(t, good, 9))
	h9b, _ := CommitHash(mustBlock(t, bad, 9))
	if bytes.Equal(h9g, h9b) {
		t.Fatalf("block 9: both ledgers record commit hash %x although their verdicts differ", h9g)
	}
}

func mustBlock(t *testing.T, l *Ledger, n uint64) *cb.Block {
	t.Helper()
	b, err := l.Blocks().Block(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstWrittenKey returns the first key the first transaction of b writes in ns.
func firstWrittenKey(t *testing.T, b *cb.Block, ns string) string {
	t.Helper()
	sets, _ := txWriteSets(t, b.Data.Data[0])
	for _, s := range sets {
		if s.ns == ns && len(s.kv.Writes) > 0 {
			return s.kv.Writes[0].Key
		}
	}
	t.Fatalf("block %d tx 0 writes nothing in %s", b.Header.Number, ns)
	return ""
}
