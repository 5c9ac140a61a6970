package shim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// Environment variables a peer sets when it launches a chaincode (the same
// names and encodings as Fabric's).
const (
	EnvChaincodeIDName = "CORE_CHAINCODE_ID_NAME"      // chaincode name (package ID) to register as
	EnvPeerAddress     = "CORE_PEER_ADDRESS"           // peer chaincode endpoint host:port (the -peer.address flag wins)
	EnvTLSEnabled      = "CORE_PEER_TLS_ENABLED"       // "true" or "false", required
	EnvTLSRootCertFile = "CORE_PEER_TLS_ROOTCERT_FILE" // PEM file of the peer's TLS CA
	EnvTLSKeyFile      = "CORE_TLS_CLIENT_KEY_FILE"    // PEM file of the client key
	EnvTLSCertFile     = "CORE_TLS_CLIENT_CERT_FILE"   // PEM file of the client certificate
	EnvTLSKeyPath      = "CORE_TLS_CLIENT_KEY_PATH"    // file holding the base64 of the PEM key (used when ..._KEY_FILE is unset)
	EnvTLSCertPath     = "CORE_TLS_CLIENT_CERT_PATH"   // file holding the base64 of the PEM cert (used when ..._CERT_FILE is unset)
)

const (
	maxMessageSize = 100 * 1024 * 1024 // what a Fabric peer accepts on the chaincode stream

	// streamWindow fixes the HTTP/2 flow-control window, per stream and per
	// connection. Left dynamic, gRPC measures the bandwidth with a PING
	// after each DATA frame it receives while none is outstanding: on the
	// chaincode stream, which carries small messages one at a time, nearly
	// every message then costs a WINDOW_UPDATE and a PING one way and a PING
	// ack the other, extra writes and wake-ups on both sides, and the window
	// never grows anyway. 4 MiB keeps large messages flowing.
	streamWindow = 4 << 20
)

// Start registers cc with the peer that launched this process and serves it
// until the stream ends. The peer address comes from the -peer.address flag
// (as Fabric's launcher passes it) or CORE_PEER_ADDRESS; the name from
// CORE_CHAINCODE_ID_NAME; TLS from CORE_PEER_TLS_ENABLED and the
// CORE_PEER_TLS_ROOTCERT_FILE / CORE_TLS_CLIENT_* variables.
func Start(cc Chaincode) error {
	return StartWithContext(context.Background(), cc)
}

// StartWithContext is Start that also ends when ctx is cancelled.
func StartWithContext(ctx context.Context, cc Chaincode) error {
	cfg, err := loadClientConfig(os.LookupEnv, os.Args[1:])
	if err != nil {
		return err
	}
	return runClient(ctx, cfg, cc, slog.Default())
}

// clientConfig is the peer-launched mode's configuration.
type clientConfig struct {
	name    string
	address string
	tls     *tls.Config // nil: plaintext
}

// peerAddressFlag finds -peer.address / --peer.address in args without
// touching the global flag set, which belongs to the chaincode's main.
func peerAddressFlag(args []string) string {
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "peer.address" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func loadClientConfig(lookup func(string) (string, bool), args []string) (clientConfig, error) {
	get := func(k string) string { v, _ := lookup(k); return v }
	cfg := clientConfig{name: get(EnvChaincodeIDName), address: peerAddressFlag(args)}
	if cfg.name == "" {
		return clientConfig{}, fmt.Errorf("shim: %s must be set to the chaincode's package ID", EnvChaincodeIDName)
	}
	if cfg.address == "" {
		cfg.address = get(EnvPeerAddress)
	}
	if cfg.address == "" {
		return clientConfig{}, fmt.Errorf("shim: no peer address: pass -peer.address=host:port or set %s", EnvPeerAddress)
	}
	enabled, err := strconv.ParseBool(get(EnvTLSEnabled))
	if err != nil {
		return clientConfig{}, fmt.Errorf("shim: %s must be set to 'true' or 'false' (got %q)", EnvTLSEnabled, get(EnvTLSEnabled))
	}
	if !enabled {
		return cfg, nil
	}
	key, err := readPEMOrBase64(lookup, EnvTLSKeyFile, EnvTLSKeyPath, "client TLS key")
	if err != nil {
		return clientConfig{}, err
	}
	cert, err := readPEMOrBase64(lookup, EnvTLSCertFile, EnvTLSCertPath, "client TLS certificate")
	if err != nil {
		return clientConfig{}, err
	}
	rootFile := get(EnvTLSRootCertFile)
	root, err := os.ReadFile(rootFile)
	if err != nil {
		return clientConfig{}, fmt.Errorf("shim: read the peer's TLS root certificate from %s=%q: %w", EnvTLSRootCertFile, rootFile, err)
	}
	cfg.tls, err = clientTLSConfig(key, cert, root)
	if err != nil {
		return clientConfig{}, err
	}
	return cfg, nil
}

// readPEMOrBase64 reads a PEM file named by fileVar, or else a file named by
// pathVar that holds the base64 of the PEM (how Fabric's launcher passes them).
func readPEMOrBase64(lookup func(string) (string, bool), fileVar, pathVar, what string) ([]byte, error) {
	if path, ok := lookup(fileVar); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("shim: read %s from %s=%q: %w", what, fileVar, path, err)
		}
		return b, nil
	}
	path, _ := lookup(pathVar)
	if path == "" {
		return nil, fmt.Errorf("shim: TLS is enabled but neither %s nor %s names the %s", fileVar, pathVar, what)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("shim: read %s from %s=%q: %w", what, pathVar, path, err)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("shim: %s in %s=%q is not base64: %w", what, pathVar, path, err)
	}
	return b, nil
}

func clientTLSConfig(key, cert, root []byte) (*tls.Config, error) {
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("shim: load client TLS key pair: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		return nil, errors.New("shim: the peer's TLS root certificate file holds no PEM certificate")
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, RootCAs: pool}, nil
}

// runClient dials the peer, opens ChaincodeSupport/Register and chats on it.
func runClient(ctx context.Context, cfg clientConfig, cc Chaincode, log *slog.Logger) error {
	creds := insecure.NewCredentials()
	if cfg.tls != nil {
		creds = credentials.NewTLS(cfg.tls)
	}
	conn, err := grpc.NewClient(cfg.address,
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: time.Minute, Timeout: 20 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
		grpc.WithStaticStreamWindowSize(streamWindow), grpc.WithStaticConnWindowSize(streamWindow),
	)
	if err != nil {
		return fmt.Errorf("shim: dial peer %s: %w", cfg.address, err)
	}
	defer conn.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // unblocks the stream's receiver once the chat is over
	stream, err := pb.NewChaincodeSupportClient(conn).Register(ctx)
	if err != nil {
		return fmt.Errorf("shim: open ChaincodeSupport/Register on peer %s: %w", cfg.address, err)
	}
	err = chat(cfg.name, stream, cc, log.With("peer", cfg.address))
	_ = stream.CloseSend()
	return err
}
