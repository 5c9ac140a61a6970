package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	shim "github.com/weft-ledger/weft/chaincode-shim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.LookupEnv); err != nil && ctx.Err() == nil {
		slog.Error("basic chaincode stopped", "error", err)
		os.Exit(1)
	}
}

// run picks the mode: chaincode server when CHAINCODE_SERVER_ADDRESS is set,
// otherwise peer-launched (shim.Start reads the CORE_* variables itself).
func run(ctx context.Context, lookup func(string) (string, bool)) error {
	if addr, _ := lookup("CHAINCODE_SERVER_ADDRESS"); addr == "" {
		return shim.StartWithContext(ctx, AssetTransfer{})
	}
	server, err := newServer(lookup)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- server.Start() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		server.Stop()
		return <-errc
	}
}

// newServer builds the chaincode server from CHAINCODE_* variables.
func newServer(lookup func(string) (string, bool)) (*shim.ChaincodeServer, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return v
	}
	ccid, err := chaincodeID(get)
	if err != nil {
		return nil, err
	}
	tlsProps, err := tlsProperties(get)
	if err != nil {
		return nil, err
	}
	return &shim.ChaincodeServer{CCID: ccid, Address: get("CHAINCODE_SERVER_ADDRESS"), CC: AssetTransfer{}, TLSProps: tlsProps}, nil
}

// chaincodeID is CHAINCODE_ID, else the content of the file CHAINCODE_ID_FILE
// names (read at start, so a container definition need not know the package
// ID before the package exists).
func chaincodeID(get func(string) string) (string, error) {
	if id := get("CHAINCODE_ID"); id != "" {
		return id, nil
	}
	file := get("CHAINCODE_ID_FILE")
	if file == "" {
		return "", errors.New("CHAINCODE_ID (or CHAINCODE_ID_FILE, a file holding it) must be set to the chaincode package ID when CHAINCODE_SERVER_ADDRESS is set")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("CHAINCODE_ID_FILE: %w", err)
	}
	id := strings.TrimSpace(string(raw))
	if id == "" {
		return "", fmt.Errorf("CHAINCODE_ID_FILE: %s is empty; it must hold the chaincode package ID", file)
	}
	return id, nil
}

// tlsProperties turns TLS on when CHAINCODE_TLS_KEY and CHAINCODE_TLS_CERT
// name PEM files, unless CHAINCODE_TLS_DISABLED=true.
func tlsProperties(get func(string) string) (shim.TLSProperties, error) {
	keyFile, certFile, caFile := get("CHAINCODE_TLS_KEY"), get("CHAINCODE_TLS_CERT"), get("CHAINCODE_CLIENT_CA_CERT")
	disabled := keyFile == "" && certFile == ""
	if v := get("CHAINCODE_TLS_DISABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return shim.TLSProperties{}, fmt.Errorf("CHAINCODE_TLS_DISABLED must be true or false, got %q", v)
		}
		disabled = b
	}
	if disabled {
		return shim.TLSProperties{Disabled: true}, nil
	}
	if keyFile == "" || certFile == "" {
		return shim.TLSProperties{}, errors.New("TLS needs both CHAINCODE_TLS_KEY and CHAINCODE_TLS_CERT (PEM files); set CHAINCODE_TLS_DISABLED=true to run without TLS")
	}
	read := func(name, path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		return b, nil
	}
	var (
		p   shim.TLSProperties
		err error
	)
	if p.Key, err = read("CHAINCODE_TLS_KEY", keyFile); err != nil {
		return p, err
	}
	if p.Cert, err = read("CHAINCODE_TLS_CERT", certFile); err != nil {
		return p, err
	}
	if caFile != "" {
		if p.ClientCACerts, err = read("CHAINCODE_CLIENT_CA_CERT", caFile); err != nil {
			return p, err
		}
	}
	return p, nil
}
