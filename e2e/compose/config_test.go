package compose

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestComposeFileValidates runs `docker-compose -f deploy/docker-compose.yaml
// config -q` on deploy/ as a fresh checkout has it: a copy without build/ (no
// generated network, no binaries) and with no WEFT_* or COMPOSE_* variables
// set. Reading the compose file must not need what `make compose-up`
// generates. It needs docker-compose (or the docker compose plugin) but no
// Docker daemon, and is skipped without either.
func TestComposeFileValidates(t *testing.T) {
	var compose []string
	if _, err := exec.LookPath("docker-compose"); err == nil {
		compose = []string{"docker-compose"}
	} else if _, err := exec.LookPath("docker"); err == nil && exec.Command("docker", "compose", "version").Run() == nil {
		compose = []string{"docker", "compose"}
	} else {
		t.Skip("neither docker-compose nor the docker compose plugin is installed: " +
			"cannot check that deploy/docker-compose.yaml validates (Debian: apt-get install docker-compose)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	deploy := filepath.Join(t.TempDir(), "deploy")
	copyTree(t, filepath.Join(root, "deploy"), deploy, "build")

	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEFT_") && !strings.HasPrefix(kv, "COMPOSE_") {
			env = append(env, kv)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(append([]string{}, compose[1:]...), "-f", filepath.Join(deploy, "docker-compose.yaml"), "config", "-q")
	cmd := exec.CommandContext(ctx, compose[0], args...)
	cmd.Dir = filepath.Dir(deploy)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s on a fresh checkout (no deploy/build): %v\n%s\n"+
			"deploy/docker-compose.yaml must not need files that make compose-up generates (env_file, ...)",
			strings.Join(compose, " "), strings.Join(args, " "), err, out)
	}
}

// copyTree copies the regular files of src to dst, leaving out the top-level
// folder skip.
func copyTree(t *testing.T, src, dst, skip string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == skip {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), raw, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
