package scripttest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.txt")
	src := "# a comment\nadd a\n----\nok a\npending 1\n\n# between\ncut\n----\ncut a\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got := Read(t, path)
	want := []Case{{Line: 2, Cmd: "add a", Expected: "ok a\npending 1\n"}, {Line: 8, Cmd: "cut", Expected: "cut a\n"}}
	if len(got) != len(want) {
		t.Fatalf("Read = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("case %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
