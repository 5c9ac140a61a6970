package chaincode

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Package is an installed chaincode package: a tar.gz holding metadata.json
// ({"type", "label", "path"}) and code.tar.gz.
type Package struct {
	Type  string // "golang", "ccaas", ...
	Label string
	Path  string
	Code  []byte // code.tar.gz
}

// ParsePackage decodes an installed chaincode package.
func ParsePackage(raw []byte) (*Package, error) {
	files, err := readTarGz(raw, map[string]bool{"metadata.json": true, "code.tar.gz": true})
	if err != nil {
		return nil, fmt.Errorf("read chaincode package: %w", err)
	}
	meta, ok := files["metadata.json"]
	if !ok {
		return nil, errors.New("chaincode package has no metadata.json")
	}
	var md struct {
		Type  string `json:"type"`
		Label string `json:"label"`
		Path  string `json:"path"`
	}
	if err := json.Unmarshal(meta, &md); err != nil {
		return nil, fmt.Errorf("decode chaincode package metadata.json: %w", err)
	}
	if md.Type == "" {
		return nil, errors.New("chaincode package metadata.json has no type")
	}
	code, ok := files["code.tar.gz"]
	if !ok {
		return nil, errors.New("chaincode package has no code.tar.gz")
	}
	return &Package{Type: strings.ToLower(md.Type), Label: md.Label, Path: md.Path, Code: code}, nil
}

// ConnectionInfo is connection.json of a chaincode-as-a-service package, as
// Fabric's ccaas builder defines it.
type ConnectionInfo struct {
	Address            string `json:"address"`
	DialTimeout        string `json:"dial_timeout"`
	TLSRequired        bool   `json:"tls_required"`
	ClientAuthRequired bool   `json:"client_auth_required"`
	ClientKey          string `json:"client_key"`  // PEM
	ClientCert         string `json:"client_cert"` // PEM
	RootCert           string `json:"root_cert"`   // PEM
}

// Timeout returns the dial timeout (default 10s).
func (c *ConnectionInfo) Timeout() (time.Duration, error) {
	if c.DialTimeout == "" {
		return 10 * time.Second, nil
	}
	d, err := time.ParseDuration(c.DialTimeout)
	if err != nil {
		return 0, fmt.Errorf("connection.json dial_timeout %q: %w", c.DialTimeout, err)
	}
	return d, nil
}

// Connection reads connection.json from the package's code.tar.gz.
func (p *Package) Connection() (*ConnectionInfo, error) {
	files, err := readTarGz(p.Code, map[string]bool{"connection.json": true})
	if err != nil {
		return nil, fmt.Errorf("read code.tar.gz: %w", err)
	}
	raw, ok := files["connection.json"]
	if !ok {
		return nil, errors.New("ccaas package has no connection.json in code.tar.gz")
	}
	ci := &ConnectionInfo{}
	if err := json.Unmarshal(raw, ci); err != nil {
		return nil, fmt.Errorf("decode connection.json: %w", err)
	}
	if ci.Address == "" {
		return nil, errors.New("connection.json has no address")
	}
	return ci, nil
}

// readTarGz returns the contents of the wanted regular files of a tar.gz.
func readTarGz(raw []byte, want map[string]bool) (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("untar: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if hdr.Typeflag != tar.TypeReg || !want[name] {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, 256<<20))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		out[name] = b
	}
}

// extractTarGz writes the regular files and directories of a tar.gz under
// dir, refusing entries that would escape it.
func extractTarGz(raw []byte, dir string) error {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("gunzip: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("untar: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if name == "." {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("archive entry %q escapes the extraction folder", hdr.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, io.LimitReader(tr, 1<<30))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("extract %s: %w", name, err)
			}
		}
	}
}
