package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/orderer"
)

func TestRunServesAndStops(t *testing.T) {
	dir := t.TempDir()
	cc, err := msp.LoadCryptoConfig("../../sampleconfig/crypto-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := msp.GenerateCrypto(cc, filepath.Join(dir, "organizations")); err != nil {
		t.Fatal(err)
	}
	// orderer.yaml with paths relative to its folder, as Fabric resolves them
	node := "organizations/ordererOrganizations/example.com/orderers/orderer.example.com"
	yaml := fmt.Sprintf(`General:
  ListenAddress: 127.0.0.1
  ListenPort: 7050
  TLS:
    Enabled: true
    PrivateKey: %[1]s/tls/server.key
    Certificate: %[1]s/tls/server.crt
    RootCAs: [%[1]s/tls/ca.crt]
  LocalMSPDir: %[1]s/msp
  LocalMSPID: OrdererMSP
FileLedger:
  Location: ledger
Operations:
  ListenAddress: 127.0.0.1:9443
Admin:
  ListenAddress: 127.0.0.1:7053
  TLS:
    Enabled: true
    PrivateKey: %[1]s/tls/server.key
    Certificate: %[1]s/tls/server.crt
    ClientAuthRequired: true
    ClientRootCAs: [%[1]s/tls/ca.crt]
`, node)
	if err := os.WriteFile(filepath.Join(dir, "orderer.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FABRIC_CFG_PATH", dir)
	// free ports chosen by the kernel, passed the way an operator would
	t.Setenv("ORDERER_GENERAL_LISTENPORT", "0")
	t.Setenv("ORDERER_ADMIN_LISTENADDRESS", "127.0.0.1:0")
	t.Setenv("ORDERER_OPERATIONS_LISTENADDRESS", "127.0.0.1:0")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	health := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, nil, func(n *orderer.Node) {
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + n.OperationsAddr() + "/healthz")
			if err != nil {
				health <- err.Error()
				return
			}
			defer resp.Body.Close()
			var body map[string]string
			json.NewDecoder(resp.Body).Decode(&body)
			health <- body["status"]
		})
	}()
	select {
	case h := <-health:
		if h != "OK" {
			t.Fatalf("healthz: %s", h)
		}
	case err := <-errc:
		t.Fatalf("orderer exited: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("orderer did not start")
	}
	// Stopped only once the health answer is in, so that its exit cannot
	// race the answer in the select above.
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ledger")); err != nil {
		t.Fatalf("FileLedger.Location not resolved against FABRIC_CFG_PATH: %v", err)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "orderer.yaml"), []byte("General:\n  ListenAddress: 127.0.0.1\n  ListenPort: 7050\n  LocalMSPDir: msp\nFileLedger:\n  Location: ledger\n"), 0o644)
	t.Setenv("FABRIC_CFG_PATH", dir)
	err := run(context.Background(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "ORDERER_GENERAL_LOCALMSPID") {
		t.Fatalf("error does not name the key: %v", err)
	}
	if err := run(context.Background(), []string{"bogus"}, nil); err == nil {
		t.Fatal("unknown command accepted")
	}
}
