package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	segs, err := Segments(dir)
	if err != nil || len(segs) == 0 {
		t.Fatalf("no WAL segments in %s: %v", dir, err)
	}
	return segs[len(segs)-1]
}

// recordOffsets walks a segment and returns where each record starts.
func recordOffsets(t *testing.T, raw []byte) []int64 {
	t.Helper()
	var offs []int64
	for off := 0; off+headerSize <= len(raw); {
		offs = append(offs, int64(off))
		off += headerSize + int(binary.LittleEndian.Uint32(raw[off:]))
	}
	return offs
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
}

// writeLog saves entries 1..n one per Save, with a hard state voting for
// node 3 in term 2 after the first.
func writeLog(t *testing.T, dir string, opts Options, n int) {
	t.Helper()
	w, _, err := OpenWithOptions(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		var hs *raftpb.HardState
		if i == 1 {
			hs = hardState(2, 3, 0)
		}
		if err := w.Save(nil, []*raftpb.Entry{entry(2, uint64(i), fmt.Sprintf("e%d", i))}, hs); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func wantCorrupt(t *testing.T, err error, file string, offset int64, reason string) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want a *CorruptError", err)
	}
	if ce.File != file || ce.Offset != offset || !strings.Contains(ce.Reason, reason) {
		t.Fatalf("CorruptError{%s, %d, %q}, want %s at offset %d, reason with %q", ce.File, ce.Offset, ce.Reason, file, offset, reason)
	}
	msg := err.Error()
	if !strings.Contains(msg, file) || !strings.Contains(msg, fmt.Sprintf("offset %d", offset)) || !strings.Contains(msg, "restore") {
		t.Fatalf("error %q does not name the file, the offset and what to do", msg)
	}
}

// A byte flipped in a record that later records follow is corruption, not a
// torn write: Open refuses, names the segment and the offset, and changes
// nothing on disk.
func TestMidFileCorruptionRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(raw []byte, rec int64)
		reason string
	}{
		{"payload byte flipped", func(raw []byte, rec int64) { raw[rec+headerSize+3] ^= 0x40 }, "checksum mismatch"},
		{"checksum byte flipped", func(raw []byte, rec int64) { raw[rec+5] ^= 0x01 }, "checksum mismatch"},
		// The length now runs past the end of the file, as a torn record's
		// would, but intact records follow it.
		{"length runs past EOF", func(raw []byte, rec int64) { raw[rec+2] = 0x7f }, "declares"},
		{"length zeroed", func(raw []byte, rec int64) { copy(raw[rec:rec+4], []byte{0, 0, 0, 0}) }, "length is 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeLog(t, dir, Options{}, 6)
			path := lastSegment(t, dir)
			raw, _ := os.ReadFile(path)
			offs := recordOffsets(t, raw)
			rec := offs[3] // entry 3: the hard state and entries 1-2 before it, 4-6 after
			tc.damage(raw, rec)
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)

			_, _, err := Open(dir)
			wantCorrupt(t, err, path, rec, tc.reason)
			if !strings.Contains(err.Error(), "intact record follows") {
				t.Fatalf("error %q does not say why this is not a torn tail", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Fatal("a refused Open changed the segment")
			}
			// Refused again, the same way: nothing was repaired behind the caller's back.
			_, _, err = Open(dir)
			wantCorrupt(t, err, path, rec, tc.reason)
		})
	}
}

// A torn tail — the last record cut short, or failing its checksum with
// nothing after it — is truncated; everything before it is kept, the vote
// included.
func TestTornTailKeepsEntriesAndVote(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(raw []byte, last int64) []byte
	}{
		{"declared length runs past EOF", func(raw []byte, last int64) []byte { return raw[:len(raw)-2] }},
		{"last record fails its checksum", func(raw []byte, last int64) []byte { raw[len(raw)-1] ^= 0xff; return raw }},
		{"header cut short", func(raw []byte, last int64) []byte { return raw[:last+5] }},
		{"zeros after the last record", func(raw []byte, last int64) []byte { return append(raw, make([]byte, 300)...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeLog(t, dir, Options{}, 4)
			path := lastSegment(t, dir)
			raw, _ := os.ReadFile(path)
			offs := recordOffsets(t, raw)
			last := offs[len(offs)-1]
			damaged := tc.damage(raw, last)
			if err := os.WriteFile(path, damaged, 0o644); err != nil {
				t.Fatal(err)
			}
			w, st, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			want := "e1 e2 e3"
			wantAt := last
			if tc.name == "zeros after the last record" {
				want, wantAt = "e1 e2 e3 e4", int64(len(raw))
			}
			if got := dataOf(st.Entries); got != want {
				t.Fatalf("entries = %q, want %q", got, want)
			}
			if hs := st.HardState; hs.GetVote() != 3 || hs.GetTerm() != 2 {
				t.Fatalf("hard state %v: the vote was lost", hs)
			}
			if st.TornFile != path || st.TornOffset != wantAt || st.TruncatedBytes != int64(len(damaged))-wantAt {
				t.Fatalf("torn tail reported as %d bytes at %s:%d, want %d at %d", st.TruncatedBytes, st.TornFile, st.TornOffset, int64(len(damaged))-wantAt, wantAt)
			}
			if fi, _ := os.Stat(path); fi.Size() != wantAt {
				t.Fatalf("segment is %d bytes after recovery, want %d", fi.Size(), wantAt)
			}
		})
	}
}

