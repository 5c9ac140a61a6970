package archtest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestRepositoryStandsAlone keeps the repository usable by someone who clones
// it and nothing else: no file may reach the "shared" folder that sits beside
// the repository on the developers' machines, by any relative path. Only
// .ci/run, which may start test services from there, is exempt.
func TestRepositoryStandsAlone(t *testing.T) {
	outside := regexp.MustCompile(`(\.\./)+` + "shared")
	root := filepath.Join("..", "..")
	skipDirs := map[string]bool{".git": true, "bin": true, "devnet": true, "build": true}
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDirs[d.Name()] && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if rel == filepath.Join(".ci", "run") || !d.Type().IsRegular() {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.IndexByte(raw, 0) >= 0 {
			return nil // binary: fixture blocks and such
		}
		checked++
		if loc := outside.FindIndex(raw); loc != nil {
			line := bytes.Count(raw[:loc[0]], []byte("\n")) + 1
			t.Errorf("%s:%d points outside the repository (%q): copy what it needs into the repository (testdata/, docs/)", rel, line, raw[loc[0]:loc[1]])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("checked only %d files; is the repository root at %s?", checked, root)
	}
}
