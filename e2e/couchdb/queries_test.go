package couchdb

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
)

// The asset-transfer-queries sample: Fabric's contract API, rich queries,
// and a CouchDB index in its package.
const (
	queriesDir    = "../../samples/asset-transfer-queries"
	queriesPath   = "github.com/weft-ledger/weft/samples/asset-transfer-queries"
	queriesName   = "queries"
	queriesLabel  = "queries_1.0"
	ownerIndex    = "indexOwner"                                       // its index's name
	ownerDDoc     = "_design/indexOwnerDoc"                            // and design document
	indexFilePath = "META-INF/statedb/couchdb/indexes/indexOwner.json" // in code.tar.gz
)

// queryAsset is an asset of the sample, as its functions return it.
type queryAsset struct {
	DocType        string `json:"docType"`
	ID             string `json:"assetID"`
	Color          string `json:"color"`
	Size           int    `json:"size"`
	Owner          string `json:"owner"`
	AppraisedValue int    `json:"appraisedValue"`
}

// queryPage is the sample's QueryAssetsWithPagination answer.
type queryPage struct {
	Records             []queryAsset `json:"records"`
	FetchedRecordsCount int32        `json:"fetchedRecordsCount"`
	Bookmark            string       `json:"bookmark"`
}

// queriesRun is the deployed sample, with a gateway to each peer.
type queriesRun struct {
	n    *devnet.Network
	org1 *client.Contract // through peer0.org1's gateway
	org2 *client.Contract // through peer0.org2's gateway
}

// TestQueries deploys asset-transfer-queries as a Go source package the
// peers build (packaged as `weft chaincode package --lang golang` packages
// it, the index at the root of code.tar.gz) and checks its index, its
// queries and Fabric's semantics of a rich query inside a transaction.
func TestQueries(t *testing.T) {
	n := network(t)
	pkg, err := wclient.GoSourcePackage(queriesLabel, queriesDir, queriesPath)
	if err != nil {
		t.Fatal(err)
	}
	devnettest.Deploy(t, n, devnettest.Chaincode{
		Name: queriesName, Label: queriesLabel, Package: pkg,
		// A rich query: the build, the launch and CouchDB's answer at once.
		WarmUp: []string{"QueryAssetsByOwner", "nobody"}, WarmUpResult: "[]",
	})
	r := &queriesRun{
		n:    n,
		org1: devnettest.Gateway(t, n, n.Orgs[0], "User1").GetNetwork(devnet.ChannelID).GetContract(queriesName),
		org2: devnettest.Gateway(t, n, n.Orgs[1], "User1").GetNetwork(devnet.ChannelID).GetContract(queriesName),
	}
	t.Run("index", r.index)
	t.Run("by owner", r.byOwner)
	t.Run("pagination", r.pagination)
	t.Run("updated result is an MVCC conflict", r.updatedResult)
	t.Run("new match is a phantom", r.phantom)
}

// index checks that each peer created the packaged index in its database
// of the chaincode when the definition was committed.
func (r *queriesRun) index(t *testing.T) {
	for _, o := range r.n.Orgs {
		db := peerDatabase(t, r.n, o, queriesName)
		got, status := getJSON(t, db+"/_index")
		if status != 200 {
			t.Fatalf("%s: GET _index of its %s database: %d %v", o.Peer, queriesName, status, got)
		}
		var found bool
		var names []string
		for _, ix := range got["indexes"].([]any) {
			ix := ix.(map[string]any)
			names = append(names, fmt.Sprint(ix["ddoc"], "/", ix["name"]))
			if ix["name"] != ownerIndex || ix["ddoc"] != ownerDDoc {
				continue
			}
			found = true
			fields, _ := json.Marshal(ix["def"].(map[string]any)["fields"])
			if string(fields) != `[{"docType":"asc"},{"owner":"asc"}]` {
				t.Errorf("%s: index %s has fields %s, want docType and owner ascending", o.Peer, ownerIndex, fields)
			}
		}
		if !found {
			t.Fatalf("%s: the %s database has indexes %v, not %s/%s from %s", o.Peer, queriesName, names, ownerDDoc, ownerIndex, indexFilePath)
		}
	}
}

