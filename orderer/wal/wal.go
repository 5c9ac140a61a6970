package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// LegacyFileName is the single file earlier versions kept the whole log in.
// Open adopts it as the first segment (it renames it); the record format is
// unchanged.
const LegacyFileName = "raft.wal"

// DefaultSegmentSize is the size past which a write starts a new segment.
const DefaultSegmentSize = 64 << 20

const (
	recEntry     byte = 1
	recHardState byte = 2
	recSnapshot  byte = 3

	headerSize = 8
	maxRecord  = 1 << 30

	segmentExt = ".wal"
	tmpExt     = ".tmp"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Save after Close.
var ErrClosed = errors.New("wal: closed")

// ErrCorrupt is wrapped by the error Open returns for damage that is not a
// torn tail (see CorruptError).
var ErrCorrupt = errors.New("wal: corrupt")

// CorruptError is damage Open refuses to repair: a record that is not intact
// where a torn write cannot have left it. Nothing on disk was changed.
type CorruptError struct {
	File   string // path of the segment
	Offset int64  // where the damaged record starts
	Reason string // what is wrong with it, and why it is not a torn tail
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("raft WAL segment %s is damaged at offset %d: %s. This is not a torn write from a crash, so the WAL is left as it is "+
		"rather than dropping entries or the saved vote that were acknowledged; restore the WAL folder from a backup, or rebuild this orderer's "+
		"copy of the channel from the other orderers (see \"A damaged Raft WAL\" in docs/ordering.md)", e.File, e.Offset, e.Reason)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Options tunes a WAL; the zero value uses the defaults.
type Options struct {
	// SegmentSize is the size past which a write starts a new segment
	// (default DefaultSegmentSize).
	SegmentSize int64
}

// State is what Open recovered: the latest snapshot (nil when none), the last
// hard state and the entries after the snapshot, conflicts already resolved
// (a later entry with an index replaces the earlier one and all after it).
type State struct {
	Snapshot  *raftpb.Snapshot
	HardState *raftpb.HardState
	Entries   []*raftpb.Entry
	// TruncatedBytes is how much of a torn tail Open discarded, TornFile and
	// TornOffset where (empty and 0 when nothing was).
	TruncatedBytes int64
	TornFile       string
	TornOffset     int64
	// Migrated reports that Open adopted a single-file WAL of an earlier
	// version as the first segment.
	Migrated bool
}

// Empty reports whether nothing was ever saved.
func (s *State) Empty() bool {
	return s.Snapshot == nil && s.HardState == nil && len(s.Entries) == 0
}

type segment struct {
	seq, index uint64 // sequence number; log index of the first entry it was started for
}

func (s segment) name() string { return fmt.Sprintf("%016x-%016x%s", s.seq, s.index, segmentExt) }

func parseSegmentName(name string) (segment, bool) {
	var s segment
	if !strings.HasSuffix(name, segmentExt) || len(name) != 33+len(segmentExt) {
		return s, false
	}
	seq, err1 := strconv.ParseUint(name[0:16], 16, 64)
	index, err2 := strconv.ParseUint(name[17:33], 16, 64)
	if err1 != nil || err2 != nil {
		return s, false
	}
	s = segment{seq: seq, index: index}
	return s, s.name() == name
}

// WAL is an open log: a directory of segments, written at the end of the
// last. Save and Close are safe for concurrent use, but a chain calls them
// from its single loop.
type WAL struct {
	mu   sync.Mutex
	dir  string
	opts Options
	segs []segment // live segments, ascending; the last one receives writes
	f    *os.File  // the last segment
	size int64     // bytes in f
	buf  []byte
	err  error // a failed write or sync: the WAL takes no more writes

	// What a new segment starts with, so that every segment from the one
	// holding the snapshot's index on replays to the same state.
	lastIndex uint64
	snap      *raftpb.Snapshot
	hs        *raftpb.HardState
}

// Open opens (creating if needed) the WAL in dir and replays it.
func Open(dir string) (*WAL, *State, error) { return OpenWithOptions(dir, Options{}) }

// OpenWithOptions is Open with explicit options.
//
// Recovery: a damaged record (cut short, a length out of range, or a checksum
// mismatch) is a torn tail, and is truncated, only when it is in the last
// segment and no intact record (a plausible length, a known type and a
// matching checksum) starts anywhere after it up to the end of the file.
// Damage anywhere else — in a segment that later segments follow, or with an
// intact record after it — and a checksummed record that does not decode are
// refused with a *CorruptError naming the segment and offset, and nothing is
// changed on disk.
func OpenWithOptions(dir string, opts Options) (*WAL, *State, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create WAL directory %s: %w", dir, err)
	}
	st := &State{}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, nil, err
	}
	// A single-file WAL of an earlier version is replayed where it is and
	// renamed into the first segment only once it replayed.
	legacy := filepath.Join(dir, LegacyFileName)
	if _, err := os.Stat(legacy); err == nil {
		if len(segs) > 0 {
			return nil, nil, fmt.Errorf("WAL directory %s holds both %s (a WAL of an earlier version) and segments; remove the one that is not current", dir, LegacyFileName)
		}
		segs, st.Migrated = []segment{{}}, true
	}
	if len(segs) == 0 {
		first := segment{}
		f, err := createSegment(dir, first, nil)
		if err != nil {
			return nil, nil, err
		}
		f.Close()
		segs = []segment{first}
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, nil, fmt.Errorf("%w: WAL directory %s: segment %d is missing between %s and %s", ErrCorrupt, dir, segs[i-1].seq+1, segs[i-1].name(), segs[i].name())
		}
	}
	var good int64
	for i, s := range segs {
		path := filepath.Join(dir, s.name())
		if st.Migrated {
			path = legacy
		}
		good, err = replaySegment(path, st, i == len(segs)-1)
		if err != nil {
			return nil, nil, err
		}
	}
	if err := st.checkContiguous(dir); err != nil {
		return nil, nil, err
	}
	last := filepath.Join(dir, segs[len(segs)-1].name())
	if st.Migrated {
		if err := os.Rename(legacy, last); err != nil {
			return nil, nil, fmt.Errorf("adopt %s as the first WAL segment: %w", legacy, err)
		}
		if err := syncDir(dir); err != nil {
			return nil, nil, err
		}
	}

	f, err := os.OpenFile(last, os.O_RDWR, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open WAL segment %s: %w", last, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if size > good {
		st.TruncatedBytes, st.TornFile, st.TornOffset = size-good, last, good
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("truncate torn tail of WAL segment %s at offset %d: %w", last, good, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	w := &WAL{dir: dir, opts: opts, segs: segs, f: f, size: good, snap: st.Snapshot, hs: st.HardState}
	w.lastIndex = st.lastIndex()
	return w, st, nil
}

// listSegments returns the segments in dir by sequence number and removes
// the leftovers of a segment creation a crash interrupted.
func listSegments(dir string) ([]segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list WAL directory %s: %w", dir, err)
	}
	var segs []segment
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, segmentExt+tmpExt) {
			// Never renamed into place: it holds nothing that is not in
			// the segment before it.
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("remove unfinished WAL segment: %w", err)
			}
			continue
		}
		if s, ok := parseSegmentName(name); ok {
			segs = append(segs, s)
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].seq < segs[j].seq })
	return segs, nil
}

