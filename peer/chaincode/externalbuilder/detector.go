package externalbuilder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
)

// Detector builds installed packages with the first configured builder whose
// bin/detect accepts them.
type Detector struct {
	// Builders are tried in this order (core.yaml order).
	Builders []Builder
	// BuildDir keeps one folder per built package:
	// <BuildDir>/<packageID>/{bld,release,build-info.json}.
	BuildDir string
	Logger   *slog.Logger
	// Limits bound reading and extracting packages
	// (peer.limits.chaincodePackage); zero fields take ccpackage's defaults.
	Limits ccpackage.Limits
}

// Build is a package built by an external builder.
type Build struct {
	PackageID string
	Builder   Builder
	// OutputDir is BUILD_OUTPUT_DIR as kept by the peer.
	OutputDir string
	// ReleaseDir is RELEASE_OUTPUT_DIR (empty when the builder has no bin/release).
	ReleaseDir string

	dir string
	log *slog.Logger
}

// StepError is a builder program that failed.
type StepError struct {
	Builder   string
	Step      string // "detect", "build", "release" or "run"
	PackageID string
	Stderr    string // the tail of its stderr
	Err       error
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("external builder %s: bin/%s failed for chaincode package %s: %v", e.Builder, e.Step, e.PackageID, e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += "; stderr ends with:\n" + s
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }

// buildInfo is build-info.json in a package's build folder.
type buildInfo struct {
	BuilderName string `json:"builder_name"`
}

// stepWaitDelay bounds how long a finished builder program's stdout and
// stderr may stay open (held by processes it left behind).
const stepWaitDelay = 5 * time.Second

// stderrTail is how much of a failing program's stderr goes into its error.
const stderrTail = 4 << 10

// Build returns the build of packageID, whose installed package (the
// tar.gz bytes) is pkg. A build kept from before is reused when the builder
// that made it is still configured; otherwise each builder's bin/detect runs
// in order and the first that exits 0 runs bin/build, then bin/release if it
// has one. Build returns nil, nil when no builder detects the package.
//
// Build is not safe for concurrent calls for the same package ID; callers
// serialise builds.
func (d *Detector) Build(ctx context.Context, packageID string, pkg []byte) (*Build, error) {
	if len(d.Builders) == 0 {
		return nil, nil
	}
	dir := filepath.Join(d.BuildDir, folderName(packageID))
	if b, err := d.cached(packageID, dir); b != nil || err != nil {
		return b, err
	}
	meta, code, err := d.Limits.Split(pkg)
	if err != nil {
		return nil, fmt.Errorf("chaincode package %s: %w", packageID, err)
	}
	work := dir + ".tmp"
	if err := os.RemoveAll(work); err != nil {
		return nil, fmt.Errorf("clean build folder of chaincode package %s: %w", packageID, err)
	}
	defer os.RemoveAll(work)
	src, md := filepath.Join(work, "src"), filepath.Join(work, "metadata")
	for _, p := range []string{src, md, filepath.Join(work, "bld")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, fmt.Errorf("create build folder of chaincode package %s: %w", packageID, err)
		}
	}
	if err := d.Limits.Extract(code, src); err != nil {
		return nil, fmt.Errorf("extract code.tar.gz of chaincode package %s: %w", packageID, err)
	}
	if err := os.WriteFile(filepath.Join(md, "metadata.json"), meta, 0o644); err != nil {
		return nil, fmt.Errorf("write metadata.json of chaincode package %s: %w", packageID, err)
	}

	var builder *Builder
	for i := range d.Builders {
		ok, err := d.detect(ctx, d.Builders[i], packageID, src, md)
		if err != nil {
			return nil, err
		}
		if ok {
			builder = &d.Builders[i]
			break
		}
	}
	if builder == nil {
		d.logger().Debug("no external builder detected the package", "package_id", packageID)
		return nil, nil
	}
	log := d.logger().With("package_id", packageID, "builder", builder.Name)
	log.Info("building chaincode with external builder")
	if err := d.run(ctx, *builder, "build", packageID, src, md, filepath.Join(work, "bld")); err != nil {
		return nil, err
	}
	if builder.has("release") {
		if err := os.MkdirAll(filepath.Join(work, "release"), 0o755); err != nil {
			return nil, err
		}
		if err := d.run(ctx, *builder, "release", packageID, filepath.Join(work, "bld"), filepath.Join(work, "release")); err != nil {
			return nil, err
		}
	}
	info, _ := json.Marshal(buildInfo{BuilderName: builder.Name})
	if err := os.WriteFile(filepath.Join(work, "build-info.json"), info, 0o644); err != nil {
		return nil, fmt.Errorf("record build of chaincode package %s: %w", packageID, err)
	}
	// The package's source and metadata are inputs only; the kept build
	// holds what release and run use.
	if err := os.RemoveAll(src); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(md); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(work, dir); err != nil {
		return nil, fmt.Errorf("keep build of chaincode package %s: %w", packageID, err)
	}
	log.Info("built chaincode with external builder", "dir", dir)
	return d.build(packageID, *builder, dir), nil
}

