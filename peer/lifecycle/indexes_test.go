package lifecycle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/mango"
)

// file is one entry of a test archive; a name ending in "/" is a folder.
type file struct{ name, body string }

// tarGz builds a gzipped tar of files, in order.
func tarGz(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil && hdr.Typeflag == tar.TypeReg {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// installPackage builds an install package of metadata.json and code.tar.gz.
func installPackage(t *testing.T, metadata string, code []byte) []byte {
	t.Helper()
	return tarGz(t, file{"metadata.json", metadata}, file{"code.tar.gz", string(code)})
}

const (
	ownerIndex = `{"index":{"fields":["docType","owner"]},"ddoc":"indexOwnerDoc","name":"indexOwner","type":"json"}`
	colorIndex = `{"index":{"fields":[{"color":"desc"},{"size":"desc"}]},"ddoc":"indexColorDoc","name":"indexColor","type":"json"}`
	collIndex  = `{"index":{"fields":["docType","owner"]},"ddoc":"indexCollectionDoc","name":"indexCollection","type":"json"}`
)

// goSourceCode is code.tar.gz as `peer lifecycle chaincode package --lang
// golang` writes it: the module's files under src/, and the chaincode
// folder's META-INF moved to the root.
func goSourceCode(t testing.TB) []byte {
	return tarGz(t,
		file{"src/", ""},
		file{"src/go.mod", "module example.com/marbles\n"},
		file{"src/marbles.go", "package main\n"},
		file{"META-INF/", ""},
		file{"META-INF/statedb/couchdb/indexes/", ""},
		file{"META-INF/statedb/couchdb/indexes/indexOwner.json", ownerIndex},
		file{"META-INF/statedb/couchdb/indexes/indexColor.json", colorIndex},
		file{"META-INF/statedb/couchdb/indexes/.DS_Store", "\x00\x01 not JSON"},
		file{"META-INF/statedb/couchdb/collections/collectionMarbles/indexes/indexCollMarbles.json", collIndex},
		// Outside META-INF/statedb/: not Fabric's business, nor ours.
		file{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"},
		file{"src/META-INF/statedb/couchdb/indexes/notAnIndex.json", "{"},
	)
}

func names(ixs []statedb.Index) []string {
	out := []string{}
	for _, ix := range ixs {
		out = append(out, ix.Name)
	}
	return out
}

func TestReadIndexesGoSourceLayout(t *testing.T) {
	got, err := ReadIndexes(ccpackage.DefaultLimits, goSourceCode(t))
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by file name, so every peer creates them in the same order.
	want := []string{"META-INF/statedb/couchdb/indexes/indexColor.json", "META-INF/statedb/couchdb/indexes/indexOwner.json"}
	if !reflect.DeepEqual(names(got.Chaincode), want) {
		t.Errorf("chaincode indexes %v, want %v", names(got.Chaincode), want)
	}
	if string(got.Chaincode[1].Definition) != ownerIndex {
		t.Errorf("indexOwner.json read as %q", got.Chaincode[1].Definition)
	}
	wantColl := map[string][]string{"collectionMarbles": {"META-INF/statedb/couchdb/collections/collectionMarbles/indexes/indexCollMarbles.json"}}
	gotColl := map[string][]string{}
	for c, ixs := range got.Collections {
		gotColl[c] = names(ixs)
	}
	if !reflect.DeepEqual(gotColl, wantColl) {
		t.Errorf("collection indexes %v, want %v", gotColl, wantColl)
	}
	if got.Len() != 3 {
		t.Errorf("Len() = %d, want 3", got.Len())
	}
}

func TestReadIndexesCCaaSAndExternalBuilderLayouts(t *testing.T) {
	// A CCaaS code.tar.gz made with `tar -C dir -czf code.tar.gz .`: every
	// path starts with "./".
	ccaas := tarGz(t,
		file{"./", ""},
		file{"./connection.json", `{"address":"cc.example.com:9999","dial_timeout":"10s","tls_required":false}`},
		file{"./META-INF/statedb/couchdb/indexes/indexOwner.json", ownerIndex},
	)
	got, err := ReadIndexes(ccpackage.DefaultLimits, ccaas)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"META-INF/statedb/couchdb/indexes/indexOwner.json"}; !reflect.DeepEqual(names(got.Chaincode), want) || len(got.Collections) != 0 {
		t.Errorf("CCaaS indexes %v %v, want %v", names(got.Chaincode), got.Collections, want)
	}

	// An external builder's package: whatever its builder reads, and
	// META-INF at the root like the others; indexes nested in a subfolder
	// of indexes/ count for that folder, as in Fabric.
	external := tarGz(t,
		file{"chaincode.jar", "PK\x03\x04"},
		file{"build.properties", "main=org.example.Main\n"},
		file{"META-INF/statedb/couchdb/indexes/by-owner/indexOwner.json", ownerIndex},
		file{"META-INF/statedb/couchdb/collections/private-1/indexes/indexColl.json", collIndex},
	)
	got, err = ReadIndexes(ccpackage.DefaultLimits, external)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Chaincode) != 1 || len(got.Collections["private-1"]) != 1 {
		t.Errorf("external-builder indexes %v %v", names(got.Chaincode), got.Collections)
	}

	// A package with no META-INF has no indexes.
	got, err = ReadIndexes(ccpackage.DefaultLimits, tarGz(t, file{"connection.json", "{}"}))
	if err != nil || got.Len() != 0 {
		t.Errorf("no META-INF: %v %v", got, err)
	}
}

// TestInstallRefusesMalformedIndexes installs packages of each kind whose
// index files Fabric would refuse, or CouchDB would: the install fails with
// the file's name and the reason, and nothing is installed.
func TestInstallRefusesMalformedIndexes(t *testing.T) {
	p := newTestPeer(t, "Org1MSP", twoOrgChannel())
	install := func(pkg []byte) *lb.InstallChaincodeResult {
		t.Helper()
		resp := p.lc.Call(context.Background(), &Invocation{Creator: p.admin}, input(FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg}))
		if resp.Status != 200 {
			t.Fatalf("install: %d %s", resp.Status, resp.Message)
		}
		res := &lb.InstallChaincodeResult{}
		if err := proto.Unmarshal(resp.Payload, res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	kinds := []struct{ kind, metadata, plain string }{
		{"golang", `{"type":"golang","label":"marbles_1","path":"example.com/marbles"}`, "src/marbles.go"},
		{"ccaas", `{"type":"ccaas","label":"marbles_1"}`, "connection.json"},
		{"external", `{"type":"external-jar","label":"marbles_1"}`, "chaincode.jar"},
	}
	// The well-formed package of each kind installs.
	for _, k := range kinds {
		code := tarGz(t, file{k.plain, "x"}, file{"META-INF/statedb/couchdb/indexes/indexOwner.json", ownerIndex},
			file{"META-INF/statedb/couchdb/collections/collectionMarbles/indexes/indexColl.json", collIndex})
		install(installPackage(t, k.metadata, code))
	}

	const ix = "META-INF/statedb/couchdb/indexes/"
	bad := []struct {
		name, body string
		want       string
	}{
		{ix + "bad.json", `{"index":{"fields":["owner"]`, "not valid JSON"},
		{ix + "bad.json", ``, "the file is empty"},
		{ix + "bad.json", `["owner"]`, "want a JSON object"},
		{ix + "bad.json", `{"index":{"fields":"owner"}}`, `"index.fields": must be a JSON array`},
		{ix + "bad.json", `{"index":{"fields":[]}}`, `"index.fields": must name at least one field`},
		{ix + "bad.json", `{"index":{"fields":[{"owner":"up"}]}}`, `must be "asc" or "desc"`},
		{ix + "bad.json", `{"fields":["owner"]}`, `"fields": unknown key`},
		{ix + "bad.json", `{"index":{"fields":["owner"]},"type":"text"}`, `"type": must be "json"`},
		{ix + "bad.json", `{"index":{"fields":["owner"]},"ddoc":7}`, `"ddoc": must be a string`},
		{ix + "indexOwner.txt", ownerIndex, "an index file's name ends in .json"},
		{ix + "indexOwner.json.bak", ownerIndex, "an index file's name ends in .json"},
		{"META-INF/statedb/couchdb/indexOwner.json", ownerIndex, "not in a database's indexes folder"},
		{"META-INF/statedb/indexOwner.json", ownerIndex, "not in a database's indexes folder"},
		{"META-INF/statedb/leveldb/indexes/indexOwner.json", ownerIndex, `state database "leveldb" is not supported`},
		{"META-INF/statedb/couchdb/index/indexOwner.json", ownerIndex, "not in an indexes folder"},
		{"META-INF/statedb/couchdb/collections/marbles/indexOwner.json", ownerIndex, "not in an indexes folder"},
		{"META-INF/statedb/couchdb/collections/marbles/idx/indexOwner.json", ownerIndex, "not in an indexes folder"},
		{"META-INF/statedb/couchdb/collections/_implicit_org_Org1MSP/indexes/a.json", ownerIndex, `"_implicit_org_Org1MSP" is not a valid collection name`},
		{"META-INF/statedb/couchdb/collections/my coll/indexes/a.json", ownerIndex, `"my coll" is not a valid collection name`},
		{"META-INF/statedb/couchdb/collections/coll$/indexes/a.json", ownerIndex, `"coll$" is not a valid collection name`},
	}
	for _, k := range kinds {
		for _, b := range bad {
			code := tarGz(t, file{k.plain, "x"}, file{b.name, b.body})
			resp := p.lc.Call(context.Background(), &Invocation{Creator: p.admin},
				input(FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: installPackage(t, k.metadata, code)}))
			if resp.Status != 500 || !strings.Contains(resp.Message, b.name) || !strings.Contains(resp.Message, b.want) {
				t.Errorf("%s package with %s = %q: %d %q, want a refusal naming the file and %q", k.kind, b.name, b.body, resp.Status, resp.Message, b.want)
			}
		}
	}
	// A file held twice would be created twice, in an order the tar decides.
	code := tarGz(t, file{"connection.json", "{}"}, file{ix + "a.json", ownerIndex}, file{"./" + ix + "a.json", colorIndex})
	resp := p.lc.Call(context.Background(), &Invocation{Creator: p.admin},
		input(FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: installPackage(t, kinds[1].metadata, code)}))
	if resp.Status != 500 || !strings.Contains(resp.Message, ix+"a.json: the archive holds it twice") {
		t.Errorf("duplicate index file: %d %q", resp.Status, resp.Message)
	}
	// Only the three good packages are installed.
	resp = p.lc.Call(context.Background(), &Invocation{Creator: p.admin}, input(FuncQueryInstalledChaincodes, &lb.QueryInstalledChaincodesArgs{}))
	list := &lb.QueryInstalledChaincodesResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, list) != nil || len(list.InstalledChaincodes) != 3 {
		t.Fatalf("installed after the refusals: %d %q %v", resp.Status, resp.Message, list)
	}
}