// Segments returns the paths of the WAL segments in dir, oldest first.
func Segments(dir string) ([]string, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = filepath.Join(dir, s.name())
	}
	return out, nil
}

// replaySegment applies the records of one segment to st and returns the
// offset just after the last intact record. Damage is refused unless last
// is set and it is a torn tail.
func replaySegment(path string, st *State, last bool) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open WAL segment %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat WAL segment %s: %w", path, err)
	}
	size := fi.Size()
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	hdr := make([]byte, headerSize)
	for off < size {
		damage := ""
		k, err := io.ReadFull(r, hdr)
		n := binary.LittleEndian.Uint32(hdr[0:4])
		sum := binary.LittleEndian.Uint32(hdr[4:8])
		var body []byte
		switch {
		case err != nil && k == 0 && errors.Is(err, io.EOF):
			return off, nil
		case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
			return 0, fmt.Errorf("read WAL segment %s at offset %d: %w", path, off, err)
		case err != nil:
			damage = fmt.Sprintf("the record header is cut short (%d of %d bytes)", size-off, headerSize)
		case n == 0:
			damage = "the record length is 0"
		case n > maxRecord:
			damage = fmt.Sprintf("the record length %d is out of range", n)
		case int64(n) > size-off-headerSize:
			damage = fmt.Sprintf("the record declares %d bytes but only %d remain in the file", n, size-off-headerSize)
		default:
			body = make([]byte, n)
			if _, err := io.ReadFull(r, body); err != nil {
				return 0, fmt.Errorf("read WAL segment %s at offset %d: %w", path, off, err)
			}
			if crc32.Checksum(body, crcTable) != sum {
				damage = "checksum mismatch"
			}
		}
		if damage != "" {
			if !last {
				return 0, &CorruptError{File: path, Offset: off, Reason: damage + ", in a segment that later segments follow (it was complete and synced before the next one was started)"}
			}
			next, found, err := intactRecordAfter(f, off+1, size)
			if err != nil {
				return 0, fmt.Errorf("read WAL segment %s: %w", path, err)
			}
			if found && next < 0 {
				return 0, &CorruptError{File: path, Offset: off, Reason: fmt.Sprintf("%s, and the %d bytes after it could not all be checked for intact records", damage, size-off)}
			}
			if found {
				return 0, &CorruptError{File: path, Offset: off, Reason: fmt.Sprintf("%s, and an intact record follows at offset %d", damage, next)}
			}
			return off, nil // a torn tail: the caller truncates it
		}
		if err := st.apply(body[0], body[1:]); err != nil {
			// A checksummed record that does not decode is not a torn write.
			return 0, &CorruptError{File: path, Offset: off, Reason: fmt.Sprintf("the record passes its checksum but does not decode: %v", err)}
		}
		off += headerSize + int64(n)
	}
	return off, nil
}

