// Command restgateway runs Weft's REST gateway (HTTP/JSON in front of a
// peer's Fabric Gateway service): `restgateway start [--config file]`;
// `restgateway token FILE` writes a random bearer token into FILE (mode
// 0600) for restgateway.auth.tokens[].tokenFile, keeping an existing one.
// The configuration is restgateway.yaml (see sampleconfig/restgateway.yaml):
// by default the one in FABRIC_CFG_PATH, else in the working folder; WEFT_*
// environment variables override its keys (WEFT_RESTGATEWAY_LISTENADDRESS
// for restgateway.listenAddress, ...). Logs go to stderr; FABRIC_LOGGING_SPEC
// sets their levels (also at run time through the operations endpoint
// /logspec) and FABRIC_LOGGING_FORMAT their form (text or json).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/restgateway"
)

const usage = "usage: restgateway start [--config restgateway.yaml] | restgateway token FILE | restgateway version"

func main() {
	args := os.Args[1:]
	if len(args) == 1 && args[0] == "version" {
		fmt.Println("restgateway (Weft REST gateway) for Hyperledger Fabric v2.5 compatible peers")
		return
	}
	if len(args) == 2 && args[0] == "token" {
		wrote, err := restgateway.WriteNewToken(args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "restgateway token:", err)
			os.Exit(1)
		}
		if wrote {
			fmt.Printf("wrote a new token to %s; bind it to an identity in restgateway.auth.tokens (tokenFile: %s)\n", args[1], args[1])
		} else {
			fmt.Printf("%s exists: kept its token (remove the file for a new one)\n", args[1])
		}
		return
	}
	if len(args) == 0 || args[0] != "start" {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	fs := flag.NewFlagSet("restgateway start", flag.ContinueOnError)
	dir := os.Getenv("FABRIC_CFG_PATH")
	if dir == "" {
		dir = "."
	}
	file := fs.String("config", filepath.Join(dir, "restgateway.yaml"), "the REST gateway's configuration file")
	if err := fs.Parse(args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	h, err := operations.NewHandler(os.Stderr, os.Getenv("FABRIC_LOGGING_FORMAT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "FABRIC_LOGGING_FORMAT:", err)
		os.Exit(2)
	}
	logging, err := operations.NewLogging(h, os.Getenv("FABRIC_LOGGING_SPEC"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "FABRIC_LOGGING_SPEC:", err)
		os.Exit(2)
	}
	log := logging.Logger()
	cfg, err := restgateway.LoadConfig(*file)
	if err != nil {
		log.Error("cannot start the REST gateway", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := restgateway.Run(ctx, cfg, logging, nil); err != nil {
		log.Error("REST gateway stopped", "err", err)
		os.Exit(1)
	}
}
