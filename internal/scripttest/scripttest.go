package scripttest

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Case is one command of a script and the output expected from it.
type Case struct {
	Line     int    // line number of the command, for error messages
	Cmd      string // the command line
	Expected string // the expected output, each line ending in "\n"
}

// Files returns the scripts matching pattern (e.g. "testdata/*.txt"),
// failing the test when there are none.
func Files(t testing.TB, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts match %s: %v", pattern, err)
	}
	return files
}

// Read splits the script at path into cases, failing the test on a command
// that is not followed by "----".
func Read(t testing.TB, path string) []Case {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var cases []Case
	var cur *Case
	inExpect := false
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && (strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#")):
		case cur == nil:
			cur = &Case{Line: n, Cmd: l}
		case !inExpect && l == "----":
			inExpect = true
		case inExpect && strings.TrimSpace(l) == "":
			cases = append(cases, *cur)
			cur, inExpect = nil, false
		case inExpect:
			cur.Expected += l + "\n"
		default:
			t.Fatalf("%s:%d: expected ---- after the command on line %d", path, n, cur.Line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		cases = append(cases, *cur)
	}
	return cases
}