// intactRecordAfter looks for an intact record starting anywhere in
// [from, size) of f: a length that fits, a known type followed by a
// protobuf tag of field 1 to 4, and a matching checksum. It reads that part
// of the file into memory, which happens only when a segment is damaged.
// The checksums it computes are bounded; when they run out it answers
// found with offset -1 (an intact record could not be ruled out).
func intactRecordAfter(f *os.File, from, size int64) (int64, bool, error) {
	if from >= size {
		return 0, false, nil
	}
	rest := make([]byte, size-from)
	if _, err := f.ReadAt(rest, from); err != nil && !errors.Is(err, io.EOF) {
		return 0, false, err
	}
	budget := 8*int64(len(rest)) + 256<<20
	for p := 0; p+headerSize+1 < len(rest); p++ {
		n := int(binary.LittleEndian.Uint32(rest[p:]))
		if n < 2 || n > maxRecord || n > len(rest)-p-headerSize {
			continue
		}
		if t := rest[p+headerSize]; t < recEntry || t > recSnapshot {
			continue
		}
		if tag := rest[p+headerSize+1]; tag>>3 < 1 || tag>>3 > 4 || (tag&7 != 0 && tag&7 != 2) {
			continue
		}
		if budget -= int64(n); budget < 0 {
			return -1, true, nil
		}
		body := rest[p+headerSize : p+headerSize+n]
		if crc32.Checksum(body, crcTable) == binary.LittleEndian.Uint32(rest[p+4:]) {
			return from + int64(p), true, nil
		}
	}
	return 0, false, nil
}

