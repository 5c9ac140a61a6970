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

// maxReadSize bounds one file read into memory (metadata.json, code.tar.gz,
// connection.json): a larger one is refused, never truncated.
const maxReadSize = 256 << 20

// Limits bound what reading or extracting one archive may cost. A zero field
// takes its value from DefaultLimits.
type Limits struct {
	// MaxBytes bounds the uncompressed size of the archive: its files, as
	// their headers declare them (checked before a byte of the file is read
	// or written), and the tar headers themselves.
	MaxBytes int64
	// MaxEntries bounds the entries of the archive, of any type.
	MaxEntries int
	// MaxPathDepth bounds the elements of an entry's path ("src/a/b.go" has 3).
	MaxPathDepth int
}

// DefaultLimits are the limits of a peer whose core.yaml does not set
// peer.limits.chaincodePackage.
var DefaultLimits = Limits{MaxBytes: 512 << 20, MaxEntries: 100_000, MaxPathDepth: 64}

// The configuration keys of the limits, which errors name.
const (
	KeyMaxBytes     = "peer.limits.chaincodePackage.maxBytes"
	KeyMaxEntries   = "peer.limits.chaincodePackage.maxEntries"
	KeyMaxPathDepth = "peer.limits.chaincodePackage.maxPathDepth"
)

func (l Limits) orDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultLimits.MaxEntries
	}
	if l.MaxPathDepth <= 0 {
		l.MaxPathDepth = DefaultLimits.MaxPathDepth
	}
	return l
}

// LimitError is an archive refused because it exceeds a limit.
type LimitError struct {
	Archive string // the archive: "chaincode package", "code.tar.gz"
	Entry   string // the entry at which the limit was exceeded, as named in the archive
	Limit   string // the configuration key of the limit
	Max     int64  // its value
	Got     int64  // what the archive needed
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case KeyMaxBytes:
		return fmt.Sprintf("%s: entry %q brings the uncompressed size to at least %d bytes, over the limit of %d bytes (%s)",
			e.Archive, e.Entry, e.Got, e.Max, e.Limit)
	case KeyMaxEntries:
		return fmt.Sprintf("%s: entry %q is entry number %d, over the limit of %d entries (%s)", e.Archive, e.Entry, e.Got, e.Max, e.Limit)
	default:
		return fmt.Sprintf("%s: entry %q has a path %d elements deep, over the limit of %d (%s)", e.Archive, e.Entry, e.Got, e.Max, e.Limit)
	}
}

// Entry is one entry of an archive being walked.
type Entry struct {
	Header *tar.Header
	Name   string    // the cleaned path ("./src/" is "src")
	Data   io.Reader // the file's bytes (regular files), at most Header.Size
}

// Walk calls fn for every entry of the tar.gz raw, in order, and refuses
// with a *LimitError (archive names the archive in errors) the entry at which
// the archive exceeds l: too many entries, a path too deep, or more
// uncompressed bytes than allowed, as declared or as read. fn may stop the
// walk with an error, which Walk returns as is.
func (l Limits) Walk(raw []byte, archive string, fn func(Entry) error) error {
	l = l.orDefaults()
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s: not gzip compressed (gunzip: %w)", archive, err)
	}
	cr := &countingReader{r: zr, max: l.MaxBytes}
	tr := tar.NewReader(cr)
	for n := int64(1); ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if cr.over {
				return &LimitError{Archive: archive, Entry: cr.entry, Limit: KeyMaxBytes, Max: l.MaxBytes, Got: cr.n}
			}
			return fmt.Errorf("%s: untar: %w", archive, err)
		}
		cr.entry = hdr.Name
		if n > int64(l.MaxEntries) {
			return &LimitError{Archive: archive, Entry: hdr.Name, Limit: KeyMaxEntries, Max: int64(l.MaxEntries), Got: n}
		}
		name := entryName(hdr)
		if d := depth(name); d > l.MaxPathDepth {
			return &LimitError{Archive: archive, Entry: hdr.Name, Limit: KeyMaxPathDepth, Max: int64(l.MaxPathDepth), Got: int64(d)}
		}
		if hdr.Size < 0 || cr.n+hdr.Size > l.MaxBytes {
			return &LimitError{Archive: archive, Entry: hdr.Name, Limit: KeyMaxBytes, Max: l.MaxBytes, Got: cr.n + hdr.Size}
		}
		if err := fn(Entry{Header: hdr, Name: name, Data: tr}); err != nil {
			if cr.over {
				return &LimitError{Archive: archive, Entry: hdr.Name, Limit: KeyMaxBytes, Max: l.MaxBytes, Got: cr.n}
			}
			return err
		}
	}
}

