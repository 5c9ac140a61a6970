package peer

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
	"github.com/weft-ledger/weft/protos"
)

// peer.limits.concurrency reaches the peer's gRPC server: with
// deliverService 1, a second Deliver stream is refused at once with Fabric's
// message while the first is open, and served once it closed.
func TestPeerConcurrencyLimit(t *testing.T) {
	t.Parallel()
	dir := testnet.SampleNet(t).Dir
	_, conn := runNode(t, dir, filepath.Join(t.TempDir(), "peerdata"), quietLog, func(c *Config) {
		c.Limits = LimitsConfig{DeliverService: 1}
	})
	user := devSigner(t, dir, "User1@org1.example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	newest := &ab.SeekPosition{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}}
	req, err := protos.NewDeliverRequest(user, "nochannel", &ab.SeekInfo{Start: newest, Stop: newest}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first stream is served: it answers (channel not found) and stays open.
	first, err := pb.NewDeliverClient(conn).Deliver(ctx, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Send(req); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); err != nil {
		t.Fatalf("first stream: %v", err)
	}
	second, err := pb.NewDeliverClient(conn).Deliver(ctx, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	_, err = second.Recv()
	if status.Code(err) != codes.ResourceExhausted || status.Convert(err).Message() != "too many requests for /protos.Deliver, exceeding concurrency limit (1)" {
		t.Fatalf("second stream while the first is open: %v", err)
	}
	// Other services are not limited by it.
	if resp := propose(t, conn, devSigner(t, dir, "Admin@org1.example.com"), "cscc", []byte("GetChannels")); resp.Status != 200 {
		t.Fatalf("cscc GetChannels = %d %s", resp.Status, resp.Message)
	}
	if err := first.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := first.Recv(); err != nil {
			break
		}
	}
	third, err := pb.NewDeliverClient(conn).Deliver(ctx, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := third.Send(req); err != nil {
		t.Fatal(err)
	}
	if _, err := third.Recv(); err != nil {
		t.Fatalf("stream after the first closed: %v", err)
	}
}

// peer.limits.chaincodePackage reaches _lifecycle: a package whose
// code.tar.gz has more entries than allowed is refused at install, naming
// the entry and the key; one within the limit installs.
func TestPeerChaincodePackageLimit(t *testing.T) {
	t.Parallel()
	dir := testnet.SampleNet(t).Dir
	_, conn := runNode(t, dir, filepath.Join(t.TempDir(), "peerdata"), quietLog, func(c *Config) {
		c.Limits.Package = ccpackage.Limits{MaxEntries: 2}
	})
	admin := devSigner(t, dir, "Admin@org1.example.com")
	install := func(files map[string][]byte) *pb.Response {
		t.Helper()
		code, err := client.TarGz(files)
		if err != nil {
			t.Fatal(err)
		}
		pkg, err := client.TarGz(map[string][]byte{"metadata.json": []byte(`{"type":"ccaas","label":"limited_1"}`), "code.tar.gz": code})
		if err != nil {
			t.Fatal(err)
		}
		return propose(t, conn, admin, "_lifecycle", []byte("InstallChaincode"), protos.Marshal(&lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg}))
	}
	resp := install(map[string][]byte{"a": nil, "b": nil, "connection.json": []byte(`{"address":"127.0.0.1:9999"}`)})
	if resp.Status != 500 || !strings.Contains(resp.Message, ccpackage.KeyMaxEntries) || !strings.Contains(resp.Message, "limit of 2 entries") {
		t.Fatalf("install over the entry limit = %d %q", resp.Status, resp.Message)
	}
	if resp := install(map[string][]byte{"connection.json": []byte(`{"address":"127.0.0.1:9999"}`)}); resp.Status != 200 {
		t.Fatalf("install within the limit = %d %q", resp.Status, resp.Message)
	}
}
