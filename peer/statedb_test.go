package peer

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/internal/couchtest"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testlog"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/couchdb"
)

// couchNet is a real peer (in process, over real gRPC and TLS) keeping its
// state in a CouchDB-compatible server, joined to mychannel and following a
// fake orderer to which the test adds blocks.
type couchNet struct {
	node    *Node
	conn    *grpc.ClientConn
	ch      *channel
	ops     string
	orderer *fakeOrderer
	signer  *msp.SigningIdentity // orderer.example.com, signs the blocks
	admin   *msp.SigningIdentity // Admin@org1.example.com
	tip     *cb.Block            // the last block added to the orderer
	log     *testlog.Buffer
	// attempts counts the commit path's attempts per block number.
	attempts [8]atomic.Int32
	// beforeApply, when set, runs before the next state write (once).
	beforeApply atomic.Pointer[func()]
}

// applyHook is the state database with couchNet.beforeApply run before a
// write: how the test takes CouchDB away between a block's append and its
// state write.
type applyHook struct {
	statedb.DB
	c *couchNet
}

func (h applyHook) Apply(b *statedb.Batch, sp statedb.Version) error {
	if fn := h.c.beforeApply.Swap(nil); fn != nil {
		(*fn)()
	}
	return h.DB.Apply(b, sp)
}

func couchConfig(url, prefix string) func(*Config) {
	return func(c *Config) {
		c.OperationsAddress, c.MetricsProvider = "127.0.0.1:0", "prometheus"
		c.Ledger = LedgerConfig{StateDatabase: StateCouchDB, TotalQueryLimit: 100000}
		c.Ledger.CouchDB.Address = url
		c.Ledger.CouchDB.DatabasePrefix = prefix
		c.Ledger.CouchDB.MaxRetries = 1
		c.Ledger.CouchDB.MaxRetriesOnStartup = 1
		c.Ledger.CouchDB.RequestTimeout = 5 * time.Second
		// The puller offers a refused block again within half a second.
		c.DeliveryClient.ReconnectMin, c.DeliveryClient.ReconnectMax = 50*time.Millisecond, 500*time.Millisecond
	}
}