// byOwner checks that QueryAssetsByOwner, on both peers, returns exactly
// the owner's assets after creates, transfers and deletes.
func (r *queriesRun) byOwner(t *testing.T) {
	alice, bob, carol := uniqueID("alice"), uniqueID("bob"), uniqueID("carol")
	want := map[string][]string{alice: nil, bob: nil, carol: nil}
	var calls [][]string
	for i := range 8 {
		owner := []string{alice, alice, bob}[i%3]
		id := uniqueID("own")
		calls = append(calls, []string{"CreateAsset", id, "green", strconv.Itoa(i + 1), owner, "100"})
		want[owner] = append(want[owner], id)
	}
	r.submitAll(t, calls)
	r.checkOwners(t, want)

	// Alice's first asset goes to Carol, Bob's first is deleted.
	moved, deleted := want[alice][0], want[bob][0]
	r.submitAll(t, [][]string{{"TransferAsset", moved, carol}, {"DeleteAsset", deleted}})
	want[alice], want[carol], want[bob] = want[alice][1:], []string{moved}, want[bob][1:]
	r.checkOwners(t, want)
	if a := r.read(t, moved); a.Owner != carol || a.Color != "green" {
		t.Fatalf("ReadAsset %s after its transfer = %+v, want owner %s, other fields kept", moved, a, carol)
	}

	// QueryAssets takes any Mango query: here a range on size as well.
	query := fmt.Sprintf(`{"selector":{"docType":"asset","owner":%q,"size":{"$gte":4}}}`, alice)
	var bigger []queryAsset
	r.evaluateJSON(t, r.org2, &bigger, "QueryAssets", query)
	var wantBig []string
	for _, id := range want[alice] {
		if a := r.read(t, id); a.Size >= 4 {
			wantBig = append(wantBig, id)
		}
	}
	if got := assetIDs(bigger); !slices.Equal(got, sorted(wantBig)) {
		t.Fatalf("QueryAssets %s = %v, want %v", query, got, sorted(wantBig))
	}
}

// checkOwners queries each owner's assets on both peers.
func (r *queriesRun) checkOwners(t *testing.T, want map[string][]string) {
	t.Helper()
	for _, owner := range slices.Sorted(maps.Keys(want)) {
		for _, c := range []*client.Contract{r.org1, r.org2} {
			var got []queryAsset
			r.evaluateJSON(t, c, &got, "QueryAssetsByOwner", owner)
			if ids := assetIDs(got); !slices.Equal(ids, sorted(want[owner])) {
				t.Fatalf("QueryAssetsByOwner %s = %v, want %v", owner, ids, sorted(want[owner]))
			}
			for _, a := range got {
				if a.Owner != owner || a.DocType != "asset" {
					t.Fatalf("QueryAssetsByOwner %s returned %+v", owner, a)
				}
			}
		}
	}
}

