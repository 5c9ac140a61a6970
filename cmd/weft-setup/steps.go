package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/weft-ledger/weft/internal/cli"
)

// command is one weft command line with the environment it runs in.
type command struct {
	env  []string // KEY=VALUE, the CORE_PEER_* variables naming peer and identity
	args []string // weft's arguments
}

// run runs c in process and returns what it printed (stdout and stderr).
func (c command) run(ctx context.Context) (string, error) {
	vars := map[string]string{}
	for _, kv := range c.env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var out bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &out, Getenv: func(k string) string { return vars[k] }}
	err := cli.Run(ctx, env, c.args)
	return strings.TrimSpace(out.String()), err
}

// step is one thing setup does. Its done queries, when set, are run first
// and again before every retry: a step all of whose queries pass is skipped.
// A step without a command only waits for its queries to pass.
type step struct {
	title string
	cmd   *command
	done  []command
	// doneIf decides from the output of a done query whether it passes; nil
	// means it passes when the query succeeds.
	doneIf func(out string) bool
}

// isDone runs the done queries; when one does not pass it returns what it
// answered.
func (s step) isDone(ctx context.Context) (bool, string) {
	if len(s.done) == 0 {
		return false, ""
	}
	for _, q := range s.done {
		out, err := q.run(ctx)
		if err != nil {
			return false, fmt.Sprintf("%v (output: %s)", err, out)
		}
		if s.doneIf != nil && !s.doneIf(out) {
			return false, fmt.Sprintf("weft %s printed %q", strings.Join(q.args[:2], " "), out)
		}
	}
	return true, ""
}

// joinSteps are the steps of `weft-setup join`; pkgID is basic's package ID.
func joinSteps(l layout, pkgID string) []step {
	var steps []step
	for _, o := range orderers {
		osn := []string{
			"-o", o.name + ":" + strconv.Itoa(o.admin),
			"--ca-file", l.ordererTLS(o, "ca.crt"),
			"--client-cert", l.ordererAdminTLS("client.crt"),
			"--client-key", l.ordererAdminTLS("client.key"),
			"--channelID", channelID,
		}
		steps = append(steps, step{
			title: fmt.Sprintf("join %s to %s (participation API)", o.name, channelID),
			cmd:   &command{args: append([]string{"osnadmin", "channel", "join", "--config-block", l.genesis()}, osn...)},
			done:  []command{{args: append([]string{"osnadmin", "channel", "list"}, osn...)}},
		})
	}
	for _, p := range peers {
		env := l.peerEnv(p, "Admin")
		steps = append(steps, step{
			title:  fmt.Sprintf("join %s to %s", p.name, channelID),
			cmd:    &command{env: env, args: []string{"channel", "join", "-b", l.genesis()}},
			done:   []command{{env: env, args: []string{"channel", "list"}}},
			doneIf: hasLine(channelID),
		})
	}
	for _, p := range peers {
		env := l.peerEnv(p, "Admin")
		steps = append(steps, step{
			title:  fmt.Sprintf("install %s on %s", chaincodeLabel, p.name),
			cmd:    &command{env: env, args: []string{"chaincode", "install", l.pkg()}},
			done:   []command{{env: env, args: []string{"chaincode", "queryinstalled"}}},
			doneIf: func(out string) bool { return strings.Contains(out, pkgID) },
		})
	}
	def := []string{"--channelID", channelID, "--name", chaincodeName, "--version", "1.0", "--sequence", "1"}
	// Each organisation approves on its anchor peer (peer0) only, as
	// Fabric's test-network does: its other peer runs the chaincode too,
	// finding the approved package from the approval's hashes, which every
	// peer of the channel commits.
	for _, a := range anchors() {
		args := append(append(append(append([]string{"chaincode", "approveformyorg"}, l.ordererFlags()...), def...), "--package-id", pkgID),
			"--peerAddresses", a.address(), "--tlsRootCertFiles", l.peerTLSCA(a))
		steps = append(steps, step{
			title: fmt.Sprintf("approve %s for %s on %s", chaincodeName, a.mspID, a.name),
			cmd:   &command{env: l.peerEnv(a, "Admin"), args: args},
			done:  []command{{env: l.peerEnv(a, "Admin"), args: []string{"chaincode", "queryapproved", "--channelID", channelID, "--name", chaincodeName, "--sequence", "1"}}},
		})
	}
	admin := l.peerEnv(peers[0], "Admin")
	queryCommitted := []string{"chaincode", "querycommitted", "--channelID", channelID, "--name", chaincodeName}
	steps = append(steps, step{
		title: fmt.Sprintf("commit %s on %s", chaincodeName, channelID),
		cmd:   &command{env: admin, args: append(append(append([]string{"chaincode", "commit"}, l.ordererFlags()...), def...), l.endorserFlags()...)},
		done:  []command{{env: admin, args: queryCommitted}},
	})
	user := l.peerEnv(peers[0], "User1")
	assetExists := []string{"chaincode", "query", "--channelID", channelID, "--name", chaincodeName, "-c", `{"Args":["AssetExists","asset1"]}`}
	invoke := append(append([]string{"chaincode", "invoke"}, l.ordererFlags()...), "--channelID", channelID, "--name", chaincodeName)
	invoke = append(append(invoke, l.endorserFlags()...), "-c", `{"function":"InitLedger","Args":[]}`, "--waitForEvent")
	steps = append(steps, step{
		title:  fmt.Sprintf("run %s InitLedger", chaincodeName),
		cmd:    &command{env: user, args: invoke},
		done:   []command{{env: user, args: assetExists}},
		doneIf: hasLine("true"),
	})
	// The peers not asked to endorse commit the blocks on their own; setup
	// ends once each has the definition and the assets.
	for _, p := range peers {
		steps = append(steps, step{
			title:  fmt.Sprintf("wait until %s has the assets of InitLedger", p.name),
			done:   []command{{env: l.peerEnv(p, "User1"), args: assetExists}},
			doneIf: hasLine("true"),
		})
	}
	return steps
}