// Damage in a segment that later segments follow is refused even where it
// looks like a torn tail: that segment was synced before the next began.
func TestDamagedEarlierSegmentRefused(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, Options{SegmentSize: 50}, 12)
	segs, _ := Segments(dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	first := segs[0]
	raw, _ := os.ReadFile(first)
	offs := recordOffsets(t, raw)
	last := offs[len(offs)-1]
	if err := os.WriteFile(first, raw[:len(raw)-1], 0o644); err != nil { // cut its last record short
		t.Fatal(err)
	}
	_, _, err := Open(dir)
	wantCorrupt(t, err, first, last, "later segments follow")
	if after, _ := Segments(dir); len(after) != len(segs) {
		t.Fatalf("segments %v after a refused Open, want %v", after, segs)
	}
}

func TestMissingSegmentRefused(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, Options{SegmentSize: 50}, 12)
	segs, _ := Segments(dir)
	if err := os.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "segment 1 is missing") {
		t.Fatalf("Open = %v, want the missing segment named", err)
	}
}

// The WAL rotates into segments named by sequence and first index; after a
// snapshot, ReleaseTo removes the segments it covers, and the rest replays to
// exactly the entries after the snapshot, the hard state and the snapshot.
func TestSegmentsReleasedAfterSnapshot(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4 << 10}
	w, _, err := OpenWithOptions(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("x", 500)
	save := func(from, to uint64, hs *raftpb.HardState) {
		t.Helper()
		var es []*raftpb.Entry
		for i := from; i <= to; i++ {
			es = append(es, entry(3, i, fmt.Sprintf("%d:%s", i, payload)))
		}
		if err := w.Save(nil, es, hs); err != nil {
			t.Fatal(err)
		}
	}
	for i := uint64(1); i <= 60; i += 2 {
		save(i, i+1, hardState(3, 2, i))
	}
	segs, _ := Segments(dir)
	if len(segs) < 5 {
		t.Fatalf("%d segments after 60 entries of 500 bytes with 4 KiB segments", len(segs))
	}
	for i, p := range segs {
		s, ok := parseSegmentName(filepath.Base(p))
		if !ok || s.seq != uint64(i) {
			t.Fatalf("segment %d named %s", i, filepath.Base(p))
		}
	}
	if _, err := w.ReleaseTo(40); err == nil {
		t.Fatal("ReleaseTo beyond the latest snapshot succeeded")
	}
	snap := &raftpb.Snapshot{Data: []byte("state at 40"), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(40), Term: proto.Uint64(3), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}
	if err := w.Save(snap, nil, nil); err != nil {
		t.Fatal(err)
	}
	removed, err := w.ReleaseTo(40)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) == 0 {
		t.Fatal("no segment released")
	}
	kept, _ := Segments(dir)
	if len(kept)+len(removed) != len(segs) {
		t.Fatalf("kept %d and removed %d of %d segments", len(kept), len(removed), len(segs))
	}
	firstKept, _ := parseSegmentName(filepath.Base(kept[0]))
	if firstKept.index > 40 {
		t.Fatalf("the segment holding index 40 was removed: first kept starts at %d", firstKept.index)
	}
	for _, p := range removed {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s still there", p)
		}
	}
	// More entries and a new vote after the release.
	save(61, 62, hardState(4, 1, 58))
	w.Close()

	w, st, err := OpenWithOptions(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if st.Snapshot.GetMetadata().GetIndex() != 40 || string(st.Snapshot.GetData()) != "state at 40" {
		t.Fatalf("snapshot after reopen: %v", st.Snapshot.GetMetadata())
	}
	if hs := st.HardState; hs.GetTerm() != 4 || hs.GetVote() != 1 || hs.GetCommit() != 58 {
		t.Fatalf("hard state after reopen: %v", hs)
	}
	if len(st.Entries) != 22 || st.Entries[0].GetIndex() != 41 || st.Entries[21].GetIndex() != 62 {
		t.Fatalf("entries after reopen: %d, from %d", len(st.Entries), st.Entries[0].GetIndex())
	}
	for i, e := range st.Entries {
		if want := fmt.Sprintf("%d:%s", 41+i, payload); string(e.Data) != want {
			t.Fatalf("entry %d holds %.10q", e.GetIndex(), e.Data)
		}
	}
}

