package peer

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/peer/validator"
	"github.com/weft-ledger/weft/protos"
)

// panicNet is a peer with its operations listener, joined to mychannel,
// following a fake orderer that serves blocks 1..3 of envelopes by User1.
type panicNet struct {
	node *Node
	ch   *channel
	ops  string
}

func startPanicNet(t *testing.T, h hooks) *panicNet {
	t.Helper()
	tn := testnet.SampleNet(t)
	dir := tn.Dir
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	genesis := genesisWithOrderer(t, dir, lis.Addr().String())
	user := devSigner(t, dir, "User1@org1.example.com")
	orderer := tn.Signer(t, "orderer.example.com")
	blocks := []*cb.Block{genesis}
	for _, txs := range []int{2, 1, 1} {
		var envs [][]byte
		for range txs {
			env, err := protos.NewSignedEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "mychannel", user, &pb.Transaction{})
			if err != nil {
				t.Fatal(err)
			}
			envs = append(envs, protos.Marshal(env))
		}
		blocks = append(blocks, signedBlock(t, orderer, blocks[len(blocks)-1], envs))
	}
	fake := &fakeOrderer{blocks: blocks, released: uint64(len(blocks)), more: make(chan struct{})}
	osrv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{tn.TLSCert(t, "orderer.example.com")}, MinVersion: tls.VersionTLS12})))
	ab.RegisterAtomicBroadcastServer(osrv, fake)
	go osrv.Serve(lis)
	t.Cleanup(osrv.Stop)

	n, conn := runNode(t, dir, filepath.Join(t.TempDir(), "peerdata"), quietLog, func(c *Config) {
		c.OperationsAddress, c.MetricsProvider = "127.0.0.1:0", "disabled"
	})
	n.hooks = h // before any channel exists: read by the channels the join starts
	eventually.True(t, 5*time.Second, "the operations listener", func() bool { return n.OperationsAddr() != "" })
	admin := devSigner(t, dir, "Admin@org1.example.com")
	if resp := propose(t, conn, admin, "cscc", []byte("JoinChain"), protos.Marshal(genesis)); resp.Status != 200 {
		t.Fatalf("JoinChain = %d %s", resp.Status, resp.Message)
	}
	ch, err := n.channel("mychannel")
	if err != nil {
		t.Fatal(err)
	}
	return &panicNet{node: n, ch: ch, ops: "http://" + n.OperationsAddr()}
}

func (p *panicNet) code(t *testing.T, block uint64, tx int) pb.TxValidationCode {
	t.Helper()
	b, err := p.ch.ledger.Blocks().Block(block)
	if err != nil {
		t.Fatal(err)
	}
	return pb.TxValidationCode(protos.TxFilter(b)[tx])
}

// A transaction that panics a validator worker is committed invalid
// (INVALID_OTHER_REASON) and the peer goes on committing the next blocks;
// /healthz stays OK.
func TestValidatorPanicInvalidatesOnlyThatTransaction(t *testing.T) {
	t.Parallel()
	p := startPanicNet(t, hooks{beforeTx: func(block uint64, tx int) {
		if block == 1 && tx == 1 {
			panic("injected fault in the validator")
		}
	}})
	eventually.True(t, 10*time.Second, "blocks 1 to 3 committed", func() bool { return p.ch.committed.Height() == 4 })
	if got := p.code(t, 1, 1); got != validator.PanicCode {
		t.Fatalf("block 1 tx 1 = %s, want %s", got, validator.PanicCode)
	}
	// Its neighbour and the later transactions, alike, get their usual verdict.
	usual := p.code(t, 2, 0)
	if usual == validator.PanicCode {
		t.Fatalf("the plain transactions are %s too: the test cannot tell them apart", usual)
	}
	if got := p.code(t, 1, 0); got != usual {
		t.Fatalf("block 1 tx 0 = %s, want %s like the same transaction in block 2", got, usual)
	}
	if got := p.code(t, 3, 0); got != usual {
		t.Fatalf("block 3 tx 0 = %s, want %s", got, usual)
	}
	if code, body := httpGet(t, p.ops+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d %s", code, body)
	}
}

// A panic in the commit path stops that channel's commits and is reported:
// logged, and /healthz fails naming the channel, the block and the panic;
// the peer process keeps serving.
func TestCommitPanicIsReported(t *testing.T) {
	t.Parallel()
	p := startPanicNet(t, hooks{beforeCommit: func(channel string, block uint64) {
		if block == 2 {
			panic("injected fault in the commit path")
		}
	}})
	eventually.True(t, 10*time.Second, "commits halted", func() bool { return p.ch.halted.Load() != nil })
	code, body := httpGet(t, p.ops+"/healthz")
	if code != 503 || !strings.Contains(body, `"component":"commits"`) || !strings.Contains(body, "channel mychannel: commits stopped") ||
		!strings.Contains(body, "committing block 2 panicked") || !strings.Contains(body, "injected fault in the commit path") {
		t.Fatalf("/healthz after a commit panic = %d %s", code, body)
	}
	if h := p.ch.committed.Height(); h != 2 {
		t.Fatalf("committed height %d, want 2: block 1 committed, nothing after the panic", h)
	}
	// The node still answers.
	if _, err := p.node.channel("mychannel"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.node.checkRunning(ctx); err != nil {
		t.Fatalf("peer no longer running: %v", err)
	}
}
