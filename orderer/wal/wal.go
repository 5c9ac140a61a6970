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
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// FileName is the name of the log file inside the WAL directory.
const FileName = "raft.wal"

const (
	recEntry     byte = 1
	recHardState byte = 2
	recSnapshot  byte = 3

	headerSize = 8
	maxRecord  = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Save after Close.
var ErrClosed = errors.New("wal: closed")

// State is what Open recovered: the latest snapshot (nil when none), the last
// hard state and the entries after the snapshot, conflicts already resolved
// (a later entry with an index replaces the earlier one and all after it).
type State struct {
	Snapshot  *raftpb.Snapshot
	HardState *raftpb.HardState
	Entries   []*raftpb.Entry
	// TruncatedBytes is how much of a torn tail Open discarded.
	TruncatedBytes int64
}

// Empty reports whether nothing was ever saved.
func (s *State) Empty() bool {
	return s.Snapshot == nil && s.HardState == nil && len(s.Entries) == 0
}

// WAL is an open log file. Save and Close are safe for concurrent use, but a
// chain calls them from its single loop.
type WAL struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte
}

// Open opens (creating if needed) the WAL in dir and replays it.
func Open(dir string) (*WAL, *State, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create WAL directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open WAL %s: %w", path, err)
	}
	st, good, err := replay(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("replay WAL %s: %w", path, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if size > good {
		st.TruncatedBytes = size - good
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("truncate torn tail of WAL %s: %w", path, err)
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
	return &WAL{f: f}, st, nil
}

// replay reads records until the end or the first damaged one and returns the
// state and the offset just after the last good record.
func replay(f *os.File) (*State, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	st := &State{}
	var good int64
	hdr := make([]byte, headerSize)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return st, good, nil // clean end or torn header
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		sum := binary.LittleEndian.Uint32(hdr[4:8])
		if n == 0 || n > maxRecord {
			return st, good, nil
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return st, good, nil
		}
		if crc32.Checksum(body, crcTable) != sum {
			return st, good, nil
		}
		if err := st.apply(body[0], body[1:]); err != nil {
			// A checksummed record that does not decode is not a torn write:
			// refuse rather than silently drop acknowledged state.
			return nil, 0, fmt.Errorf("record at offset %d: %w", good, err)
		}
		good += int64(headerSize + n)
	}
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

// Save appends, in this order, the snapshot (if not empty), the entries and the
// hard state (if not empty), then fsyncs when anything was written.
func (w *WAL) Save(snap *raftpb.Snapshot, entries []*raftpb.Entry, hs *raftpb.HardState) error {
	return w.Write(snap, entries, hs, true)
}

// Write is Save with the fsync optional. With sync false the records reach
// the file but not necessarily the disk: a crash may lose them (replay
// truncates a torn tail), and the next synced write makes them durable too.
// Raft allows this for a Ready whose MustSync is false (only the commit index
// moved, which a restarted node learns again).
func (w *WAL) Write(snap *raftpb.Snapshot, entries []*raftpb.Entry, hs *raftpb.HardState, sync bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	w.buf = w.buf[:0]
	var err error
	if snap != nil && !raft.IsEmptySnap(snap) {
		if w.buf, err = appendRecord(w.buf, recSnapshot, snap); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if w.buf, err = appendRecord(w.buf, recEntry, e); err != nil {
			return err
		}
	}
	if hs != nil && !raft.IsEmptyHardState(hs) {
		if w.buf, err = appendRecord(w.buf, recHardState, hs); err != nil {
			return err
		}
	}
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.Write(w.buf); err != nil {
		return fmt.Errorf("write WAL: %w", err)
	}
	if !sync {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync WAL: %w", err)
	}
	return nil
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
