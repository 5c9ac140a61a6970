package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/protos"
)

const org1 = "organizations/peerOrganizations/org1.example.com"

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

// devCrypto returns the folder of the development network's crypto material
// (sampleconfig/crypto-config.yaml), shared by the tests of this binary.
func devCrypto(t *testing.T) string {
	t.Helper()
	return testnet.SampleNet(t).Dir
}

// devSigner loads an Org1 user (e.g. "Admin@org1.example.com") of devCrypto.
func devSigner(t *testing.T, dir, user string) *msp.SigningIdentity {
	t.Helper()
	s, err := msp.LoadSigningIdentity(filepath.Join(dir, org1, "users", user, "msp"), "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// devGenesis writes the sample configtx.yaml next to devCrypto's material,
// with the orderer endpoint pointed at a closed port so that the joined
// channel's block puller reaches no one, and returns mychannel's genesis block.
// replace holds further old, new pairs of configtx.yaml text.
func devGenesis(t *testing.T, dir string, replace ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "sampleconfig", "configtx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.NewReplacer(append([]string{"- localhost:7050", "- 127.0.0.1:1"}, replace...)...).Replace(string(raw)))
	f, err := os.CreateTemp(dir, "configtx-*.yaml") // next to organizations/, under a name of its own
	if err != nil {
		t.Fatal(err)
	}
	path := f.Name()
	t.Cleanup(func() { os.Remove(path) })
	_, err = f.Write(raw)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := channelconfig.LoadConfigTx(path)
	if err != nil {
		t.Fatal(err)
	}
	block, err := channelconfig.GenesisBlock(ctx, "ChannelUsingRaft", "mychannel")
	if err != nil {
		t.Fatal(err)
	}
	return protos.Marshal(block)
}

func freeAddress(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// startNode runs a peer of Org1 with TLS on free loopback ports and returns a
// client connection to it; the node stops when the test ends.
func startNode(t *testing.T, dir, fsPath string) *grpc.ClientConn {
	t.Helper()
	_, conn := runNode(t, dir, fsPath, quietLog)
	return conn
}

// runNode is startNode logging to log, returning the node too; tune, when
// given, adjusts the configuration first.
func runNode(t *testing.T, dir, fsPath string, log *slog.Logger, tune ...func(*Config)) (*Node, *grpc.ClientConn) {
	t.Helper()
	peerDir := filepath.Join(dir, org1, "peers", "peer0.org1.example.com")
	addr := freeAddress(t)
	cfg := Config{
		ID: "peer0.org1.example.com", ListenAddress: addr, Address: addr,
		ChaincodeListenAddress: freeAddress(t), LocalMSPID: "Org1MSP",
		MSPConfigPath: filepath.Join(peerDir, "msp"), FileSystemPath: fsPath,
		TLS: TLSConfig{
			Enabled:      true,
			CertFile:     filepath.Join(peerDir, "tls", "server.crt"),
			KeyFile:      filepath.Join(peerDir, "tls", "server.key"),
			RootCertFile: filepath.Join(peerDir, "tls", "ca.crt"),
		},
		GatewayEnabled: true, EndorsementTimeout: 5 * time.Second,
		ExecuteTimeout: 5 * time.Second, StartupTimeout: 5 * time.Second,
	}
	cfg.ChaincodeAddress = cfg.ChaincodeListenAddress
	for _, f := range tune {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, log)
	if err != nil {
		t.Fatalf("peer.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()

	ca, err := os.ReadFile(cfg.TLS.RootCertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
	})
	return n, conn
}

// propose sends a channel-less system chaincode proposal and returns the response.
func propose(t *testing.T, conn *grpc.ClientConn, signer protos.Signer, cc string, args ...[]byte) *pb.Response {
	t.Helper()
	sp, _, err := protos.NewProposal(signer, "", cc, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, err := pb.NewEndorserClient(conn).ProcessProposal(ctx, sp, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("ProcessProposal %s %s: %v", cc, args[0], err)
	}
	return pr.GetResponse()
}

func channelList(t *testing.T, conn *grpc.ClientConn, signer protos.Signer) []string {
	t.Helper()
	resp := propose(t, conn, signer, "cscc", []byte("GetChannels"))
	if resp.Status != 200 {
		t.Fatalf("GetChannels: %d %s", resp.Status, resp.Message)
	}
	list := &pb.ChannelQueryResponse{}
	if err := proto.Unmarshal(resp.Payload, list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list.Channels {
		ids = append(ids, c.ChannelId)
	}
	return ids
}

// TestNodeJoinChain runs a real peer over TLS: a non-admin cannot join it to
// a channel, an admin can, the channel is then served by qscc, and it is
// reopened after a restart.
func TestNodeJoinChain(t *testing.T) {
	t.Parallel()
	dir := devCrypto(t)
	genesis := devGenesis(t, dir)
	fsPath := filepath.Join(t.TempDir(), "peerdata")
	admin := devSigner(t, dir, "Admin@org1.example.com")
	user := devSigner(t, dir, "User1@org1.example.com")

	t.Run("first run", func(t *testing.T) {
		conn := startNode(t, dir, fsPath)

		resp := propose(t, conn, user, "cscc", []byte("JoinChain"), genesis)
		if resp.Status != 403 || !strings.Contains(resp.Message, "User1@org1.example.com") || !strings.Contains(resp.Message, "admin") {
			t.Fatalf("JoinChain by User1 = %d %q, want 403 naming User1 and the admin requirement", resp.Status, resp.Message)
		}
		if ids := channelList(t, conn, admin); len(ids) != 0 {
			t.Fatalf("after a refused join the peer lists channels %v", ids)
		}

		resp = propose(t, conn, admin, "cscc", []byte("JoinChain"), []byte("not a block"))
		if resp.Status != 500 || !strings.Contains(resp.Message, "genesis block") {
			t.Fatalf("JoinChain with garbage = %d %q, want 500 about the genesis block", resp.Status, resp.Message)
		}

		resp = propose(t, conn, admin, "cscc", []byte("JoinChain"), genesis)
		if resp.Status != 200 {
			t.Fatalf("JoinChain by Admin = %d %q", resp.Status, resp.Message)
		}
		if ids := channelList(t, conn, admin); len(ids) != 1 || ids[0] != "mychannel" {
			t.Fatalf("GetChannels after join = %v, want [mychannel]", ids)
		}
		resp = propose(t, conn, admin, "cscc", []byte("JoinChain"), genesis)
		if resp.Status != 500 || !strings.Contains(resp.Message, "already joined channel mychannel") {
			t.Fatalf("second JoinChain = %d %q, want 500 already joined", resp.Status, resp.Message)
		}

		resp = propose(t, conn, user, "qscc", []byte("GetChainInfo"), []byte("mychannel"))
		info := &cb.BlockchainInfo{}
		if resp.Status != 200 || proto.Unmarshal(resp.Payload, info) != nil || info.Height != 1 {
			t.Fatalf("qscc GetChainInfo by User1 = %d %q, height %d; want 200 and height 1", resp.Status, resp.Message, info.Height)
		}
	})
	t.Run("restart reopens the channel", func(t *testing.T) {
		conn := startNode(t, dir, fsPath)
		if ids := channelList(t, conn, admin); len(ids) != 1 || ids[0] != "mychannel" {
			t.Fatalf("GetChannels after restart = %v, want [mychannel]", ids)
		}
		resp := propose(t, conn, user, "qscc", []byte("GetBlockByNumber"), []byte("mychannel"), []byte("0"))
		b := &cb.Block{}
		if resp.Status != 200 || proto.Unmarshal(resp.Payload, b) != nil {
			t.Fatalf("qscc GetBlockByNumber 0 after restart = %d %q", resp.Status, resp.Message)
		}
		want, _ := protos.UnmarshalBlock(genesis)
		if !proto.Equal(b.Data, want.Data) {
			t.Fatal("block 0 after restart differs from the genesis block joined")
		}
	})
}

// TestCSCCWithoutChannels exercises cscc's argument checks and admin check
// on a node that is not running.
func TestCSCCWithoutChannels(t *testing.T) {
	t.Parallel()
	dir := devCrypto(t)
	conf, err := msp.LoadMSPDir(filepath.Join(dir, org1, "peers", "peer0.org1.example.com", "msp"), "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	local, err := msp.New(conf)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{cfg: Config{ID: "peer0", FileSystemPath: t.TempDir()}, log: quietLog, localMSP: local, channels: map[string]*channel{}}
	c := &cscc{node: n}
	identity := func(user string) *msp.Identity {
		raw, err := devSigner(t, dir, user).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		id, err := local.DeserializeIdentity(raw)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	admin, user := identity("Admin@org1.example.com"), identity("User1@org1.example.com")
	genesis := devGenesis(t, dir)

	tests := []struct {
		name   string
		txc    *chaincode.TxContext
		args   [][]byte
		status int32
		want   string
	}{
		{"no function", &chaincode.TxContext{Creator: admin}, nil, 400, "no function given"},
		{"unknown function", &chaincode.TxContext{Creator: admin}, [][]byte{[]byte("LeaveChain")}, 400, `unknown function "LeaveChain"`},
		{"join without block", &chaincode.TxContext{Creator: admin}, [][]byte{[]byte("JoinChain")}, 400, "missing the channel's genesis block"},
		{"join without identity", &chaincode.TxContext{}, [][]byte{[]byte("JoinChain"), genesis}, 403, errNoCreator.Error()},
		{"join by a client", &chaincode.TxContext{Creator: user}, [][]byte{[]byte("JoinChain"), genesis}, 403, "User1@org1.example.com"},
		{"join on a stopped peer", &chaincode.TxContext{Creator: admin}, [][]byte{[]byte("JoinChain"), genesis}, 500, "peer is not running"},
		{"list with no channels", &chaincode.TxContext{Creator: user}, [][]byte{[]byte("GetChannels")}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := c.Invoke(context.Background(), tt.txc, &pb.ChaincodeInput{Args: tt.args})
			if resp.Status != tt.status || !strings.Contains(resp.Message, tt.want) {
				t.Fatalf("= %d %q, want %d containing %q", resp.Status, resp.Message, tt.status, tt.want)
			}
		})
	}
	if _, err := os.Stat(n.ledgersDir()); err == nil {
		t.Fatal("a refused join created a ledger folder")
	}
}