// hasLine returns a check that some line of the output is want.
func hasLine(want string) func(string) bool {
	return func(out string) bool {
		for _, line := range strings.Split(out, "\n") {
			if strings.TrimSpace(line) == want {
				return true
			}
		}
		return false
	}
}

// errTimeout is returned when a step has not succeeded by the deadline.
var errTimeout = errors.New("not done in time")

// runSteps runs every step in order, retrying a failing step once a second
// until ctx ends. attempt bounds one run of a command.
func runSteps(ctx context.Context, log io.Writer, steps []step, attempt time.Duration) error {
	for i, s := range steps {
		fmt.Fprintf(log, "[%d/%d] %s\n", i+1, len(steps), s.title)
		if err := runStep(ctx, log, s, attempt); err != nil {
			return fmt.Errorf("step %d/%d, %s: %w", i+1, len(steps), s.title, err)
		}
	}
	return nil
}

func runStep(ctx context.Context, log io.Writer, s step, attempt time.Duration) error {
	var last string
	for tries := 0; ; tries++ {
		actx, cancel := context.WithTimeout(ctx, attempt)
		done, out := s.isDone(actx)
		if done {
			cancel()
			if tries == 0 && s.cmd != nil {
				fmt.Fprintln(log, "      already done")
			}
			return nil
		}
		if s.cmd == nil {
			last = out
		} else {
			var err error
			out, err = s.cmd.run(actx)
			if err == nil {
				cancel()
				if out != "" {
					fmt.Fprintln(log, indent(out))
				}
				return nil
			}
			last = fmt.Sprintf("%v (output: %s)", err, out)
		}
		cancel()
		if tries == 0 || tries%10 == 0 {
			fmt.Fprintf(log, "      not yet (try %d): %s; retrying\n", tries+1, firstLine(last))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v); last answer: %s", errTimeout, ctx.Err(), last)
		case <-time.After(time.Second):
		}
	}
}

func indent(s string) string { return "      " + strings.ReplaceAll(s, "\n", "\n      ") }

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
