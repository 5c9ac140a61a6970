// Command orderer runs a Weft ordering node. Like Fabric's orderer it reads
// orderer.yaml from the folder named by FABRIC_CFG_PATH, with ORDERER_*
// environment overrides (ORDERER_GENERAL_LISTENPORT, ORDERER_ADMIN_TLS_ENABLED...).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/orderer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "orderer:", err)
		os.Exit(1)
	}
}

// run starts the orderer and serves until ctx is done; started (may be nil)
// sees the running node.
func run(ctx context.Context, args []string, started func(*orderer.Node)) error {
	if len(args) > 0 {
		switch args[0] {
		case "start":
		case "version":
			fmt.Println("weft orderer (Fabric v2.5 compatible)")
			return nil
		default:
			return fmt.Errorf("unknown command %q: use `orderer`, `orderer start` or `orderer version`", args[0])
		}
	}
	cfg, err := orderer.LoadConfig("")
	if err != nil {
		return err
	}
	// Logs follow Logging.Format and Logging.Spec (FABRIC_LOGGING_FORMAT and
	// FABRIC_LOGGING_SPEC win); /logspec changes the levels at run time.
	h, err := operations.NewHandler(os.Stderr, cfg.Logging.Format)
	if err != nil {
		return fmt.Errorf("Logging.Format: %w", err)
	}
	logging, err := operations.NewLogging(h, cfg.Logging.Spec)
	if err != nil {
		return fmt.Errorf("Logging.Spec: %w", err)
	}
	log := logging.Logger()
	signer, err := msp.LoadSigningIdentity(cfg.General.LocalMSPDir, cfg.General.LocalMSPID)
	if err != nil {
		return fmt.Errorf("General.LocalMSPDir %s / LocalMSPID %s: %w", cfg.General.LocalMSPDir, cfg.General.LocalMSPID, err)
	}
	node, err := orderer.New(*cfg, signer, orderer.WithLogging(logging))
	if err != nil {
		return err
	}
	node.Start()
	if started != nil {
		started(node)
	}
	<-ctx.Done()
	log.Info("stopping orderer")
	node.Stop()
	return nil
}
