package chaincode

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testlog"
	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
)

// launchRecord is one launch a recordingLauncher was asked for.
type launchRecord struct {
	id    string
	creds *LaunchTLS
}

// recordingLauncher starts nothing: it reports each launch, with the TLS
// material the runtime issued for it, so the test can play the chaincode
// (or an impostor).
type recordingLauncher chan launchRecord

func (l recordingLauncher) Launch(_ context.Context, id string, creds *LaunchTLS) (*Instance, error) {
	l <- launchRecord{id, creds}
	return &Instance{}, nil
}

// clientTLS is what a chaincode given creds dials the listener with; a nil
// certificate or key leaves the client certificate out.
func clientTLS(t *testing.T, root, certPEM, keyPEM []byte) credentials.TransportCredentials {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatal("no root certificate")
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		// Sent whatever CAs the listener names (Go's default selection
		// would leave out a certificate from another CA).
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return credentials.NewTLS(tc)
}

// expectRefused reads from cc and wants an error containing every want.
func expectRefused(t *testing.T, cc *rawChaincode, wants ...string) {
	t.Helper()
	m, err := cc.recv()
	if err == nil {
		t.Fatalf("the peer accepted the registration: got %s, want an error containing %q", m.Type, wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

// serveTransaction plays a registered chaincode for one transaction.
func serveTransaction(t *testing.T, cc *rawChaincode, payload string) {
	t.Helper()
	cc.expect(pb.ChaincodeMessage_REGISTERED)
	cc.expect(pb.ChaincodeMessage_READY)
	tx := cc.expect(pb.ChaincodeMessage_TRANSACTION)
	cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_COMPLETED, Txid: tx.Txid, ChannelId: tx.ChannelId,
		Payload: mustMarshal(t, &pb.Response{Status: 200, Payload: []byte(payload)})})
}

// With TLS on, only the chaincode a launch was for, presenting the client
// certificate issued for that launch, can register; every impostor is
// refused with an error naming the cause, and the launches it tried to hijack
// still complete with the genuine chaincode.
func TestChaincodeListenerRefusesImpostors(t *testing.T) {
	ca := mustCA(t)
	var logs testlog.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	launches := make(recordingLauncher, 4)
	rt := NewRuntime(Config{Logger: log, CA: ca, RegisterTimeout: 2 * time.Minute}, launches)
	addr := serveWithCA(t, rt, ca, log)

	// Two launches in progress: A and B wait for their chaincode to register.
	const idA, idB = "cca_1:aa", "ccb_1:bb"
	results := map[string]chan error{}
	for _, id := range []string{idA, idB} {
		results[id] = make(chan error, 1)
		txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "cc", newFakeSim(nil), nil, "go")
		go func() {
			resp, _, err := rt.Execute(context.Background(), id, txc, in)
			if err == nil && string(resp.Payload) != id {
				err = &TransactionError{PackageID: id, Message: "answered by the wrong chaincode: " + string(resp.Payload)}
			}
			results[id] <- err
		}()
	}
	creds := map[string]*LaunchTLS{}
	for len(creds) < 2 {
		select {
		case rec := <-launches:
			if rec.creds == nil {
				t.Fatalf("launch of %s got no TLS material from a runtime with a CA", rec.id)
			}
			creds[rec.id] = rec.creds
		case <-time.After(time.Minute):
			t.Fatal("the runtime did not launch both chaincodes")
		}
	}
	// Each launch's certificate names its package and chains to the CA.
	for id, c := range creds {
		blk, _ := pem.Decode(c.ClientCertPEM)
		if blk == nil {
			t.Fatalf("%s: client certificate is not PEM", id)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != id {
			t.Errorf("client certificate of %s has common name %q", id, cert.Subject.CommonName)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("client certificate of %s does not chain to the chaincode CA: %v", id, err)
		}
	}
	root := ca.CertPEM()

	// Connections without a certificate from the CA fail the TLS handshake:
	// the client sees the connection refused (the TLS alert or a broken pipe,
	// depending on timing), the peer logs the cause.
	logged := func(t *testing.T, cause string) {
		t.Helper()
		err := eventually.Wait(30*time.Second, func(context.Context) error {
			if !strings.Contains(logs.String(), cause) {
				return errors.New("not logged yet")
			}
			return nil
		})
		if err != nil {
			t.Errorf("the peer did not log %q:\n%s", cause, logs.String())
		}
	}
	t.Run("plaintext", func(t *testing.T) {
		expectRefused(t, dialRegisterCreds(t, addr, idA, insecure.NewCredentials()), "Unavailable")
		logged(t, "first record does not look like a TLS handshake")
	})
	t.Run("no client certificate", func(t *testing.T) {
		expectRefused(t, dialRegisterCreds(t, addr, idA, clientTLS(t, root, nil, nil)), "Unavailable")
		logged(t, "client didn't provide a certificate")
	})
	t.Run("client certificate from another CA", func(t *testing.T) {
		other := newTestCA(t)
		cert, key := other.issue(t, idA)
		expectRefused(t, dialRegisterCreds(t, addr, idA, clientTLS(t, root, cert, key)), "Unavailable")
		logged(t, "certificate signed by unknown authority")
	})
	t.Run("certificate issued for A registering as B", func(t *testing.T) {
		a := creds[idA]
		expectRefused(t, dialRegisterCreds(t, addr, idB, clientTLS(t, root, a.ClientCertPEM, a.ClientKeyPEM)),
			"PermissionDenied", `registration as "ccb_1:bb" refused`, `issued for chaincode "cca_1:aa"`)
	})
	t.Run("certificate registering a package the peer is not launching", func(t *testing.T) {
		a := creds[idA]
		expectRefused(t, dialRegisterCreds(t, addr, "ccz_1:zz", clientTLS(t, root, a.ClientCertPEM, a.ClientKeyPEM)),
			"PermissionDenied", `registration as "ccz_1:zz" refused`, `issued for chaincode "cca_1:aa"`)
	})

	// The genuine chaincode of each launch registers and serves.
	for _, id := range []string{idB, idA} {
		c := creds[id]
		serveTransaction(t, dialRegisterCreds(t, addr, id, clientTLS(t, root, c.ClientCertPEM, c.ClientKeyPEM)), id)
		select {
		case err := <-results[id]:
			if err != nil {
				t.Fatalf("execute on %s: %v", id, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("execute on %s did not finish", id)
		}
	}

	t.Run("certificate replayed after its launch registered", func(t *testing.T) {
		a := creds[idA]
		expectRefused(t, dialRegisterCreds(t, addr, idA, clientTLS(t, root, a.ClientCertPEM, a.ClientKeyPEM)),
			"PermissionDenied", `registration as "cca_1:aa" refused`, "belongs to no launch in progress")
	})
	if !strings.Contains(logs.String(), "chaincode registration refused") {
		t.Errorf("the peer did not log the refused registrations:\n%s", logs.String())
	}
}

// Without TLS, a registration for a package the peer is not launching is
// refused; a launched chaincode registers.
func TestRegistrationOfUnlaunchedChaincodeRefused(t *testing.T) {
	launches := make(recordingLauncher, 1)
	rt := NewRuntime(Config{Logger: testLogger(t), RegisterTimeout: 2 * time.Minute}, launches)
	addr := cctest.ServeRegister(t, rt)

	expectRefused(t, dialRegister(t, addr, "ghost_1:00"), "PermissionDenied", `registration as "ghost_1:00" refused`, "not launching chaincode")

	done := make(chan error, 1)
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "cc", newFakeSim(nil), nil, "go")
	go func() {
		_, _, err := rt.Execute(context.Background(), "real_1:00", txc, in)
		done <- err
	}()
	select {
	case rec := <-launches:
		if rec.creds != nil {
			t.Fatal("a runtime without a CA issued TLS material")
		}
	case <-time.After(time.Minute):
		t.Fatal("no launch")
	}
	serveTransaction(t, dialRegister(t, addr, "real_1:00"), "ok")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Once registered, the same package ID cannot register again.
	expectRefused(t, dialRegister(t, addr, "real_1:00"), "not launching chaincode")
}

// Weft's shim, launched by the peer with TLS on, registers over mutual TLS;
// the TLS files are in Fabric's formats while it runs and gone once it exits.
func TestPeerLaunchedWeftShimOverMutualTLS(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "basic")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/weft-ledger/weft/samples/basic")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build samples/basic: %v\n%s", err, out)
	}
	ca := mustCA(t)
	buildDir := t.TempDir()
	l := &PackageLauncher{BuildDir: buildDir, LocalMSPID: "Org1MSP", Logger: testLogger(t)}
	rt := NewRuntime(Config{Logger: testLogger(t), CA: ca}, startLauncher{l, bin})
	l.PeerAddress = serveWithCA(t, rt, ca, testLogger(t))

	const id = "basic_1:00"
	sim := newFakeSim(map[string][]byte{"basic\x00asset1": []byte(`{"ID":"asset1"}`)})
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "basic", sim, nil, "AssetExists", "asset1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp := mustOK(t)(rt.Execute(ctx, id, txc, in))
	if string(resp.Payload) != "true" {
		t.Fatalf("AssetExists over TLS = %q", resp.Payload)
	}

	dirs, err := filepath.Glob(filepath.Join(buildDir, "launch-tls", "launch-*"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("TLS folders of the running chaincode: %v %v", dirs, err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dirs[0], name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, pair := range [][2]string{{"client.key", "client_pem.key"}, {"client.crt", "client_pem.crt"}} {
		dec, err := base64.StdEncoding.DecodeString(string(read(pair[0])))
		if err != nil || !bytes.Equal(dec, read(pair[1])) {
			t.Errorf("%s is not the base64 of %s (%v)", pair[0], pair[1], err)
		}
	}
	if !bytes.Equal(read("peer.crt"), ca.CertPEM()) {
		t.Error("peer.crt is not the chaincode CA certificate")
	}
	if fi, err := os.Stat(dirs[0]); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("TLS folder mode = %v (%v), want 0700", fi.Mode().Perm(), err)
	}

	rt.Close() // kills the chaincode
	if _, err := os.Stat(dirs[0]); !os.IsNotExist(err) {
		t.Errorf("TLS folder of the exited chaincode still there: %v", err)
	}
}

// startLauncher runs a prebuilt chaincode binary as PackageLauncher runs a
// built package.
type startLauncher struct {
	l   *PackageLauncher
	bin string
}

func (s startLauncher) Launch(_ context.Context, id string, creds *LaunchTLS) (*Instance, error) {
	return s.l.start(id, s.bin, creds)
}
