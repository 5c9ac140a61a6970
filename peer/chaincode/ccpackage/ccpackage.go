package ccpackage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Size bounds: a file read into memory, and a file extracted to disk.
const (
	maxReadSize    = 256 << 20
	maxExtractSize = 1 << 30
)

// Split returns metadata.json and code.tar.gz of an install package.
func Split(raw []byte) (metadata, code []byte, err error) {
	files, err := ReadFiles(raw, "metadata.json", "code.tar.gz")
	if err != nil {
		return nil, nil, err
	}
	metadata, ok := files["metadata.json"]
	if !ok {
		return nil, nil, errors.New("chaincode package has no metadata.json")
	}
	code, ok = files["code.tar.gz"]
	if !ok {
		return nil, nil, errors.New("chaincode package has no code.tar.gz")
	}
	return metadata, code, nil
}

// ReadFiles returns the contents of the regular files of a tar.gz whose
// cleaned paths are among names; names it does not hold are absent from
// the map.
func ReadFiles(raw []byte, names ...string) (map[string][]byte, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
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
		name := entryName(hdr)
		if hdr.Typeflag != tar.TypeReg || !want[name] {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxReadSize))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		out[name] = b
	}
}

// Extract writes the regular files and folders of a tar.gz (a package's
// code.tar.gz) under dir, keeping the executable bit of files. Other entry
// types and entries that would land outside dir are refused.
func Extract(raw []byte, dir string) error {
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
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // pax metadata (git archive writes one); no file
		}
		name := entryName(hdr)
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
			if err := writeFile(target, tr, hdr.Mode); err != nil {
				return fmt.Errorf("extract %s: %w", name, err)
			}
		default:
			return fmt.Errorf("archive entry %q is not a regular file or folder (type %q); package only files and folders", hdr.Name, hdr.Typeflag)
		}
	}
}

func entryName(hdr *tar.Header) string {
	return path.Clean(strings.TrimPrefix(hdr.Name, "./"))
}

func writeFile(target string, r io.Reader, mode int64) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	perm := os.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, io.LimitReader(r, maxExtractSize))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
