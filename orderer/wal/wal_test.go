package wal

import (
	"os"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func entry(term, index uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{Term: proto.Uint64(term), Index: proto.Uint64(index), Data: []byte(data)}
}

func TestSaveReopen(t *testing.T) {
	dir := t.TempDir()
	w, st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Empty() {
		t.Fatalf("fresh WAL not empty: %+v", st)
	}
	if err := w.Save(nil, []*raftpb.Entry{entry(1, 1, "a"), entry(1, 2, "b"), entry(1, 3, "c")}, &raftpb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(2)}); err != nil {
		t.Fatal(err)
	}
	// a new leader overwrites index 3 onwards
	if err := w.Save(nil, []*raftpb.Entry{entry(2, 3, "c2")}, &raftpb.HardState{Term: proto.Uint64(2), Commit: proto.Uint64(3)}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := w.Save(nil, []*raftpb.Entry{entry(2, 4, "x")}, nil); err != ErrClosed {
		t.Fatalf("save after close: %v", err)
	}

	_, st, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := dataOf(st.Entries); got != "a b c2" {
		t.Fatalf("entries = %q", got)
	}
	if st.HardState.GetTerm() != 2 || st.HardState.GetCommit() != 3 {
		t.Fatalf("hard state %v", st.HardState)
	}
}

func TestSnapshotDropsCoveredEntries(t *testing.T) {
	dir := t.TempDir()
	w, _, _ := Open(dir)
	w.Save(nil, []*raftpb.Entry{entry(1, 1, "a"), entry(1, 2, "b"), entry(1, 3, "c")}, nil)
	snap := &raftpb.Snapshot{Data: []byte("s"), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(2), Term: proto.Uint64(1), ConfState: &raftpb.ConfState{Voters: []uint64{1}}}}
	w.Save(snap, nil, &raftpb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(3)})
	w.Close()
	_, st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshot.GetMetadata().GetIndex() != 2 || string(st.Snapshot.GetData()) != "s" {
		t.Fatalf("snapshot %v", st.Snapshot)
	}
	if got := dataOf(st.Entries); got != "c" {
		t.Fatalf("entries after snapshot = %q", got)
	}
}

func TestTornTailIsDiscarded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"cut short", func(b []byte) []byte { return b[:len(b)-3] }},
		{"bad checksum", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }},
		{"garbage header", func(b []byte) []byte { return append(b, 1, 2, 3) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _, _ := Open(dir)
			w.Save(nil, []*raftpb.Entry{entry(1, 1, "a")}, nil)
			w.Save(nil, []*raftpb.Entry{entry(1, 2, "b")}, nil)
			w.Close()
			path := lastSegment(t, dir)
			raw, _ := os.ReadFile(path)
			os.WriteFile(path, tc.damage(raw), 0o644)

			w, st, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := "a"
			if tc.name == "garbage header" {
				want = "a b"
			}
			if got := dataOf(st.Entries); got != want {
				t.Fatalf("entries = %q, want %q", got, want)
			}
			if st.TruncatedBytes == 0 || st.TornFile != path {
				t.Fatalf("torn tail not reported: %d bytes in %q", st.TruncatedBytes, st.TornFile)
			}
			// the log continues cleanly after the truncation
			if err := w.Save(nil, []*raftpb.Entry{entry(1, uint64(len(st.Entries)+1), "c")}, nil); err != nil {
				t.Fatal(err)
			}
			w.Close()
			_, st, err = Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := dataOf(st.Entries); got != want+" c" {
				t.Fatalf("after append: %q", got)
			}
		})
	}
}

func dataOf(es []*raftpb.Entry) string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += " "
		}
		s += string(e.Data)
	}
	return s
}

// An unsynced Write is replayed like a Save (the process, not the disk, went away).
func TestUnsyncedWriteIsReplayed(t *testing.T) {
	dir := t.TempDir()
	w, _, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(nil, []*raftpb.Entry{entry(1, 1, "a")}, &raftpb.HardState{Term: proto.Uint64(1)}, true); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(nil, nil, &raftpb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(1)}, false); err != nil {
		t.Fatal(err)
	}
	w.Close()
	_, st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if dataOf(st.Entries) != "a" || st.HardState.GetCommit() != 1 {
		t.Fatalf("replayed %q, hard state %v", dataOf(st.Entries), st.HardState)
	}
}

// BenchmarkSave appends 100 entries of 3 KiB with one fsync, as one Ready of
// a busy chain does.
func BenchmarkSave(b *testing.B) {
	w, _, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ents := make([]*raftpb.Entry, 100)
	for i := range ents {
		ents[i] = entry(1, uint64(i+1), string(make([]byte, 3000)))
	}
	b.SetBytes(100 * 3000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Save(nil, ents, &raftpb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(uint64(i))}); err != nil {
			b.Fatal(err)
		}
	}
}