// pagination chains QueryAssetsWithPagination pages of 5 by bookmark
// through 23 assets: every asset once, none twice, and an end.
func (r *queriesRun) pagination(t *testing.T) {
	const total, pageSize = 23, 5
	owner := uniqueID("pages")
	var calls [][]string
	var want []string
	for i := range total {
		id := uniqueID(fmt.Sprintf("page%02d", i))
		calls = append(calls, []string{"CreateAsset", id, "blue", strconv.Itoa(i), owner, "10"})
		want = append(want, id)
	}
	r.submitAll(t, calls)
	query := fmt.Sprintf(`{"selector":{"docType":"asset","owner":%q},"use_index":[%q,%q]}`, owner, ownerDDoc, ownerIndex)

	seen := map[string]int{}
	var sizes []int
	bookmark := ""
	for page := 0; ; page++ {
		if page > total/pageSize+1 {
			t.Fatalf("still paging after %d pages of %d (%d assets seen, sizes %v): the bookmark does not reach the end", page, pageSize, len(seen), sizes)
		}
		var p queryPage
		r.evaluateJSON(t, r.org1, &p, "QueryAssetsWithPagination", query, strconv.Itoa(pageSize), bookmark)
		if int(p.FetchedRecordsCount) != len(p.Records) || len(p.Records) > pageSize {
			t.Fatalf("page %d (bookmark %q): %d records, fetchedRecordsCount %d, page size %d", page, bookmark, len(p.Records), p.FetchedRecordsCount, pageSize)
		}
		sizes = append(sizes, len(p.Records))
		for _, a := range p.Records {
			if a.Owner != owner {
				t.Fatalf("page %d holds %+v, not an asset of %s", page, a, owner)
			}
			if prev, dup := seen[a.ID]; dup {
				t.Fatalf("asset %s on page %d and again on page %d (bookmark %q)", a.ID, prev, page, bookmark)
			}
			seen[a.ID] = page
		}
		if len(p.Records) < pageSize || p.Bookmark == "" {
			break
		}
		if p.Bookmark == bookmark {
			t.Fatalf("page %d returned the bookmark it was given, %q", page, bookmark)
		}
		bookmark = p.Bookmark
	}
	if got := slices.Sorted(maps.Keys(seen)); !slices.Equal(got, sorted(want)) {
		t.Fatalf("pages of %d (sizes %v) returned %d assets, want all %d once:\n got %v\nwant %v", pageSize, sizes, len(got), total, got, sorted(want))
	}
	t.Logf("%d assets in pages of %v", total, sizes)
}

// updatedResult endorses QueryAssetsByOwner as a transaction, commits an
// update of one of its results, then submits it: its read set holds the
// result's old version, so it is invalid, as in Fabric.
func (r *queriesRun) updatedResult(t *testing.T) {
	owner := uniqueID("mvcc")
	a1, a2 := uniqueID("mvcc1"), uniqueID("mvcc2")
	r.submitAll(t, [][]string{
		{"CreateAsset", a1, "red", "1", owner, "5"},
		{"CreateAsset", a2, "red", "2", owner, "5"},
	})
	tx := r.endorse(t, "QueryAssetsByOwner", owner)
	devnettest.SubmitEverywhere(t, r.n, r.org1, "TransferAsset", a2, uniqueID("other"))
	if st := r.submitEndorsed(t, tx); st.Code != pb.TxValidationCode_MVCC_READ_CONFLICT {
		t.Fatalf("a query transaction whose result %s was updated before it committed ended %s, want MVCC_READ_CONFLICT", a2, st.Code)
	}
}

// phantom endorses QueryAssetsByOwner as a transaction, commits a new asset
// of that owner, then submits it: rich queries are not re-executed at
// commit, so the new match goes unnoticed and the transaction is valid,
// as Fabric documents.
func (r *queriesRun) phantom(t *testing.T) {
	owner := uniqueID("phantom")
	a1, a2 := uniqueID("ph1"), uniqueID("ph2")
	devnettest.SubmitEverywhere(t, r.n, r.org1, "CreateAsset", a1, "gold", "1", owner, "5")
	tx := r.endorse(t, "QueryAssetsByOwner", owner)
	var endorsed []queryAsset
	if err := json.Unmarshal(tx.Result(), &endorsed); err != nil || !slices.Equal(assetIDs(endorsed), []string{a1}) {
		t.Fatalf("endorsed QueryAssetsByOwner %s = %s (%v), want %s alone", owner, tx.Result(), err, a1)
	}
	devnettest.SubmitEverywhere(t, r.n, r.org1, "CreateAsset", a2, "gold", "2", owner, "5")
	if st := r.submitEndorsed(t, tx); st.Code != pb.TxValidationCode_VALID {
		t.Fatalf("a query transaction with a new match (%s) committed before it ended %s, want VALID (phantoms of rich queries are not detected)", a2, st.Code)
	}
	var now []queryAsset
	r.evaluateJSON(t, r.org1, &now, "QueryAssetsByOwner", owner)
	if got := assetIDs(now); !slices.Equal(got, sorted([]string{a1, a2})) {
		t.Fatalf("QueryAssetsByOwner %s after both creates = %v, want %s and %s", owner, got, a1, a2)
	}
}

