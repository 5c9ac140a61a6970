// Command peer runs a Weft peer node: `peer node start`, configured like
// Fabric's peer from core.yaml in FABRIC_CFG_PATH with CORE_* overrides.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/peer"
)

const usage = "usage: peer node start | peer version"

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 1 && args[0] == "version":
		fmt.Println("peer (Weft) compatible with Hyperledger Fabric v2.5")
		return
	case len(args) == 2 && args[0] == "node" && args[1] == "start":
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dir := os.Getenv("FABRIC_CFG_PATH")
	if dir == "" {
		dir = "."
	}
	cfg, err := peer.LoadConfig(dir)
	if err != nil {
		log.Error("cannot start peer", "err", err)
		os.Exit(1)
	}
	// From here on the peer logs as logging.format and logging.spec say,
	// and /logspec on the operations listener changes the levels.
	logging, err := newLogging(cfg.Logging)
	if err != nil {
		log.Error("cannot start peer", "err", err)
		os.Exit(1)
	}
	log = logging.Logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	node, err := peer.New(cfg, log, peer.WithLogging(logging))
	if err != nil {
		log.Error("cannot start peer", "err", err)
		os.Exit(1)
	}
	if err := node.Run(ctx); err != nil {
		log.Error("peer stopped", "err", err)
		os.Exit(1)
	}
}

// newLogging builds the peer's log output on stderr.
func newLogging(c peer.LoggingConfig) (*operations.Logging, error) {
	h, err := operations.NewHandler(os.Stderr, c.Format)
	if err != nil {
		return nil, fmt.Errorf("logging.format: %w", err)
	}
	lg, err := operations.NewLogging(h, c.Spec)
	if err != nil {
		return nil, fmt.Errorf("logging.spec: %w", err)
	}
	return lg, nil
}
