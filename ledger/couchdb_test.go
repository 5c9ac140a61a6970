package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/couchdb"
)

// The CouchDB backend has every capability the ledger uses.
var _ interface {
	statedb.Querier
	statedb.BulkLoader
	statedb.KeyValueChecker
} = (*couchdb.DB)(nil)

// couchURL is the CouchDB the test runs against, from WEFT_TEST_COUCHDB_URL.
func couchURL(t *testing.T) string {
	t.Helper()
	u := strings.TrimRight(os.Getenv("WEFT_TEST_COUCHDB_URL"), "/")
	if u == "" {
		t.Skip("set WEFT_TEST_COUCHDB_URL to a CouchDB 3 or CouchDB-compatible server, e.g. http://127.0.0.1:5984, to run this test (.ci/run starts one)")
	}
	return u
}

// dropDatabases deletes the server's databases whose names start with prefix.
func dropDatabases(t *testing.T, url, prefix string) {
	resp, err := http.Get(url + "/_all_dbs")
	if err != nil {
		t.Errorf("list databases: %v", err)
		return
	}
	defer resp.Body.Close()
	var names []string
	if err := json.NewDecoder(resp.Body).Decode(&names); err != nil {
		t.Errorf("list databases: %v", err)
		return
	}
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		req, _ := http.NewRequest(http.MethodDelete, url+"/"+strings.ReplaceAll(n, "/", "%2F"), nil)
		if r, err := http.DefaultClient.Do(req); err != nil {
			t.Errorf("drop %s: %v", n, err)
		} else {
			r.Body.Close()
		}
	}
}

// A ledger on the CouchDB backend: commits (through Preload), refuses a key
// CouchDB cannot hold at simulation, and answers rich queries, plain and
// paginated, recording their results as reads.
func TestLedgerOnCouchDB(t *testing.T) {
	url := couchURL(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "wl" + hex.EncodeToString(b) + "_"
	t.Cleanup(func() { dropDatabases(t, url, prefix) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := couchdb.Connect(ctx, couchdb.Config{Address: url, DatabasePrefix: prefix, MaxRetriesOnStartup: 1, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	state, err := client.OpenChannel("mychannel")
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenWithOptions(t.TempDir(), Options{Logger: quietLog, State: state})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := &simLedger{t: t, l: l}

	assets := map[string]string{}
	for i := 1; i <= 5; i++ {
		owner := "tom"
		if i%2 == 0 {
			owner = "ann"
		}
		assets[fmt.Sprintf("asset%d", i)] = fmt.Sprintf(`{"owner":%q,"size":%d}`, owner, i)
	}
	seedAssets(s, assets)
	// A second block reads and rewrites asset1: MVCC runs on preloaded keys.
	pub, _ := s.run(func(sim *Simulator) {
		v, err := sim.GetState("cc", "asset1")
		must(t, err)
		if string(v) != assets["asset1"] {
			t.Fatalf("asset1 = %s", v)
		}
		must(t, sim.SetState("cc", "asset1", []byte(`{"owner":"tom","size":10}`)))
	})
	if codes := s.commit([]*rwset.TxReadWriteSet{pub}, nil); codes[0] != pb.TxValidationCode_VALID {
		t.Fatalf("update of asset1: %v", codes)
	}

	s.run(func(sim *Simulator) {
		if err := sim.SetState("cc", "_bad", []byte("v")); err == nil || !strings.Contains(err.Error(), "refused by the state database") {
			t.Fatalf("write of _bad on CouchDB = %v", err)
		}
	})

	query := `{"selector":{"owner":"tom"}}`
	pub, _ = s.run(func(sim *Simulator) {
		it, err := sim.ExecuteQuery("cc", query)
		must(t, err)
		if got := strings.Join(collect(t, it, -1), ","); got != "cc/asset1,cc/asset3,cc/asset5" {
			t.Fatalf("rich query = %s", got)
		}
	})
	if got := strings.Join(publicReads(t, pub, "cc"), ","); got != "asset1@1:0,asset3@0:0,asset5@0:0" {
		t.Fatalf("reads = %s", got)
	}

	var pages []string
	s.run(func(sim *Simulator) {
		bookmark := ""
		for i := 0; i < 5; i++ {
			kvs, next, err := sim.ExecuteQueryPage("cc", query, bookmark, 2)
			must(t, err)
			var keys []string
			for _, kv := range kvs {
				keys = append(keys, kv.Key)
			}
			pages = append(pages, strings.Join(keys, ","))
			if bookmark = next; bookmark == "" {
				break
			}
		}
	})
	if got := strings.Join(pages, " | "); got != "asset1,asset3 | asset5" {
		t.Fatalf("pages = %s", got)
	}

	// A query on a collection's private data.
	pub, pvt := s.run(func(sim *Simulator) {
		must(t, sim.PutPrivateData("cc", "coll", "p1", []byte(`{"owner":"tom"}`)))
		must(t, sim.PutPrivateData("cc", "coll", "p2", []byte(`{"owner":"ann"}`)))
	})
	if codes := s.commit([]*rwset.TxReadWriteSet{pub}, map[uint64]*rwset.TxPvtReadWriteSet{0: pvt}); codes[0] != pb.TxValidationCode_VALID {
		t.Fatalf("private writes: %v", codes)
	}
	pub, _ = s.run(func(sim *Simulator) {
		it, err := sim.ExecuteQueryOnPrivateData("cc", "coll", query)
		must(t, err)
		if got := strings.Join(collect(t, it, -1), ","); got != "cc/p1" {
			t.Fatalf("private rich query = %s", got)
		}
	})
	if len(pub.NsRwset) != 0 {
		t.Fatalf("private rich query recorded %v", pub.NsRwset)
	}

	// The databases keep the savepoint of the last block.
	must(t, l.Close())
	state2, err := client.OpenChannel("mychannel")
	must(t, err)
	if sp, ok, err := state2.Savepoint(); err != nil || !ok || sp.BlockNum != 2 {
		t.Fatalf("savepoint after three blocks = %v %v %v", sp, ok, err)
	}
	// A fresh block store with this state: the state belongs to another ledger.
	if _, err := OpenWithOptions(t.TempDir(), Options{Logger: quietLog, State: state2}); !errors.Is(err, ErrStateAhead) {
		t.Fatalf("Open of a fresh ledger on a used CouchDB state = %v", err)
	}
}
