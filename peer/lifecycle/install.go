package lifecycle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
)

// ErrPackageNotFound is returned when no installed package has the requested ID.
var ErrPackageNotFound = errors.New("lifecycle: chaincode package not installed")

// labelRegexp is the label syntax Fabric accepts (it keeps ':' out of labels,
// so a package ID splits unambiguously into label and hash).
var labelRegexp = regexp.MustCompile(`^[[:alnum:]][[:alnum:]_.+-]*$`)

// PackageMetadata is metadata.json of a chaincode package.
type PackageMetadata struct {
	Type  string `json:"type"`
	Label string `json:"label"`
	Path  string `json:"path,omitempty"`
}

// InstalledPackage describes one installed package.
type InstalledPackage struct {
	PackageID string
	Label     string
}

// PackageID returns the ID Fabric derives for a package: label:hex(sha256(package)).
func PackageID(label string, pkg []byte) string {
	sum := sha256.Sum256(pkg)
	return label + ":" + hex.EncodeToString(sum[:])
}

// ParsePackage checks that pkg is a chaincode install package — a gzipped tar
// holding exactly metadata.json and code.tar.gz — and returns its metadata.
// It applies ccpackage.DefaultLimits; see ParsePackageWithin.
func ParsePackage(pkg []byte) (*PackageMetadata, error) {
	return ParsePackageWithin(ccpackage.DefaultLimits, pkg)
}

// ParsePackageWithin is ParsePackage within limits: the package and its
// code.tar.gz are walked as the peer will extract them when it builds or
// runs the chaincode, so a package over the limits (a compression or entry
// bomb, paths too deep) or whose code.tar.gz holds links, devices, absolute
// paths or ".." is refused at install, with an error naming the entry and,
// for a limit, its configuration key. So is a package whose CouchDB index
// files are malformed or misplaced (see ReadIndexes), naming the file.
func ParsePackageWithin(limits ccpackage.Limits, pkg []byte) (*PackageMetadata, error) {
	var md *PackageMetadata
	var code []byte
	err := limits.Walk(pkg, "chaincode package", func(e ccpackage.Entry) error {
		switch e.Header.Name {
		case "metadata.json":
			if e.Header.Size > maxMetadataSize {
				return fmt.Errorf("metadata.json is %d bytes; a chaincode package's metadata.json may have at most %d", e.Header.Size, maxMetadataSize)
			}
			raw, err := io.ReadAll(e.Data)
			if err != nil {
				return fmt.Errorf("read metadata.json: %w", err)
			}
			md = &PackageMetadata{}
			if err := json.Unmarshal(raw, md); err != nil {
				return fmt.Errorf("metadata.json is not valid JSON: %w", err)
			}
		case "code.tar.gz":
			raw, err := io.ReadAll(e.Data)
			if err != nil {
				return fmt.Errorf("read code.tar.gz: %w", err)
			}
			code = raw
		default:
			return fmt.Errorf("found unexpected file '%s' in chaincode package (want only metadata.json and code.tar.gz)", e.Header.Name)
		}
		return nil
	})
	if err != nil {
		var le *ccpackage.LimitError
		if errors.As(err, &le) || strings.HasPrefix(err.Error(), "chaincode package: ") {
			return nil, err
		}
		return nil, fmt.Errorf("chaincode package: %w", err)
	}
	if md == nil {
		return nil, fmt.Errorf("chaincode package has no metadata.json")
	}
	if code == nil {
		return nil, fmt.Errorf("chaincode package has no code.tar.gz")
	}
	if !labelRegexp.MatchString(md.Label) {
		return nil, fmt.Errorf("invalid label '%s' in metadata.json: a label starts with a letter or digit and holds only letters, digits, '_', '.', '+' and '-'", md.Label)
	}
	if md.Type == "" {
		return nil, fmt.Errorf("metadata.json of package %s has no type", md.Label)
	}
	if err := limits.Check(code); err != nil {
		return nil, fmt.Errorf("chaincode package %s: %w", md.Label, err)
	}
	// Index definitions are checked now, where the user can still fix the
	// package; Fabric would find a bad one only when CouchDB refused it,
	// in a log line on each peer after the definition commits.
	if _, err := ReadIndexes(limits, code); err != nil {
		return nil, fmt.Errorf("chaincode package %s: %w", md.Label, err)
	}
	return md, nil
}

// maxMetadataSize bounds metadata.json.
const maxMetadataSize = 1 << 20

// packageStore keeps installed packages as <dir>/<packageID>.tar.gz.
type packageStore struct {
	dir string
	mu  sync.Mutex // serialises installs so concurrent installs of one package report "already installed" once
}

func (s *packageStore) path(packageID string) (string, error) {
	i := strings.LastIndexByte(packageID, ':')
	if i <= 0 || !labelRegexp.MatchString(packageID[:i]) || len(packageID)-i-1 != 64 {
		return "", fmt.Errorf("%w: '%s' is not a package ID (label:sha256-hex)", ErrPackageNotFound, packageID)
	}
	if _, err := hex.DecodeString(packageID[i+1:]); err != nil {
		return "", fmt.Errorf("%w: '%s' is not a package ID (label:sha256-hex)", ErrPackageNotFound, packageID)
	}
	return filepath.Join(s.dir, packageID+".tar.gz"), nil
}

func (s *packageStore) save(label string, pkg []byte) (string, error) {
	id := PackageID(label, pkg)
	p, err := s.path(id)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Stat(p); err == nil {
		return "", fmt.Errorf("chaincode already successfully installed (package ID '%s')", id)
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return "", fmt.Errorf("create chaincode folder %s: %w", s.dir, err)
	}
	tmp, err := os.CreateTemp(s.dir, ".install-*")
	if err != nil {
		return "", fmt.Errorf("save package %s: %w", id, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(pkg); err != nil {
		tmp.Close()
		return "", fmt.Errorf("save package %s: %w", id, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("save package %s: %w", id, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("save package %s: %w", id, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("save package %s: %w", id, err)
	}
	return id, nil
}

func (s *packageStore) load(packageID string) ([]byte, error) {
	p, err := s.path(packageID)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no package with ID '%s' in %s; install it first", ErrPackageNotFound, packageID, s.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read package %s: %w", packageID, err)
	}
	return b, nil
}

func (s *packageStore) list() ([]InstalledPackage, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list installed chaincodes in %s: %w", s.dir, err)
	}
	var out []InstalledPackage
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".tar.gz") {
			continue
		}
		id := strings.TrimSuffix(name, ".tar.gz")
		if _, err := s.path(id); err != nil {
			continue
		}
		out = append(out, InstalledPackage{PackageID: id, Label: id[:strings.LastIndexByte(id, ':')]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PackageID < out[j].PackageID })
	return out, nil
}

// has reports whether packageID is installed.
func (s *packageStore) has(packageID string) bool {
	path, err := s.path(packageID)
	if err != nil {
		return false
	}
	_, err = os.Stat(path)
	return err == nil
}