func (st *State) apply(typ byte, data []byte) error {
	switch typ {
	case recEntry:
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(data, e); err != nil {
			return err
		}
		// Drop entries the new one overwrites (same or higher index).
		for len(st.Entries) > 0 && st.Entries[len(st.Entries)-1].GetIndex() >= e.GetIndex() {
			st.Entries = st.Entries[:len(st.Entries)-1]
		}
		st.Entries = append(st.Entries, e)
	case recHardState:
		hs := &raftpb.HardState{}
		if err := proto.Unmarshal(data, hs); err != nil {
			return err
		}
		st.HardState = hs
	case recSnapshot:
		s := &raftpb.Snapshot{}
		if err := proto.Unmarshal(data, s); err != nil {
			return err
		}
		if st.Snapshot == nil || s.GetMetadata().GetIndex() > st.Snapshot.GetMetadata().GetIndex() {
			st.Snapshot = s
			idx := s.GetMetadata().GetIndex()
			i := 0
			for i < len(st.Entries) && st.Entries[i].GetIndex() <= idx {
				i++
			}
			st.Entries = st.Entries[i:]
		}
	default:
		return fmt.Errorf("unknown record type %d", typ)
	}
	return nil
}

// checkContiguous refuses a log with a hole: entries must follow each other
// and the snapshot without a gap (segments removed by hand would leave one).
func (st *State) checkContiguous(dir string) error {
	next := uint64(0)
	if st.Snapshot != nil {
		next = st.Snapshot.GetMetadata().GetIndex() + 1
	}
	for i, e := range st.Entries {
		if (i > 0 || st.Snapshot != nil) && e.GetIndex() != next {
			return fmt.Errorf("%w: WAL in %s: entry %d follows index %d (entries are missing; was a segment removed?)", ErrCorrupt, dir, e.GetIndex(), next-1)
		}
		next = e.GetIndex() + 1
	}
	return nil
}

func (st *State) lastIndex() uint64 {
	if n := len(st.Entries); n > 0 {
		return st.Entries[n-1].GetIndex()
	}
	return st.Snapshot.GetMetadata().GetIndex()
}

// Save appends, in this order, the snapshot (if not empty), the entries and the
// hard state (if not empty), then fsyncs when anything was written.
func (w *WAL) Save(snap *raftpb.Snapshot, entries []*raftpb.Entry, hs *raftpb.HardState) error {
	return w.Write(snap, entries, hs, true)
}

// Write is Save with the fsync optional. With sync false the records reach
// the file but not necessarily the disk: a crash may lose them (replay
// truncates a torn tail), and the next synced write makes them durable too.
// Raft allows this for a Ready whose MustSync is false (only the commit index
// moved, which a restarted node learns again). A snapshot is always synced,
// since ReleaseTo may then remove the segments it covers.
//
// When the last segment has grown past the segment size, Write starts a new
// one; a failed write or sync leaves the WAL refusing further writes (the
// file is cut back to where the write began, so no damaged record sits
// before later ones).
func (w *WAL) Write(snap *raftpb.Snapshot, entries []*raftpb.Entry, hs *raftpb.HardState, sync bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	if w.err != nil {
		return fmt.Errorf("WAL failed earlier: %w", w.err)
	}
	w.buf = w.buf[:0]
	var err error
	hasSnap := snap != nil && !raft.IsEmptySnap(snap)
	if hasSnap {
		if w.buf, err = appendRecord(w.buf, recSnapshot, snap); err != nil {
			return err
		}
		sync = true
	}
	for _, e := range entries {
		if w.buf, err = appendRecord(w.buf, recEntry, e); err != nil {
			return err
		}
	}
	hasHS := hs != nil && !raft.IsEmptyHardState(hs)
	if hasHS {
		if w.buf, err = appendRecord(w.buf, recHardState, hs); err != nil {
			return err
		}
	}
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.Write(w.buf); err != nil {
		return w.broken(fmt.Errorf("write WAL segment %s: %w", w.f.Name(), err))
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			return w.broken(fmt.Errorf("sync WAL segment %s: %w", w.f.Name(), err))
		}
	}
	w.size += int64(len(w.buf))
	if hasSnap {
		if idx := snap.GetMetadata().GetIndex(); w.snap == nil || idx > w.snap.GetMetadata().GetIndex() {
			w.snap = snap
			w.lastIndex = max(w.lastIndex, idx)
		}
	}
	if len(entries) > 0 {
		w.lastIndex = entries[len(entries)-1].GetIndex()
	}
	if hasHS {
		w.hs = hs
	}
	if w.size >= w.opts.SegmentSize {
		return w.cut()
	}
	return nil
}

