package ledger

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
)

// TestMVCCScripts runs the scripts in testdata/*.txt. Grammar, one command a line
// ('#' starts a comment, ” stands for the empty string):
//
//	block                                   start a block
//	tx [CODE]                               start a tx; CODE is the filter the peer already set (default VALID)
//	read NS KEY VER|-                       public read at version B:T, '-' = absent
//	write NS KEY VALUE / delete NS KEY      public write / delete
//	range NS START END exhausted|partial [KEY@B:T ...]   range query with raw reads
//	hread NS COLL KEY VER|-                 hashed read
//	hwrite NS COLL KEY VALUE                hashed write (hashes of key and value)
//	expect CODE...                          commit the block, assert the final codes
//	state NS KEY VALUE B:T / absent NS KEY  assert committed state
func TestMVCCScripts(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			runScript(t, f)
		})
	}
}

type scriptTx struct {
	code pb.TxValidationCode
	ns   map[string]*kvrwset.KVRWSet
	coll map[string]map[string]*kvrwset.HashedRWSet
}

func (tx *scriptTx) kv(ns string) *kvrwset.KVRWSet {
	if tx.ns[ns] == nil {
		tx.ns[ns] = &kvrwset.KVRWSet{}
	}
	return tx.ns[ns]
}

func (tx *scriptTx) hashed(ns, coll string) *kvrwset.HashedRWSet {
	tx.kv(ns)
	if tx.coll[ns] == nil {
		tx.coll[ns] = map[string]*kvrwset.HashedRWSet{}
	}
	if tx.coll[ns][coll] == nil {
		tx.coll[ns][coll] = &kvrwset.HashedRWSet{}
	}
	return tx.coll[ns][coll]
}

func (tx *scriptTx) rwset() *rwset.TxReadWriteSet {
	out := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV}
	for _, ns := range sortedKeys(tx.ns) {
		n := &rwset.NsReadWriteSet{Namespace: ns, Rwset: protos.Marshal(tx.ns[ns])}
		for _, c := range sortedKeys(tx.coll[ns]) {
			n.CollectionHashedRwset = append(n.CollectionHashedRwset, &rwset.CollectionHashedReadWriteSet{CollectionName: c, HashedRwset: protos.Marshal(tx.coll[ns][c])})
		}
		out.NsRwset = append(out.NsRwset, n)
	}
	return out
}

func parseVersion(t *testing.T, where, s string) *kvrwset.Version {
	if s == "-" {
		return nil
	}
	b, tx, ok := strings.Cut(s, ":")
	bn, err1 := strconv.ParseUint(b, 10, 64)
	tn, err2 := strconv.ParseUint(tx, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("%s: bad version %q, want B:T or -", where, s)
	}
	return &kvrwset.Version{BlockNum: bn, TxNum: tn}
}

func parseCode(t *testing.T, where, s string) pb.TxValidationCode {
	c, ok := pb.TxValidationCode_value[s]
	if !ok {
		t.Fatalf("%s: unknown validation code %q", where, s)
	}
	return pb.TxValidationCode(c)
}

func unquote(s string) string {
	if s == "''" {
		return ""
	}
	return s
}

