package externalbuilder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Builder is one entry of core.yaml's chaincode.externalBuilders.
type Builder struct {
	// Name identifies the builder in logs, errors and the build cache.
	Name string `mapstructure:"name" yaml:"name" json:"name"`
	// Path is the folder holding bin/detect, bin/build, bin/release, bin/run.
	Path string `mapstructure:"path" yaml:"path" json:"path"`
	// PropagateEnvironment names the peer's environment variables the
	// builder's programs receive, besides those always passed (AlwaysPropagated).
	PropagateEnvironment []string `mapstructure:"propagateEnvironment" yaml:"propagateEnvironment" json:"propagateEnvironment"`
}

// AlwaysPropagated are the environment variables every builder program
// receives from the peer's environment, as in Fabric.
var AlwaysPropagated = []string{"LD_LIBRARY_PATH", "LIBPATH", "PATH", "TMPDIR"}

// Validate checks that the builder is usable: it has a name, and its path
// holds executable bin/detect and bin/build (bin/release and bin/run are
// optional, as in Fabric, but must be executable when present).
func (b Builder) Validate() error {
	if b.Name == "" {
		if b.Path == "" {
			return errors.New("external builder has neither name nor path; set both")
		}
		return fmt.Errorf("external builder at path %s has no name; set name", b.Path)
	}
	if b.Path == "" {
		return fmt.Errorf("external builder %s has no path; set path to the folder holding bin/detect and bin/build", b.Name)
	}
	fi, err := os.Stat(b.Path)
	if err != nil {
		return fmt.Errorf("external builder %s: path %s: %w", b.Name, b.Path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("external builder %s: path %s is not a folder", b.Name, b.Path)
	}
	for _, prog := range []string{"detect", "build", "release", "run"} {
		required := prog == "detect" || prog == "build"
		p := filepath.Join(b.Path, "bin", prog)
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, os.ErrNotExist) && !required:
			continue
		case err != nil:
			return fmt.Errorf("external builder %s: missing bin/%s (%s): %w", b.Name, prog, p, err)
		case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
			return fmt.Errorf("external builder %s: bin/%s (%s) is not an executable file; chmod +x it", b.Name, prog, p)
		}
	}
	return nil
}

func (b Builder) program(name string) string {
	return filepath.Join(b.Path, "bin", name)
}

func (b Builder) has(name string) bool {
	_, err := os.Stat(b.program(name))
	return err == nil
}

// environ returns the environment of the builder's programs: the always
// propagated variables and those named in PropagateEnvironment, with the
// peer's values; unset variables are left out.
func (b Builder) environ() []string {
	var env []string
	seen := map[string]bool{}
	for _, names := range [][]string{AlwaysPropagated, b.PropagateEnvironment} {
		for _, k := range names {
			k = strings.TrimSpace(k)
			if k == "" || seen[k] {
				continue
			}
			seen[k] = true
			if v, ok := os.LookupEnv(k); ok {
				env = append(env, k+"="+v)
			}
		}
	}
	return env
}