// broken cuts the file back to the end of the last good write and makes the
// WAL refuse further writes.
func (w *WAL) broken(err error) error {
	if terr := w.f.Truncate(w.size); terr != nil {
		err = errors.Join(err, fmt.Errorf("cut back the failed write: %w", terr))
	}
	if _, serr := w.f.Seek(w.size, io.SeekStart); serr != nil {
		err = errors.Join(err, serr)
	}
	w.err = err
	return err
}

// cut syncs the last segment and starts the next one, which begins with the
// latest snapshot and hard state. The new segment is written under a
// temporary name and renamed into place once synced.
func (w *WAL) cut() error {
	if err := w.f.Sync(); err != nil {
		return w.broken(fmt.Errorf("sync WAL segment %s: %w", w.f.Name(), err))
	}
	next := segment{seq: w.segs[len(w.segs)-1].seq + 1, index: w.lastIndex + 1}
	var head []byte
	var err error
	if w.snap != nil {
		if head, err = appendRecord(head, recSnapshot, w.snap); err != nil {
			return err
		}
	}
	if w.hs != nil {
		if head, err = appendRecord(head, recHardState, w.hs); err != nil {
			return err
		}
	}
	f, err := createSegment(w.dir, next, head)
	if err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		f.Close()
		return fmt.Errorf("close WAL segment: %w", err)
	}
	w.f, w.size = f, int64(len(head))
	w.segs = append(w.segs, next)
	return nil
}

// createSegment writes a segment holding head under a temporary name, syncs
// it, renames it into place and syncs the directory. The file returned is
// open for writing at its end.
func createSegment(dir string, s segment, head []byte) (*os.File, error) {
	path := filepath.Join(dir, s.name())
	tmp := path + tmpExt
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create WAL segment %s: %w", tmp, err)
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	if len(head) > 0 {
		if _, err := f.Write(head); err != nil {
			return fail(fmt.Errorf("write WAL segment %s: %w", tmp, err))
		}
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync WAL segment %s: %w", tmp, err))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(fmt.Errorf("rename WAL segment into place: %w", err))
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open WAL directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync WAL directory %s: %w", dir, err)
	}
	return nil
}

// ReleaseTo removes the segments whose entries are all below index, which
// must not be above the latest snapshot saved: the segment holding index,
// the ones after it and the last segment (with the latest snapshot and hard
// state) stay. It returns the paths removed. Oldest go first, so a crash in
// between leaves a WAL that opens to the same state.
func (w *WAL) ReleaseTo(index uint64) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil, ErrClosed
	}
	if si := w.snap.GetMetadata().GetIndex(); index > si {
		return nil, fmt.Errorf("release WAL to index %d: the latest snapshot saved is at index %d", index, si)
	}
	var removed []string
	for len(w.segs) > 1 && w.segs[1].index <= index {
		path := filepath.Join(w.dir, w.segs[0].name())
		if err := os.Remove(path); err != nil {
			return removed, fmt.Errorf("remove WAL segment: %w", err)
		}
		removed = append(removed, path)
		w.segs = w.segs[1:]
	}
	if len(removed) > 0 {
		if err := syncDir(w.dir); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

func appendRecord(buf []byte, typ byte, m proto.Message) ([]byte, error) {
	start := len(buf)
	buf = append(buf, make([]byte, headerSize)...)
	buf = append(buf, typ)
	buf, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(buf, m)
	if err != nil {
		return buf[:start], fmt.Errorf("marshal WAL record: %w", err)
	}
	body := buf[start+headerSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(body, crcTable))
	return buf, nil
}

// Close closes the file; later Saves fail with ErrClosed.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