func runScript(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := openLedger(t, t.TempDir())
	defer l.Close()

	var prev *cb.Block
	var txs []*scriptTx
	inBlock := false
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		for i := range fields {
			fields[i] = unquote(fields[i])
		}
		where := fmt.Sprintf("%s:%d", path, line)
		need := func(n int) {
			if len(fields) < n {
				t.Fatalf("%s: %q needs %d arguments", where, fields[0], n-1)
			}
		}
		cur := func() *scriptTx {
			if len(txs) == 0 {
				t.Fatalf("%s: %q outside a tx", where, fields[0])
			}
			return txs[len(txs)-1]
		}
		switch fields[0] {
		case "block":
			if inBlock {
				t.Fatalf("%s: previous block has no expect line", where)
			}
			inBlock, txs = true, nil
		case "tx":
			if !inBlock {
				t.Fatalf("%s: tx outside a block", where)
			}
			tx := &scriptTx{ns: map[string]*kvrwset.KVRWSet{}, coll: map[string]map[string]*kvrwset.HashedRWSet{}}
			if len(fields) > 1 {
				tx.code = parseCode(t, where, fields[1])
			}
			txs = append(txs, tx)
		case "read":
			need(4)
			kv := cur().kv(fields[1])
			kv.Reads = append(kv.Reads, &kvrwset.KVRead{Key: fields[2], Version: parseVersion(t, where, fields[3])})
		case "write":
			need(4)
			kv := cur().kv(fields[1])
			kv.Writes = append(kv.Writes, &kvrwset.KVWrite{Key: fields[2], Value: []byte(fields[3])})
		case "delete":
			need(3)
			kv := cur().kv(fields[1])
			kv.Writes = append(kv.Writes, &kvrwset.KVWrite{Key: fields[2], IsDelete: true})
		case "range":
			need(5)
			q := &kvrwset.RangeQueryInfo{StartKey: fields[2], EndKey: fields[3], ItrExhausted: fields[4] == "exhausted"}
			reads := &kvrwset.QueryReads{}
			for _, r := range fields[5:] {
				k, v, ok := strings.Cut(r, "@")
				if !ok {
					t.Fatalf("%s: range read %q, want KEY@B:T", where, r)
				}
				reads.KvReads = append(reads.KvReads, &kvrwset.KVRead{Key: unquote(k), Version: parseVersion(t, where, v)})
			}
			q.ReadsInfo = &kvrwset.RangeQueryInfo_RawReads{RawReads: reads}
			kv := cur().kv(fields[1])
			kv.RangeQueriesInfo = append(kv.RangeQueriesInfo, q)
		case "hread":
			need(5)
			h := cur().hashed(fields[1], fields[2])
			kh := sha256.Sum256([]byte(fields[3]))
			h.HashedReads = append(h.HashedReads, &kvrwset.KVReadHash{KeyHash: kh[:], Version: parseVersion(t, where, fields[4])})
		case "hwrite":
			need(5)
			h := cur().hashed(fields[1], fields[2])
			kh, vh := sha256.Sum256([]byte(fields[3])), sha256.Sum256([]byte(fields[4]))
			h.HashedWrites = append(h.HashedWrites, &kvrwset.KVWriteHash{KeyHash: kh[:], ValueHash: vh[:]})
		case "expect":
			if !inBlock {
				t.Fatalf("%s: expect outside a block", where)
			}
			if len(fields)-1 != len(txs) {
				t.Fatalf("%s: %d expected codes for %d txs", where, len(fields)-1, len(txs))
			}
			num := uint64(0)
			if prev != nil {
				num = prev.Header.Number + 1
			}
			var envs [][]byte
			filter := make([]byte, len(txs))
			for i, tx := range txs {
				envs = append(envs, endorserEnvelope(txIDFor(num, i), tx.rwset()))
				filter[i] = byte(tx.code)
			}
			b := nextBlock(prev, envs...)
			protos.SetTxFilter(b, filter)
			if err := l.Commit(b, nil); err != nil {
				t.Fatalf("%s: Commit block %d: %v", where, num, err)
			}
			stored, err := l.Blocks().Block(num)
			if err != nil {
				t.Fatal(err)
			}
			got := protos.TxFilter(stored)
			for i, want := range fields[1:] {
				if c := pb.TxValidationCode(got[i]); c != parseCode(t, where, want) {
					t.Errorf("%s: block %d tx %d = %s, want %s", where, num, i, c, want)
				}
			}
			prev, inBlock = b, false
		case "state":
			need(5)
			vv, err := l.State().Get(fields[1], fields[2])
			if err != nil {
				t.Fatal(err)
			}
			want := parseVersion(t, where, fields[4])
			if vv == nil || string(vv.Value) != fields[3] || vv.Version.BlockNum != want.BlockNum || vv.Version.TxNum != want.TxNum {
				t.Errorf("%s: state %s/%s = %+v, want %q at %s", where, fields[1], fields[2], vv, fields[3], fields[4])
			}
		case "absent":
			need(3)
			vv, err := l.State().Get(fields[1], fields[2])
			if err != nil {
				t.Fatal(err)
			}
			if vv != nil {
				t.Errorf("%s: state %s/%s = %q, want absent", where, fields[1], fields[2], vv.Value)
			}
		default:
			t.Fatalf("%s: unknown command %q", where, fields[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if inBlock {
		t.Fatalf("%s: last block has no expect line", path)
	}
}
