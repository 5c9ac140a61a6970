package externalbuilder

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBuilderValidate(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, progs map[string]os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(p, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		for prog, mode := range progs {
			if err := os.WriteFile(filepath.Join(p, "bin", prog), []byte("#!/bin/sh\n"), mode); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	full := mk("full", map[string]os.FileMode{"detect": 0o755, "build": 0o755, "release": 0o755, "run": 0o755})
	minimal := mk("minimal", map[string]os.FileMode{"detect": 0o755, "build": 0o755})
	noBuild := mk("nobuild", map[string]os.FileMode{"detect": 0o755, "release": 0o755})
	noExec := mk("noexec", map[string]os.FileMode{"detect": 0o644, "build": 0o755})
	badRun := mk("badrun", map[string]os.FileMode{"detect": 0o755, "build": 0o755, "run": 0o600})
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, b := range []Builder{{Name: "full", Path: full}, {Name: "minimal", Path: minimal}} {
		if err := b.Validate(); err != nil {
			t.Errorf("Validate(%s) = %v, want ok (bin/release and bin/run are optional)", b.Name, err)
		}
	}
	tests := []struct {
		b    Builder
		want []string
	}{
		{Builder{Path: full}, []string{"external builder at path " + full, "no name"}},
		{Builder{}, []string{"neither name nor path"}},
		{Builder{Name: "nopath"}, []string{"external builder nopath", "no path"}},
		{Builder{Name: "gone", Path: filepath.Join(dir, "gone")}, []string{"external builder gone", filepath.Join(dir, "gone")}},
		{Builder{Name: "file", Path: file}, []string{"external builder file", "not a folder"}},
		{Builder{Name: "nobuild", Path: noBuild}, []string{"external builder nobuild", "missing bin/build", filepath.Join(noBuild, "bin", "build")}},
		{Builder{Name: "noexec", Path: noExec}, []string{"external builder noexec", "bin/detect", "not an executable", "chmod +x"}},
		{Builder{Name: "badrun", Path: badRun}, []string{"external builder badrun", "bin/run", "not an executable"}},
	}
	for _, tt := range tests {
		err := tt.b.Validate()
		if err == nil {
			t.Errorf("Validate(%+v) accepted the builder", tt.b)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%+v) = %q, want it to contain %q", tt.b, err, w)
			}
		}
	}
}

func TestBuilderEnviron(t *testing.T) {
	t.Setenv("PATH", "/usr/bin:/bin")
	t.Setenv("TMPDIR", "/tmp/x")
	t.Setenv("WEFT_EB_WANTED", "yes")
	t.Setenv("WEFT_EB_SECRET", "must not leak")
	os.Unsetenv("LIBPATH")
	b := Builder{Name: "b", PropagateEnvironment: []string{"WEFT_EB_WANTED", "WEFT_EB_UNSET", "PATH"}}
	got := b.environ()
	want := []string{"PATH=/usr/bin:/bin", "TMPDIR=/tmp/x", "WEFT_EB_WANTED=yes"}
	if ld, ok := os.LookupEnv("LD_LIBRARY_PATH"); ok {
		want = append([]string{"LD_LIBRARY_PATH=" + ld}, want...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("environ() = %q, want %q", got, want)
	}
}

func TestBuilderFolderName(t *testing.T) {
	for in, want := range map[string]string{
		"mycc_1:0a1b": "mycc_1:0a1b",
		"../etc":      ".._etc",
		"..":          "_..",
		"a/b\\c d":    "a_b_c_d",
	} {
		if got := folderName(in); got != want {
			t.Errorf("folderName(%q) = %q, want %q", in, got, want)
		}
	}
}