// cached returns the kept build of packageID, if any and its builder is
// still configured.
func (d *Detector) cached(packageID, dir string) (*Build, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "build-info.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read build of chaincode package %s: %w", packageID, err)
	}
	var info buildInfo
	if err := json.Unmarshal(raw, &info); err == nil {
		for _, b := range d.Builders {
			if b.Name == info.BuilderName {
				return d.build(packageID, b, dir), nil
			}
		}
	}
	d.logger().Info("kept build of chaincode package was made by a builder no longer configured; building again",
		"package_id", packageID, "builder", info.BuilderName)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("remove stale build of chaincode package %s: %w", packageID, err)
	}
	return nil, nil
}

func (d *Detector) build(packageID string, b Builder, dir string) *Build {
	bld := &Build{
		PackageID: packageID,
		Builder:   b,
		OutputDir: filepath.Join(dir, "bld"),
		dir:       dir,
		log:       d.logger().With("package_id", packageID, "builder", b.Name),
	}
	if fi, err := os.Stat(filepath.Join(dir, "release")); err == nil && fi.IsDir() {
		bld.ReleaseDir = filepath.Join(dir, "release")
	}
	return bld
}

// detect runs bin/detect; a non-zero exit means "not this builder".
func (d *Detector) detect(ctx context.Context, b Builder, packageID, src, md string) (bool, error) {
	err := d.run(ctx, b, "detect", packageID, src, md)
	var se *StepError
	var exit *exec.ExitError
	if errors.As(err, &se) && errors.As(se.Err, &exit) && ctx.Err() == nil {
		d.logger().Debug("external builder did not detect the package", "package_id", packageID, "builder", b.Name, "exit", exit.ExitCode())
		return false, nil
	}
	return err == nil, err
}

// run runs one builder program to completion, logging its output.
func (d *Detector) run(ctx context.Context, b Builder, step, packageID string, args ...string) error {
	log := d.logger().With("package_id", packageID, "builder", b.Name, "step", step)
	tail := &tailBuffer{max: stderrTail}
	stdout := &lineLogger{log: log, stream: "stdout"}
	stderr := &lineLogger{log: log, stream: "stderr"}
	cmd := exec.CommandContext(ctx, b.program(step), args...)
	cmd.Env = b.environ()
	cmd.Stdout = stdout
	cmd.Stderr = io.MultiWriter(tail, stderr)
	cmd.WaitDelay = stepWaitDelay
	setGroup(cmd)
	cmd.Cancel = func() error { return killGroup(cmd) }
	err := cmd.Run()
	stdout.flush()
	stderr.flush()
	if err != nil {
		return &StepError{Builder: b.Name, Step: step, PackageID: packageID, Stderr: tail.String(), Err: err}
	}
	return nil
}

func (d *Detector) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// ConnectionJSON returns release/chaincode/server/connection.json, where a
// builder's bin/release describes a chaincode server to dial; ok is false
// when the release wrote none.
func (b *Build) ConnectionJSON() (raw []byte, ok bool, err error) {
	if b.ReleaseDir == "" {
		return nil, false, nil
	}
	raw, err = os.ReadFile(filepath.Join(b.ReleaseDir, "chaincode", "server", "connection.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("external builder %s, chaincode package %s: read release connection.json: %w", b.Builder.Name, b.PackageID, err)
	}
	return raw, true, nil
}

// folderName turns a package ID into one path element.
func folderName(packageID string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_.:+-", r):
			return r
		}
		return '_'
	}, packageID)
	if name == "" || strings.Trim(name, ".") == "" {
		name = "_" + name
	}
	return name
}