// A hard state written once, long before, survives the release of the
// segment it was written in: every new segment starts with the latest
// snapshot and hard state.
func TestReleaseKeepsOldHardState(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 1 << 10}
	w, _, err := OpenWithOptions(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Save(nil, []*raftpb.Entry{entry(5, 1, "a")}, hardState(5, 2, 1)); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("y", 700)
	for i := uint64(2); i <= 20; i++ {
		if err := w.Save(nil, []*raftpb.Entry{entry(5, i, big)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	snap := &raftpb.Snapshot{Data: []byte("s"), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(20), Term: proto.Uint64(5), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}}}}
	if err := w.Save(snap, nil, nil); err != nil {
		t.Fatal(err)
	}
	if removed, err := w.ReleaseTo(20); err != nil || len(removed) == 0 {
		t.Fatalf("ReleaseTo(20) = %v, %v", removed, err)
	}
	w.Close()
	_, st, err := OpenWithOptions(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if hs := st.HardState; hs.GetTerm() != 5 || hs.GetVote() != 2 {
		t.Fatalf("hard state after release: %v", hs)
	}
	if len(st.Entries) != 0 || st.Snapshot.GetMetadata().GetIndex() != 20 {
		t.Fatalf("after release: %d entries, snapshot at %d", len(st.Entries), st.Snapshot.GetMetadata().GetIndex())
	}
}

// A WAL written by an earlier version (one file, raft.wal) opens as the
// first segment; a damaged one is refused and left where it is.
func TestLegacyFileAdopted(t *testing.T) {
	legacyLog := func(t *testing.T) (string, []byte) {
		dir := t.TempDir()
		var raw []byte
		var err error
		for i := uint64(1); i <= 3; i++ {
			if raw, err = appendRecord(raw, recEntry, entry(1, i, fmt.Sprintf("e%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		if raw, err = appendRecord(raw, recHardState, hardState(1, 1, 2)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, LegacyFileName), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir, raw
	}
	t.Run("adopted", func(t *testing.T) {
		dir, _ := legacyLog(t)
		w, st, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Migrated || dataOf(st.Entries) != "e1 e2 e3" || st.HardState.GetCommit() != 2 {
			t.Fatalf("migrated %t, entries %q, hard state %v", st.Migrated, dataOf(st.Entries), st.HardState)
		}
		if err := w.Save(nil, []*raftpb.Entry{entry(1, 4, "e4")}, nil); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if _, err := os.Stat(filepath.Join(dir, LegacyFileName)); !os.IsNotExist(err) {
			t.Fatalf("%s still there: %v", LegacyFileName, err)
		}
		_, st, err = Open(dir)
		if err != nil || st.Migrated || dataOf(st.Entries) != "e1 e2 e3 e4" {
			t.Fatalf("reopen: %v, migrated %t, entries %q", err, st.Migrated, dataOf(st.Entries))
		}
	})
	t.Run("damaged", func(t *testing.T) {
		dir, raw := legacyLog(t)
		offs := recordOffsets(t, raw)
		raw[offs[1]+headerSize+2] ^= 0x10
		path := filepath.Join(dir, LegacyFileName)
		os.WriteFile(path, raw, 0o644)
		_, _, err := Open(dir)
		wantCorrupt(t, err, path, offs[1], "checksum mismatch")
		if segs, _ := Segments(dir); len(segs) != 0 {
			t.Fatalf("segments %v created for a refused legacy WAL", segs)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, raw) {
			t.Fatal("the refused legacy WAL was changed")
		}
	})
}

// A segment whose creation a crash interrupted (still under its temporary
// name) is removed; what it held is in the segment before it.
func TestUnfinishedSegmentRemoved(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, Options{}, 2)
	tmp := filepath.Join(dir, segment{seq: 1, index: 3}.name()+tmpExt)
	if err := os.WriteFile(tmp, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if dataOf(st.Entries) != "e1 e2" {
		t.Fatalf("entries %q", dataOf(st.Entries))
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("%s still there", tmp)
	}
}
