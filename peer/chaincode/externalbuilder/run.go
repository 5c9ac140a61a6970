package externalbuilder

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// RunConfig is chaincode.json, which bin/run finds in RUN_METADATA_DIR: what
// the chaincode needs to dial the peer and register. The certificates and key
// are PEM; they are empty when the peer's chaincode listener has no TLS.
type RunConfig struct {
	ChaincodeID string `json:"chaincode_id"`
	PeerAddress string `json:"peer_address"`
	ClientCert  string `json:"client_cert"`
	ClientKey   string `json:"client_key"`
	RootCert    string `json:"root_cert"`
	MSPID       string `json:"mspid"`
}

// Process is a running bin/run.
type Process struct {
	// Exited is closed once bin/run has exited; the peer then considers the
	// chaincode stopped.
	Exited <-chan struct{}

	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// stopGrace is how long bin/run has to exit after SIGTERM before it (and
// its process group) is killed.
const stopGrace = 5 * time.Second

// Run starts bin/run BUILD_OUTPUT_DIR RUN_METADATA_DIR, with chaincode.json
// written fresh into a new RUN_METADATA_DIR (removed once run exits).
func (b *Build) Run(rc RunConfig) (*Process, error) {
	if !b.Builder.has("run") {
		return nil, fmt.Errorf("external builder %s built chaincode package %s, but its bin/release wrote no chaincode/server/connection.json and it has no bin/run; add one of them to the builder",
			b.Builder.Name, b.PackageID)
	}
	runDir, err := os.MkdirTemp(b.dir, "run-")
	if err != nil {
		return nil, fmt.Errorf("create run folder of chaincode package %s: %w", b.PackageID, err)
	}
	raw, _ := json.Marshal(rc)
	if err := os.WriteFile(filepath.Join(runDir, "chaincode.json"), raw, 0o600); err != nil {
		os.RemoveAll(runDir)
		return nil, fmt.Errorf("write chaincode.json of chaincode package %s: %w", b.PackageID, err)
	}
	log := b.log.With("step", "run")
	stdout := &lineLogger{log: log, stream: "stdout"}
	stderr := &lineLogger{log: log, stream: "stderr"}
	cmd := exec.Command(b.Builder.program("run"), b.OutputDir, runDir)
	cmd.Env = b.Builder.environ()
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = stepWaitDelay
	setGroup(cmd)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(runDir)
		return nil, &StepError{Builder: b.Builder.Name, Step: "run", PackageID: b.PackageID, Err: err}
	}
	exited := make(chan struct{})
	p := &Process{Exited: exited, cmd: cmd, exited: exited}
	go func() {
		err := cmd.Wait()
		stdout.flush()
		stderr.flush()
		// run's exit ends the chaincode: stop what it left running.
		_ = killGroup(cmd)
		log.Info("external builder run exited", "pid", cmd.Process.Pid, "err", err)
		os.RemoveAll(runDir)
		close(exited)
	}()
	return p, nil
}

// Stop ends bin/run and the processes it started: SIGTERM, then SIGKILL if
// they have not exited within a few seconds. It returns once run has exited
// and is safe to call more than once.
func (p *Process) Stop() {
	p.once.Do(func() {
		_ = terminateGroup(p.cmd)
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-p.exited:
		case <-t.C:
			_ = killGroup(p.cmd)
		}
	})
	<-p.exited
}
