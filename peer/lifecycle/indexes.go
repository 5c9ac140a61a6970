package lifecycle

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/mango"
)

// Where a package's code.tar.gz holds its state database files, as Fabric
// lays them out: Fabric's Go, Java and Node packagers move the chaincode
// folder's META-INF/ to the root of code.tar.gz (not under src/), and a
// CCaaS or external-builder package carries it there beside its other files.
// Fabric reads only META-INF/statedb/ of it.
const (
	statedbDir   = "META-INF/statedb/"
	couchdbDir   = statedbDir + "couchdb/"
	indexesDir   = couchdbDir + "indexes/"                    // <file>.json: indexes of the chaincode's namespace
	collIndexDir = couchdbDir + "collections/<name>/indexes/" // <file>.json: indexes of the collection's private data
)

// PackageIndexes are the CouchDB index definitions a chaincode package
// carries. Each statedb.Index is named by its path in code.tar.gz.
type PackageIndexes struct {
	// Chaincode are the indexes of the chaincode's namespace, from
	// META-INF/statedb/couchdb/indexes/, sorted by name.
	Chaincode []statedb.Index
	// Collections are, by collection name, the indexes of the collection's
	// private data (namespace <chaincode>$$p<collection>), from
	// META-INF/statedb/couchdb/collections/<name>/indexes/, sorted by name.
	Collections map[string][]statedb.Index
}

// Len returns the number of index definitions.
func (p *PackageIndexes) Len() int {
	n := len(p.Chaincode)
	for _, ixs := range p.Collections {
		n += len(ixs)
	}
	return n
}

// ReadIndexes returns the index definitions in code (a package's
// code.tar.gz), walked within limits, or an error naming the file at fault
// and why. Every regular file under META-INF/statedb/ must be an index
// definition where Fabric looks for one:
//
//	META-INF/statedb/couchdb/indexes/<file>.json
//	META-INF/statedb/couchdb/collections/<collection>/indexes/<file>.json
//
// (subfolders of an indexes/ folder count as that folder, as in Fabric),
// with <collection> a valid collection name, and its content must pass
// mango.CheckIndex. Files whose name starts with "." are skipped, as
// Fabric's packager skips them; files outside META-INF/statedb/ are not
// looked at. Entry paths are cleaned first, so "./META-INF/..." counts too.
func ReadIndexes(limits ccpackage.Limits, code []byte) (*PackageIndexes, error) {
	out := &PackageIndexes{}
	seen := map[string]bool{}
	err := limits.Walk(code, "code.tar.gz", func(e ccpackage.Entry) error {
		if e.Header.Typeflag != tar.TypeReg || !strings.HasPrefix(e.Name, statedbDir) {
			return nil
		}
		if strings.HasPrefix(path.Base(e.Name), ".") {
			return nil
		}
		coll, err := indexPlace(e.Name)
		if err != nil {
			return fmt.Errorf("index file %s: %w", e.Name, err)
		}
		if seen[e.Name] {
			return fmt.Errorf("index file %s: the archive holds it twice", e.Name)
		}
		seen[e.Name] = true
		if e.Header.Size > maxIndexSize {
			return fmt.Errorf("index file %s: %d bytes; an index definition may have at most %d", e.Name, e.Header.Size, maxIndexSize)
		}
		def, err := io.ReadAll(e.Data)
		if err != nil {
			return fmt.Errorf("index file %s: read: %w", e.Name, err)
		}
		if err := mango.CheckIndex(e.Name, def); err != nil {
			return err
		}
		ix := statedb.Index{Name: e.Name, Definition: def}
		if coll == "" {
			out.Chaincode = append(out.Chaincode, ix)
			return nil
		}
		if out.Collections == nil {
			out.Collections = map[string][]statedb.Index{}
		}
		out.Collections[coll] = append(out.Collections[coll], ix)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortIndexes(out.Chaincode)
	for _, ixs := range out.Collections {
		sortIndexes(ixs)
	}
	return out, nil
}

// maxIndexSize bounds one index definition read into memory.
const maxIndexSize = 1 << 20

func sortIndexes(ixs []statedb.Index) {
	sort.Slice(ixs, func(i, j int) bool { return ixs[i].Name < ixs[j].Name })
}

// indexPlace returns the collection whose index file name is ("" for the
// chaincode's own namespace), or why name, a path under META-INF/statedb/,
// is not where an index file may be. The reasons follow Fabric's packager.
func indexPlace(name string) (collection string, err error) {
	const where = "index files go in " + indexesDir + " or " + collIndexDir
	parts := strings.Split(strings.TrimPrefix(name, statedbDir), "/")
	switch {
	case len(parts) < 3:
		return "", fmt.Errorf("not in a database's indexes folder; %s", where)
	case parts[0] != "couchdb":
		return "", fmt.Errorf("state database %q is not supported (only couchdb); %s", parts[0], where)
	case parts[1] == "indexes":
	case parts[1] == "collections" && len(parts) >= 5 && parts[3] == "indexes":
		collection = parts[2]
		if !collectionNameRegexp.MatchString(collection) {
			return "", fmt.Errorf("%q is not a valid collection name (letters, digits, '-' and '_', not starting with '_')", collection)
		}
	default:
		return "", fmt.Errorf("not in an indexes folder; %s", where)
	}
	if !strings.HasSuffix(name, ".json") {
		return "", fmt.Errorf("an index file's name ends in .json")
	}
	return collection, nil
}
