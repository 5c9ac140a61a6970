package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/weft-ledger/weft/restgateway"
)

const usage = `usage:
  weft-setup generate [-config deploy/config] [-out deploy/build/network]
      write crypto material, genesis block and the basic ccaas package (on the host)
  weft-setup join [-dir /network] [-timeout 5m]
      join orderers and peers to mychannel, deploy basic, run InitLedger (in the setup container)
  weft-setup print [-dir /network]
      print the commands join runs, as a shell script`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "weft-setup:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command given\n%s", usage)
	}
	fs := flag.NewFlagSet("weft-setup "+args[0], flag.ContinueOnError)
	switch args[0] {
	case "generate":
		config := fs.String("config", "deploy/config", "folder holding crypto-config.yaml, configtx.yaml and basic-ccaas/connection.json")
		dir := fs.String("out", "deploy/build/network", "network folder to write")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return generate(ctx, out, *config, *dir)
	case "join":
		dir := fs.String("dir", "/network", "network folder written by weft-setup generate")
		timeout := fs.Duration("timeout", 5*time.Minute, "give up when the network is not set up within this time")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		l := layout{dir: *dir}
		id, err := (command{args: []string{"chaincode", "calculatepackageid", l.pkg()}}).run(ctx)
		if err != nil {
			return fmt.Errorf("read the chaincode package (run `weft-setup generate` before `docker-compose up`): %w: %s", err, id)
		}
		fmt.Fprintf(out, "setting up %s in %s: chaincode package %s\n", channelID, l.dir, id)
		if err := runSteps(ctx, out, joinSteps(l, id), 45*time.Second); err != nil {
			return fmt.Errorf("%w\nsee the logs of the node the step talks to: docker-compose -f deploy/docker-compose.yaml logs SERVICE", err)
		}
		fmt.Fprintf(out, "%s is ready: %s is committed and initialised on every peer\n", channelID, chaincodeName)
		return nil
	case "print":
		dir := fs.String("dir", "/network", "network folder as the commands should name it")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return printScript(out, layout{dir: *dir})
	case "-h", "--help", "help":
		fmt.Fprintln(out, usage)
		return flag.ErrHelp
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

// generate writes the network folder dir from the inputs in config. An
// existing, complete folder is kept: its crypto material is what the ledgers
// in the compose volumes were made with.
func generate(ctx context.Context, log io.Writer, config, dir string) error {
	// basic.id, the package ID the basic container reads at start
	// (CHAINCODE_ID_FILE), is written last: it marks a complete folder.
	idFile := filepath.Join(dir, "chaincode", "basic.id")
	if _, err := os.Stat(idFile); err == nil {
		fmt.Fprintf(log, "%s already holds a network (%s); remove the folder and the compose volumes "+
			"(make compose-down) to generate a new one\n", dir, idFile)
		return addRESTToken(log, dir) // a folder from before the REST gateway authenticated its callers
	}
	// A folder from before basic.id kept the ID in basic.env (CHAINCODE_ID=...).
	if raw, err := os.ReadFile(filepath.Join(dir, "chaincode", "basic.env")); err == nil {
		id := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(raw)), "CHAINCODE_ID="))
		fmt.Fprintf(log, "%s already holds a network; wrote its package ID %s to %s\n", dir, id, idFile)
		if err := os.WriteFile(idFile, []byte(id+"\n"), 0o644); err != nil {
			return err
		}
		return addRESTToken(log, dir)
	}
	for _, d := range []string{"channel-artifacts", "chaincode"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	for _, f := range []string{"crypto-config.yaml", "configtx.yaml"} {
		raw, err := os.ReadFile(filepath.Join(config, f))
		if err != nil {
			return fmt.Errorf("read the network's %s (is -config %s the deploy/config folder?): %w", f, config, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
			return err
		}
	}
	l := layout{dir: dir}
	steps := []command{
		{args: []string{"crypto", "generate", "--config", l.join("crypto-config.yaml"), "--output", l.join("organizations")}},
		{args: []string{"genesis", "--config", l.join("configtx.yaml"), "--profile", profile, "--channel", channelID, "--output", l.genesis()}},
		{args: []string{"chaincode", "package", l.pkg(), "--lang", "ccaas", "--label", chaincodeLabel, "--path", filepath.Join(config, "basic-ccaas")}},
	}
	for _, c := range steps {
		fmt.Fprintf(log, "weft %s\n", strings.Join(c.args, " "))
		if out, err := c.run(ctx); err != nil {
			return fmt.Errorf("weft %s: %w: %s", strings.Join(c.args[:2], " "), err, out)
		}
	}
	id, err := (command{args: []string{"chaincode", "calculatepackageid", l.pkg()}}).run(ctx)
	if err != nil {
		return fmt.Errorf("weft chaincode calculatepackageid: %w: %s", err, id)
	}
	if _, err := restgateway.WriteNewToken(restTokenPath(dir)); err != nil {
		return fmt.Errorf("write the REST gateway's token: %w", err)
	}
	// The containers run as uid 10001 and read the material through a bind
	// mount: make it readable by all. It is a development network's crypto.
	if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	}); err != nil {
		return err
	}
	if err := os.WriteFile(idFile, []byte(id+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(log, "wrote the network to %s (basic package ID %s; the REST gateway's token in %s)\n", dir, id, restTokenPath(dir))
	return nil
}

// restTokenPath is the REST gateway's bearer token in the network folder;
// deploy/config/restgateway.yaml binds it to User1@org1.example.com.
func restTokenPath(dir string) string { return filepath.Join(dir, "restgateway", "token") }

// addRESTToken writes the REST gateway's token into a network folder that
// has none, readable by the containers' user like the rest of the folder.
func addRESTToken(log io.Writer, dir string) error {
	file := restTokenPath(dir)
	wrote, err := restgateway.WriteNewToken(file)
	if err != nil || !wrote {
		return err
	}
	if err := os.Chmod(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	if err := os.Chmod(file, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(log, "wrote the REST gateway's token to %s\n", file)
	return nil
}

// printScript prints the join steps as a shell script for the weft CLI.
func printScript(w io.Writer, l layout) error {
	fmt.Fprintf(w, "#!/bin/sh\n# What `weft-setup join -dir %s` does, as weft commands (written by `weft-setup print`).\nset -e\n", l.dir)
	fmt.Fprintf(w, "PACKAGE_ID=$(weft chaincode calculatepackageid %s)\n", l.pkg())
	for _, s := range joinSteps(l, "$PACKAGE_ID") {
		fmt.Fprintf(w, "\n# %s\n", s.title)
		c := s.cmd
		if c == nil {
			fmt.Fprintln(w, "# (setup retries this query until it prints true)")
			c = &s.done[0]
		}
		words := []string{"weft"}
		for _, a := range c.args {
			words = append(words, shellQuote(a))
		}
		fmt.Fprintln(w, strings.Join(append(append([]string{}, c.env...), strings.Join(words, " ")), " \\\n  "))
	}
	return nil
}

var plainWord = regexp.MustCompile(`^[A-Za-z0-9_./:=@,+-]+$`)

func shellQuote(s string) string {
	switch {
	case plainWord.MatchString(s):
		return s
	case strings.HasPrefix(s, "$"):
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