func TestReadIndexesErrors(t *testing.T) {
	// The definition's error wraps mango's sentinel, so callers can tell a
	// malformed definition from a misplaced file.
	_, err := ReadIndexes(ccpackage.DefaultLimits, tarGz(t, file{"META-INF/statedb/couchdb/indexes/a.json", "{}"}))
	if !errors.Is(err, mango.ErrInvalidIndex) || !strings.Contains(err.Error(), "META-INF/statedb/couchdb/indexes/a.json") {
		t.Errorf("empty definition: %v", err)
	}
	// An index file over the size bound is refused before it is read.
	big := `{"index":{"fields":["` + strings.Repeat("a", maxIndexSize) + `"]}}`
	_, err = ReadIndexes(ccpackage.DefaultLimits, tarGz(t, file{"META-INF/statedb/couchdb/indexes/big.json", big}))
	if err == nil || !strings.Contains(err.Error(), "big.json") || !strings.Contains(err.Error(), "at most") {
		t.Errorf("oversized definition: %v", err)
	}
	// The walk keeps the package limits.
	_, err = ReadIndexes(ccpackage.Limits{MaxEntries: 1}, goSourceCode(t))
	var le *ccpackage.LimitError
	if !errors.As(err, &le) {
		t.Errorf("over the entry limit: %v, want a *ccpackage.LimitError", err)
	}
}