// countingReader counts the uncompressed bytes read and fails past max.
type countingReader struct {
	r     io.Reader
	n     int64
	max   int64
	over  bool
	entry string // the entry being read, for errors
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		c.over = true
		return n, errors.New("archive exceeds its size limit")
	}
	return n, err
}

func depth(name string) int {
	if name == "." || name == "" {
		return 0
	}
	return strings.Count(name, "/") + 1
}

// Split returns metadata.json and code.tar.gz of an install package, within
// DefaultLimits.
func Split(raw []byte) (metadata, code []byte, err error) {
	return DefaultLimits.Split(raw)
}

// Split returns metadata.json and code.tar.gz of an install package.
func (l Limits) Split(raw []byte) (metadata, code []byte, err error) {
	files, err := l.readFiles(raw, "chaincode package", "metadata.json", "code.tar.gz")
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
// the map. A name held twice gives the last one. It applies DefaultLimits.
func ReadFiles(raw []byte, names ...string) (map[string][]byte, error) {
	return DefaultLimits.ReadFiles(raw, names...)
}

// ReadFiles is the package's ReadFiles within l.
func (l Limits) ReadFiles(raw []byte, names ...string) (map[string][]byte, error) {
	return l.readFiles(raw, "archive", names...)
}

func (l Limits) readFiles(raw []byte, archive string, names ...string) (map[string][]byte, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string][]byte{}
	err := l.Walk(raw, archive, func(e Entry) error {
		if e.Header.Typeflag != tar.TypeReg || !want[e.Name] {
			return nil
		}
		if e.Header.Size > maxReadSize {
			return fmt.Errorf("%s: %s is %d bytes, over the %d bytes a file read into memory may have", archive, e.Header.Name, e.Header.Size, maxReadSize)
		}
		b, err := io.ReadAll(e.Data)
		if err != nil {
			return fmt.Errorf("%s: read %s: %w", archive, e.Name, err)
		}
		out[e.Name] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Check walks a tar.gz (a package's code.tar.gz) as Extract would, within l,
// without writing anything: it returns the error Extract would return for
// the archive's entries (a limit exceeded, a path leaving the folder, a
// link or other special entry).
func (l Limits) Check(raw []byte) error {
	return l.Walk(raw, "code.tar.gz", func(e Entry) error {
		_, err := checkEntry(e)
		return err
	})
}

// Extract writes the regular files and folders of a tar.gz (a package's
// code.tar.gz) under dir, within DefaultLimits.
func Extract(raw []byte, dir string) error {
	return DefaultLimits.Extract(raw, dir)
}

// Extract writes the regular files and folders of a tar.gz (a package's
// code.tar.gz) under dir, keeping the executable bit of files. Other entry
// types, entries that would land outside dir and archives over l are
// refused, naming the entry; a file is refused before any of it is written
// when its declared size would exceed l.MaxBytes.
func (l Limits) Extract(raw []byte, dir string) error {
	return l.Walk(raw, "code.tar.gz", func(e Entry) error {
		write, err := checkEntry(e)
		if err != nil || !write {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(e.Name))
		if e.Header.Typeflag == tar.TypeDir {
			return os.MkdirAll(target, 0o755)
		}
		if err := writeFile(target, e.Data, e.Header.Mode); err != nil {
			return fmt.Errorf("extract %s: %w", e.Name, err)
		}
		return nil
	})
}

// checkEntry refuses an entry Extract must not write; write is false for
// entries that carry nothing to write (pax global headers, ".").
func checkEntry(e Entry) (write bool, err error) {
	hdr := e.Header
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return false, nil // pax metadata (git archive writes one); no file
	}
	if e.Name == "." {
		return false, nil
	}
	if path.IsAbs(e.Name) || e.Name == ".." || strings.HasPrefix(e.Name, "../") {
		return false, fmt.Errorf("archive entry %q escapes the extraction folder", hdr.Name)
	}
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeReg:
		return true, nil
	default:
		return false, fmt.Errorf("archive entry %q is not a regular file or folder (type %q); package only files and folders", hdr.Name, hdr.Typeflag)
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
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