func startCouchNet(t *testing.T, url string) *couchNet {
	t.Helper()
	tn := testnet.SampleNet(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	genesis := genesisWithOrderer(t, tn.Dir, lis.Addr().String())
	o := &fakeOrderer{blocks: []*cb.Block{genesis}, released: 1, more: make(chan struct{})}
	osrv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{tn.TLSCert(t, "orderer.example.com")}, MinVersion: tls.VersionTLS12})))
	ab.RegisterAtomicBroadcastServer(osrv, o)
	go osrv.Serve(lis)
	t.Cleanup(osrv.Stop)

	c := &couchNet{orderer: o, signer: tn.Signer(t, "orderer.example.com"), admin: devSigner(t, tn.Dir, "Admin@org1.example.com"),
		tip: genesis, log: &testlog.Buffer{}}
	log := slog.New(slog.NewTextHandler(c.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c.node, c.conn = runNode(t, tn.Dir, filepath.Join(t.TempDir(), "peerdata"), log, couchConfig(url, couchtest.Prefix(t)))
	c.node.hooks = hooks{
		beforeCommit: func(_ string, block uint64) {
			if block < uint64(len(c.attempts)) {
				c.attempts[block].Add(1)
			}
		},
		wrapState: func(db statedb.DB) statedb.DB { return applyHook{DB: db, c: c} },
	}
	eventually.True(t, 10*time.Second, "the operations listener", func() bool { return c.node.OperationsAddr() != "" })
	c.ops = "http://" + c.node.OperationsAddr()
	if resp := propose(t, c.conn, c.admin, "cscc", []byte("JoinChain"), protos.Marshal(genesis)); resp.Status != 200 {
		t.Fatalf("JoinChain on CouchDB = %d %s", resp.Status, resp.Message)
	}
	if c.ch, err = c.node.channel("mychannel"); err != nil {
		t.Fatal(err)
	}
	return c
}

// lifecycle endorses a _lifecycle call as Org1's admin on mychannel and
// returns the response and, when it succeeded, the signed transaction.
func (c *couchNet) lifecycle(t *testing.T, fn string, args []byte) (*pb.ProposalResponse, []byte) {
	t.Helper()
	sp, _, err := protos.NewProposal(c.admin, "mychannel", lifecycle.Namespace, [][]byte{[]byte(fn), args}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pr, err := pb.NewEndorserClient(c.conn).ProcessProposal(ctx, sp, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("ProcessProposal _lifecycle %s: %v", fn, err)
	}
	if pr.GetResponse().GetStatus() != 200 {
		return pr, nil
	}
	p, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := protos.NewTransaction(p, []*pb.ProposalResponse{pr})
	if err != nil {
		t.Fatal(err)
	}
	env, err := protos.SignEnvelope(payload, c.admin)
	if err != nil {
		t.Fatal(err)
	}
	return pr, protos.Marshal(env)
}

func approval(name string) []byte {
	return protos.Marshal(&lb.ApproveChaincodeDefinitionForMyOrgArgs{
		Sequence: 1, Name: name, Version: "1.0",
		Source: &lb.ChaincodeSource{Type: &lb.ChaincodeSource_Unavailable_{Unavailable: &lb.ChaincodeSource_Unavailable{}}},
	})
}

// addBlock orders envs into the next block on the fake orderer.
func (c *couchNet) addBlock(t *testing.T, envs ...[]byte) *cb.Block {
	t.Helper()
	b := signedBlock(t, c.signer, c.tip, envs)
	c.tip = b
	c.orderer.add(b)
	return b
}

func (c *couchNet) code(t *testing.T, block uint64) pb.TxValidationCode {
	t.Helper()
	b, err := c.ch.ledger.Blocks().Block(block)
	if err != nil {
		t.Fatal(err)
	}
	return pb.TxValidationCode(protos.TxFilter(b)[0])
}

// namesCouchDB reports whether an error message names the state database.
var namesCouchDB = regexp.MustCompile(`(?i)couchdb`)

// TestCouchDBOutage runs a peer on a CouchDB-compatible server that the
// test stops and starts again: while it is down, endorsements fail naming
// CouchDB, /healthz fails naming the couchdb check and the address, and the
// blocks the orderer delivers wait — none is skipped, served, or applied in
// part; once it is back, the peer commits them in order without a restart
// and /healthz passes. Both ways a block can meet the outage are covered:
// CouchDB already down when the block is validated (it fails before the
// append), and CouchDB going down between the append and the state write.
func TestCouchDBOutage(t *testing.T) {
	srv := couchtest.Start(t)
	c := startCouchNet(t, srv.URL)

	// Two transactions endorsed while CouchDB is up, ordered while it is down.
	_, approveBasic := c.lifecycle(t, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, approval("basic"))
	_, approveOther := c.lifecycle(t, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, approval("other"))
	if approveBasic == nil || approveOther == nil {
		t.Fatal("approvals refused while CouchDB is up")
	}
	if code, body := httpGet(t, c.ops+"/healthz"); code != 200 {
		t.Fatalf("/healthz with CouchDB up = %d %s", code, body)
	}

	srv.Stop()
	pr, env := c.lifecycle(t, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, approval("third"))
	if env != nil || pr.GetResponse().GetStatus() == 200 || !namesCouchDB.MatchString(pr.GetResponse().GetMessage()) {
		t.Fatalf("endorsement with CouchDB down = %d %q, want a failure naming CouchDB", pr.GetResponse().GetStatus(), pr.GetResponse().GetMessage())
	}
	t.Logf("endorsement with CouchDB down: %s", pr.GetResponse().GetMessage())
	code, body := httpGet(t, c.ops+"/healthz")
	if code != 503 || !strings.Contains(body, `"component":"couchdb"`) || !strings.Contains(body, "CouchDB at "+srv.URL) {
		t.Fatalf("/healthz with CouchDB down = %d %s, want 503 naming the couchdb check and %s", code, body, srv.URL)
	}

	c.addBlock(t, approveBasic)
	c.addBlock(t, approveOther)
	eventually.True(t, 30*time.Second, "block 1 offered to the commit path three times", func() bool { return c.attempts[1].Load() >= 3 })
	if h := c.ch.committed.Height(); h != 1 {
		t.Fatalf("committed height %d while CouchDB is down, want 1 (only the genesis block)", h)
	}
	if n := c.attempts[2].Load(); n != 0 {
		t.Fatalf("block 2 entered the commit path %d times while block 1 waits", n)
	}
	// The block failed before it was appended (a state read during
	// validation or MVCC) or after (the state write); either way it is not
	// served and the state has none of it.
	if h, sh := c.ch.ledger.Blocks().Height(), c.ch.ledger.StateHeight(); h > 2 || sh != 1 {
		t.Fatalf("block store height %d, state height %d while CouchDB is down; want at most block 1 appended and the state at the genesis block", h, sh)
	}
	t.Logf("while CouchDB was down: block store height %d, state height %d, block 1 tried %d times", c.ch.ledger.Blocks().Height(), c.ch.ledger.StateHeight(), c.attempts[1].Load())

	srv.Start()
	eventually.True(t, 30*time.Second, "blocks 1 and 2 committed after CouchDB is back", func() bool { return c.ch.committed.Height() == 3 })
	for n := uint64(1); n <= 2; n++ {
		if got := c.code(t, n); got != pb.TxValidationCode_VALID {
			t.Errorf("block %d: approval %s, want VALID", n, got)
		}
	}
	if sp, ok, err := c.ch.ledger.State().Savepoint(); err != nil || !ok || sp.BlockNum != 2 {
		t.Fatalf("state savepoint in CouchDB %v %v %v, want block 2", sp, ok, err)
	}
	// Both approvals are in the state: reading them back goes to CouchDB.
	for _, name := range []string{"basic", "other"} {
		pr, _ := c.lifecycle(t, lifecycle.FuncQueryApprovedChaincodeDefinition,
			protos.Marshal(&lb.QueryApprovedChaincodeDefinitionArgs{Name: name, Sequence: 1}))
		if pr.GetResponse().GetStatus() != 200 {
			t.Errorf("QueryApprovedChaincodeDefinition %s after recovery = %d %s", name, pr.GetResponse().GetStatus(), pr.GetResponse().GetMessage())
		}
	}
	healthy := func(what string) {
		t.Helper()
		eventually.NoError(t, 15*time.Second, what, func(context.Context) error {
			if code, body := httpGet(t, c.ops+"/healthz"); code != 200 {
				return fmt.Errorf("%d %s", code, body)
			}
			return nil
		})
	}
	healthy("/healthz passing once CouchDB is back")

	// CouchDB goes away after block 3 is appended, before its state write:
	// the block stays appended but unpublished, /healthz names the stuck
	// commit and CouchDB, and no later block is checked until it is applied.
	_, approveFourth := c.lifecycle(t, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, approval("fourth"))
	_, approveFifth := c.lifecycle(t, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, approval("fifth"))
	if approveFourth == nil || approveFifth == nil {
		t.Fatal("approvals refused once CouchDB is back")
	}
	stop := srv.Stop
	c.beforeApply.Store(&stop)
	c.addBlock(t, approveFourth)
	c.addBlock(t, approveFifth)
	eventually.True(t, 30*time.Second, "block 3 offered again while its state write fails", func() bool { return c.attempts[3].Load() >= 3 })
	if h, sh, ch := c.ch.ledger.Blocks().Height(), c.ch.ledger.StateHeight(), c.ch.committed.Height(); h != 4 || sh != 3 || ch != 3 {
		t.Fatalf("block store height %d, state height %d, committed height %d; want 4, 3, 3 (block 3 appended, its state not written, not served)", h, sh, ch)
	}
	code, body = httpGet(t, c.ops+"/healthz")
	if code != 503 || !strings.Contains(body, `"component":"commits"`) || !strings.Contains(body, "block 3 is appended but its writes could not be applied") ||
		!strings.Contains(body, `"component":"couchdb"`) {
		t.Fatalf("/healthz while block 3's state write fails = %d %s", code, body)
	}
	srv.Start()
	eventually.True(t, 30*time.Second, "blocks 3 and 4 committed after CouchDB is back", func() bool { return c.ch.committed.Height() == 5 })
	for n := uint64(3); n <= 4; n++ {
		if got := c.code(t, n); got != pb.TxValidationCode_VALID {
			t.Errorf("block %d: approval %s, want VALID", n, got)
		}
	}
	if sp, ok, err := c.ch.ledger.State().Savepoint(); err != nil || !ok || sp.BlockNum != 4 {
		t.Fatalf("state savepoint in CouchDB %v %v %v, want block 4", sp, ok, err)
	}
	healthy("/healthz passing once block 3 is applied")
	// The state database's commit time is still measured on CouchDB.
	_, metrics := httpGet(t, c.ops+"/metrics")
	m := regexp.MustCompile(`(?m)^ledger_statedb_commit_time_count\{channel="mychannel"\} (\d+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("/metrics has no ledger_statedb_commit_time_count for mychannel")
	}
	if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Fatalf("ledger_statedb_commit_time_count{channel=\"mychannel\"} = %d, want at least the 2 blocks committed after the outage", n)
	}
}

// A peer whose CouchDB does not answer retries maxRetriesOnStartup times,
// then stops with an error naming the address; it opens no listener.
func TestCouchDBUnreachableAtStart(t *testing.T) {
	t.Parallel()
	closed := freeAddress(t) // nothing listens there
	tn := testnet.SampleNet(t)
	peerDir := filepath.Join(tn.Dir, org1, "peers", "peer0.org1.example.com")
	listen := freeAddress(t)
	cfg := Config{
		ID: "peer0.org1.example.com", ListenAddress: listen, Address: listen, ChaincodeListenAddress: freeAddress(t),
		LocalMSPID: "Org1MSP", MSPConfigPath: filepath.Join(peerDir, "msp"), FileSystemPath: t.TempDir(),
		ExecuteTimeout: 5 * time.Second,
	}
	couchConfig("http://"+closed, "")(&cfg)
	cfg.Ledger.CouchDB.MaxRetriesOnStartup = 2
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = n.Run(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run with CouchDB unreachable = %v (context: %v), want an error before the deadline", err, ctx.Err())
	}
	for _, want := range []string{"CouchDB at http://" + closed, "maxRetriesOnStartup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q: %v", want, err)
		}
	}
	if c, derr := net.DialTimeout("tcp", listen, time.Second); derr == nil {
		c.Close()
		t.Errorf("the peer listens on %s although it could not start", listen)
	}
}

// Zeros in core.yaml mean what they mean in Fabric (no cache, no retries),
// not the backend's defaults; other values pass through.
func TestCouchDBBackendConfigZeros(t *testing.T) {
	got := backendConfig(couchdb.Config{Address: "127.0.0.1:5984", CacheSizeMB: 0, MaxRetries: 0, MaxRetriesOnStartup: 0, MaxBatchUpdateSize: 7})
	if got.CacheSizeMB != -1 || got.MaxRetries != -1 || got.MaxRetriesOnStartup != -1 {
		t.Fatalf("zeros became cache %d, retries %d, startup retries %d; want -1 (off) each", got.CacheSizeMB, got.MaxRetries, got.MaxRetriesOnStartup)
	}
	got = backendConfig(couchdb.Config{CacheSizeMB: 32, MaxRetries: 5, MaxRetriesOnStartup: 2, MaxBatchUpdateSize: 7})
	if got.CacheSizeMB != 32 || got.MaxRetries != 5 || got.MaxRetriesOnStartup != 2 || got.MaxBatchUpdateSize != 7 {
		t.Fatalf("set values changed: %+v", got)
	}
}