// FuzzReadIndexes checks ReadIndexes on arbitrary code.tar.gz bytes: it
// never panics, and what it accepts is what the triggers rely on (each
// definition passes mango.CheckIndex, chaincode indexes sit in the indexes
// folder, collection indexes under a valid collection name, each list sorted).
func FuzzReadIndexes(f *testing.F) {
	for _, seed := range [][]byte{
		goSourceCode(f),
		tarGz(f, file{"./META-INF/statedb/couchdb/indexes/a.json", ownerIndex}),
		tarGz(f, file{"META-INF/statedb/couchdb/collections/c-1/indexes/sub/b.json", collIndex}),
		tarGz(f, file{"META-INF/statedb/couchdb/indexes/a.json", `{"index":{"fields":[]}}`}),
		tarGz(f, file{"META-INF/statedb/leveldb/indexes/a.json", ownerIndex}),
		[]byte("\x1f\x8b not a gzip stream"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, code []byte) {
		got, err := ReadIndexes(ccpackage.Limits{MaxBytes: 1 << 20, MaxEntries: 64}, code)
		if err != nil {
			return
		}
		check := func(ixs []statedb.Index, prefix string) {
			for i, ix := range ixs {
				if !strings.HasPrefix(ix.Name, prefix) || !strings.HasSuffix(ix.Name, ".json") {
					t.Fatalf("accepted %s as an index of %s", ix.Name, prefix)
				}
				if err := mango.CheckIndex(ix.Name, ix.Definition); err != nil {
					t.Fatalf("accepted %s, which CheckIndex refuses: %v", ix.Name, err)
				}
				if i > 0 && ixs[i-1].Name >= ix.Name {
					t.Fatalf("indexes not sorted: %s before %s", ixs[i-1].Name, ix.Name)
				}
			}
		}
		check(got.Chaincode, indexesDir)
		for c, ixs := range got.Collections {
			if !collectionNameRegexp.MatchString(c) {
				t.Fatalf("accepted collection name %q", c)
			}
			check(ixs, couchdbDir+"collections/"+c+"/indexes/")
		}
	})
}
