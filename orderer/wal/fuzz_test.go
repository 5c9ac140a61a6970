package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// dirFiles reads every file of dir.
func dirFiles(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	for _, de := range des {
		raw, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		out[de.Name()] = raw
	}
	return out
}

// sameState compares what two Opens recovered.
func sameState(a, b *State) bool {
	return proto.Equal(a.Snapshot, b.Snapshot) && proto.Equal(a.HardState, b.HardState) &&
		slices.EqualFunc(a.Entries, b.Entries, func(x, y *raftpb.Entry) bool { return proto.Equal(x, y) })
}

// FuzzWALReplay opens a WAL directory whose files hold fuzzed bytes, as a
// restarted orderer finds it after a crash or a damaged disk: a real
// segment (a snapshot, a hard state, entries 5-8) with one byte changed at
// a fuzzed offset, cut short and with fuzzed bytes appended (mode bit 0),
// or wholly fuzzed (bit 1); with bit 2 a second segment follows, so the
// damaged one is not the last. Open must refuse with an error wrapping
// ErrCorrupt and change nothing on disk, or recover: by truncating no more
// than a tail of the last segment (TruncatedBytes says how much), to a
// state whose entries follow each other and the snapshot, which a second
// Open recovers identically and which takes the next entry.
func FuzzWALReplay(f *testing.F) {
	base := f.TempDir()
	w, _, err := Open(base)
	if err != nil {
		f.Fatal(err)
	}
	snap := &raftpb.Snapshot{Data: []byte("snapshot data"), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(4), Term: proto.Uint64(2), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}
	if err := w.Save(snap, nil, hardState(2, 1, 4)); err != nil {
		f.Fatal(err)
	}
	for i := uint64(5); i <= 8; i++ {
		if err := w.Save(nil, []*raftpb.Entry{entry(3, i, "envelope")}, hardState(3, 1, i-1)); err != nil {
			f.Fatal(err)
		}
	}
	w.Close()
	segs, err := Segments(base)
	if err != nil || len(segs) != 1 {
		f.Fatalf("segments %v, %v", segs, err)
	}
	intact, err := os.ReadFile(segs[0])
	if err != nil {
		f.Fatal(err)
	}
	first, second := segment{seq: 0}.name(), segment{seq: 1, index: 9}.name()

	f.Add(uint32(0), byte(0), uint32(0), []byte{}, uint8(0))
	f.Add(uint32(len(intact)-3), byte(0xff), uint32(0), []byte{}, uint8(0))
	f.Add(uint32(len(intact)/2), byte(0x00), uint32(0), []byte{}, uint8(0))
	f.Add(uint32(3), byte(0x7f), uint32(0), []byte{}, uint8(4))
	f.Add(uint32(0), byte(intact[0]), uint32(5), []byte{1, 2, 3}, uint8(1))
	f.Add(uint32(0), byte(intact[0]), uint32(0), intact[:40], uint8(1))
	f.Add(uint32(0), byte(0), uint32(0), intact, uint8(2))
	f.Add(uint32(0), byte(0), uint32(0), []byte("\x05\x00\x00\x00\x00\x00\x00\x00\x01\x08\x01\x10\x01"), uint8(2))

	f.Fuzz(func(t *testing.T, pos uint32, val byte, cut uint32, tail []byte, mode uint8) {
		seg := append([]byte(nil), intact...)
		seg[int(pos)%len(seg)] = val
		if mode&1 != 0 {
			seg = append(seg[:len(seg)-int(cut)%len(seg)], tail...)
		}
		if mode&2 != 0 {
			seg = tail
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, first), seg, 0o644); err != nil {
			t.Fatal(err)
		}
		last := first
		if mode&4 != 0 {
			// An intact segment after it: the fuzzed one was complete and synced.
			var next []byte
			next, _ = appendRecord(next, recEntry, entry(3, 9, "next"))
			if err := os.WriteFile(filepath.Join(dir, second), next, 0o644); err != nil {
				t.Fatal(err)
			}
			last = second
		}
		before := dirFiles(t, dir)

		w, st, err := Open(dir)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open refused with %v, which does not wrap ErrCorrupt", err)
			}
			after := dirFiles(t, dir)
			if len(after) != len(before) {
				t.Fatalf("a refused Open left files %d, was %d", len(after), len(before))
			}
			for name, raw := range before {
				if !bytes.Equal(after[name], raw) {
					t.Fatalf("a refused Open changed %s", name)
				}
			}
			return
		}
		after := dirFiles(t, dir)
		for name, raw := range before {
			now := after[name]
			switch {
			case name != last && !bytes.Equal(now, raw):
				t.Fatalf("Open changed %s, which is not the last segment", name)
			case name == last && (!bytes.HasPrefix(raw, now) || int64(len(raw)-len(now)) != st.TruncatedBytes):
				t.Fatalf("Open left %d of %d bytes of the last segment, TruncatedBytes %d", len(now), len(raw), st.TruncatedBytes)
			}
		}
		if st.TruncatedBytes > 0 && (st.TornFile != filepath.Join(dir, last) || st.TornOffset != int64(len(after[last]))) {
			t.Fatalf("torn tail reported at %s:%d, truncated to %d bytes of %s", st.TornFile, st.TornOffset, len(after[last]), last)
		}
		next := uint64(0)
		if st.Snapshot != nil {
			next = st.Snapshot.GetMetadata().GetIndex() + 1
		}
		for i, e := range st.Entries {
			if (i > 0 || st.Snapshot != nil) && e.GetIndex() != next {
				t.Fatalf("entry %d follows index %d", e.GetIndex(), next-1)
			}
			next = e.GetIndex() + 1
		}
		if len(st.Entries) > 0 && next == 0 {
			t.Fatal("entry index wrapped around")
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}

		w, again, err := Open(dir)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		if !sameState(st, again) || again.TruncatedBytes != 0 {
			t.Fatalf("a second Open recovered another state (truncated %d)", again.TruncatedBytes)
		}
		if next == 0 {
			next = 1
		}
		if err := w.Save(nil, []*raftpb.Entry{entry(9, next, "after recovery")}, nil); err != nil {
			t.Fatalf("save after recovery: %v", err)
		}
		w.Close()
		_, third, err := Open(dir)
		if err != nil {
			t.Fatalf("Open after a save: %v", err)
		}
		if n := len(third.Entries); n == 0 || !proto.Equal(third.Entries[n-1], entry(9, next, "after recovery")) {
			t.Fatalf("the entry saved after recovery is not replayed (%d entries)", n)
		}
	})
}
