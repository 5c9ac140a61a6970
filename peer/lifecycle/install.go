package lifecycle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
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
func ParsePackage(pkg []byte) (*PackageMetadata, error) {
	gz, err := gzip.NewReader(bytes.NewReader(pkg))
	if err != nil {
		return nil, fmt.Errorf("chaincode package is not gzip compressed: %w", err)
	}
	tr := tar.NewReader(gz)
	var md *PackageMetadata
	var code bool
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read chaincode package tar: %w", err)
		}
		switch hdr.Name {
		case "metadata.json":
			raw, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return nil, fmt.Errorf("read metadata.json: %w", err)
			}
			md = &PackageMetadata{}
			if err := json.Unmarshal(raw, md); err != nil {
				return nil, fmt.Errorf("metadata.json is not valid JSON: %w", err)
			}
		case "code.tar.gz":
			code = true
		default:
			return nil, fmt.Errorf("found unexpected file '%s' in chaincode package (want only metadata.json and code.tar.gz)", hdr.Name)
		}
	}
	if md == nil {
		return nil, fmt.Errorf("chaincode package has no metadata.json")
	}
	if !code {
		return nil, fmt.Errorf("chaincode package has no code.tar.gz")
	}
	if !labelRegexp.MatchString(md.Label) {
		return nil, fmt.Errorf("invalid label '%s' in metadata.json: a label starts with a letter or digit and holds only letters, digits, '_', '.', '+' and '-'", md.Label)
	}
	if md.Type == "" {
		return nil, fmt.Errorf("metadata.json of package %s has no type", md.Label)
	}
	return md, nil
}

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