// TestMalformedIndexRefused installs a copy of the sample whose package
// holds an index definition that is not JSON: each peer refuses it naming
// the file.
func TestMalformedIndexRefused(t *testing.T) {
	n := network(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(queriesDir)); err != nil {
		t.Fatal(err)
	}
	const bad = "META-INF/statedb/couchdb/indexes/indexColor.json"
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(bad)), []byte(`{"index":{"fields":["color"]},"name":"indexColor"`), 0o644); err != nil {
		t.Fatal(err)
	}
	pkg, err := wclient.GoSourcePackage("queriesbad_1.0", dir, queriesPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, o := range n.Orgs {
		res, err := devnettest.Install(ctx, t, n, o, pkg)
		if err == nil {
			t.Fatalf("%s installed a package with a malformed index as %s", o.Peer, res.PackageId)
		}
		if !strings.Contains(err.Error(), bad) {
			t.Fatalf("%s refused the package with %q, which does not name %s", o.Peer, err, bad)
		}
		t.Logf("%s: %v", o.Peer, err)
	}
}

// submitAll submits every call (function and arguments) at once through
// peer0.org1's gateway, checks that each committed as valid, and waits
// until every peer has committed the last block among them.
func (r *queriesRun) submitAll(t *testing.T, calls [][]string) {
	t.Helper()
	var commits []*client.Commit
	for _, c := range calls {
		_, commit, err := r.org1.SubmitAsync(c[0], client.WithArguments(c[1:]...))
		if err != nil {
			t.Fatalf("%s %q: %s", c[0], c[1:], devnettest.ErrorText(err))
		}
		commits = append(commits, commit)
	}
	var last *client.Status
	for i, commit := range commits {
		st, err := commit.Status()
		if err != nil {
			t.Fatalf("%s %q: commit status: %v", calls[i][0], calls[i][1:], err)
		}
		if !st.Successful {
			t.Fatalf("%s %q: transaction %s ended %s", calls[i][0], calls[i][1:], st.TransactionID, st.Code)
		}
		if last == nil || st.BlockNumber > last.BlockNumber {
			last = st
		}
	}
	devnettest.WaitEveryPeer(t, r.n, last)
}

// endorse endorses fn as a transaction through peer0.org1's gateway
// without submitting it.
func (r *queriesRun) endorse(t *testing.T, fn string, args ...string) *client.Transaction {
	t.Helper()
	p, err := r.org1.NewProposal(fn, client.WithArguments(args...))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := p.Endorse()
	if err != nil {
		t.Fatalf("endorse %s %q: %s", fn, args, devnettest.ErrorText(err))
	}
	return tx
}

// submitEndorsed submits an endorsed transaction and returns its commit
// status, whatever it is.
func (r *queriesRun) submitEndorsed(t *testing.T, tx *client.Transaction) *client.Status {
	t.Helper()
	commit, err := tx.Submit()
	if err != nil {
		t.Fatalf("submit %s: %s", tx.TransactionID(), devnettest.ErrorText(err))
	}
	st, err := commit.Status()
	if err != nil {
		t.Fatalf("commit status of %s: %v", tx.TransactionID(), err)
	}
	return st
}

func (r *queriesRun) evaluateJSON(t *testing.T, c *client.Contract, v any, fn string, args ...string) {
	t.Helper()
	raw, err := c.EvaluateTransaction(fn, args...)
	if err != nil {
		t.Fatalf("%s %q: %s", fn, args, devnettest.ErrorText(err))
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s %q returned %q: %v", fn, args, raw, err)
	}
}

func (r *queriesRun) read(t *testing.T, id string) queryAsset {
	t.Helper()
	var a queryAsset
	r.evaluateJSON(t, r.org1, &a, "ReadAsset", id)
	return a
}

// assetIDs returns the assets' IDs, sorted.
func assetIDs(as []queryAsset) []string {
	ids := make([]string, 0, len(as))
	for _, a := range as {
		ids = append(ids, a.ID)
	}
	return sorted(ids)
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}
