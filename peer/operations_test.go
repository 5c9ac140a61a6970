package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/operations/opstest"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/protos"
)

// fakeOrderer serves a channel's blocks over Deliver, holding back those at
// or above `released` until release is called.
type fakeOrderer struct {
	ab.UnimplementedAtomicBroadcastServer
	blocks []*cb.Block

	mu       sync.Mutex
	released uint64
	more     chan struct{} // closed when released grows
}

func (o *fakeOrderer) release(n uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.released = n
	close(o.more)
	o.more = make(chan struct{})
}

// add appends b to the chain and releases it, to open streams too.
func (o *fakeOrderer) add(b *cb.Block) {
	o.mu.Lock()
	o.blocks = append(o.blocks, b)
	n := uint64(len(o.blocks))
	o.mu.Unlock()
	o.release(n)
}

// block returns block n once it is released (ok false when ctx ends first).
func (o *fakeOrderer) block(ctx context.Context, n uint64) (*cb.Block, bool) {
	for {
		o.mu.Lock()
		ok, more := n < o.released && n < uint64(len(o.blocks)), o.more
		var b *cb.Block
		if ok {
			b = o.blocks[n]
		}
		o.mu.Unlock()
		if ok {
			return b, true
		}
		select {
		case <-more:
		case <-ctx.Done():
			return nil, false
		}
	}
}

func (o *fakeOrderer) Deliver(stream ab.AtomicBroadcast_DeliverServer) error {
	for {
		env, err := stream.Recv()
		if err != nil {
			return nil
		}
		payload := &cb.Payload{}
		seek := &ab.SeekInfo{}
		if err := proto.Unmarshal(env.Payload, payload); err != nil {
			return err
		}
		if err := proto.Unmarshal(payload.Data, seek); err != nil {
			return err
		}
		if seek.Start.GetNewest() != nil {
			o.mu.Lock()
			last := o.blocks[len(o.blocks)-1]
			o.mu.Unlock()
			if err := stream.Send(&ab.DeliverResponse{Type: &ab.DeliverResponse_Block{Block: &cb.Block{Header: last.Header}}}); err != nil {
				return err
			}
			if err := stream.Send(&ab.DeliverResponse{Type: &ab.DeliverResponse_Status{Status: cb.Status_SUCCESS}}); err != nil {
				return err
			}
			continue
		}
		// Blocks are served as they are released, added ones too, until
		// the stream ends.
		for n := seek.Start.GetSpecified().GetNumber(); ; n++ {
			b, ok := o.block(stream.Context(), n)
			if !ok {
				return nil
			}
			if err := stream.Send(&ab.DeliverResponse{Type: &ab.DeliverResponse_Block{Block: b}}); err != nil {
				return err
			}
		}
	}
}

// genesisWithOrderer is mychannel's genesis block with addr as its only orderer endpoint.
func genesisWithOrderer(t *testing.T, dir, addr string) *cb.Block {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "sampleconfig", "configtx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.ReplaceAll(string(raw), "- localhost:7050", "- "+addr))
	path := filepath.Join(dir, fmt.Sprintf("configtx-ops-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	ctx, err := channelconfig.LoadConfigTx(path)
	if err != nil {
		t.Fatal(err)
	}
	block, err := channelconfig.GenesisBlock(ctx, "ChannelUsingRaft", "mychannel")
	if err != nil {
		t.Fatal(err)
	}
	return block
}

// signedBlock is block number n after prev holding envs, signed by the orderer.
func signedBlock(t *testing.T, signer protos.Signer, prev *cb.Block, envs [][]byte) *cb.Block {
	t.Helper()
	b := protos.NewBlock(prev.Header.Number+1, protos.BlockHeaderHash(prev.Header), envs)
	shdr, err := protos.NewSignatureHeader(signer)
	if err != nil {
		t.Fatal(err)
	}
	shdrRaw := protos.Marshal(shdr)
	value := protos.Marshal(&cb.OrdererBlockMetadata{LastConfig: &cb.LastConfig{Index: 0}})
	sig, err := signer.Sign(protos.BlockSignatureBytes(value, shdrRaw, b.Header))
	if err != nil {
		t.Fatal(err)
	}
	b.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES] = protos.Marshal(&cb.Metadata{Value: value,
		Signatures: []*cb.MetadataSignature{{SignatureHeader: shdrRaw, Signature: sig}}})
	return b
}

// peerFamilies are the families the peer serves: every one must be
// exposed, and the ones the test drives must have samples.
var peerFamilies = []string{
	"chaincode_execute_timeouts", "chaincode_launch_duration", "chaincode_launch_failures", "chaincode_launch_timeouts",
	"chaincode_shim_request_duration", "chaincode_shim_requests_completed", "chaincode_shim_requests_received",
	"deliver_blocks_sent", "deliver_requests_completed", "deliver_requests_received", "deliver_streams_closed", "deliver_streams_opened",
	"endorser_duplicate_transaction_failures", "endorser_endorsement_failures", "endorser_proposal_acl_failures",
	"endorser_proposal_duration", "endorser_proposal_simulation_failures", "endorser_proposal_validation_failures",
	"endorser_proposals_received", "endorser_successful_proposals",
	"grpc_comm_conn_closed", "grpc_comm_conn_opened",
	"grpc_server_stream_messages_received", "grpc_server_stream_messages_sent", "grpc_server_stream_request_duration",
	"grpc_server_stream_requests_completed", "grpc_server_stream_requests_received", "grpc_server_unary_request_duration",
	"grpc_server_unary_requests_completed", "grpc_server_unary_requests_received",
	"ledger_block_processing_time", "ledger_blockchain_height", "ledger_blockstorage_and_pvtdata_commit_time",
	"ledger_blockstorage_commit_time", "ledger_statedb_commit_time", "ledger_transaction_count",
	"ledger_commit_hash_mismatches",
}

// checkFabricFamilies compares an exposition with Fabric v2.5's reference:
// each family of served must be there, every family Fabric knows must match
// it, and any other must be Weft's own (ledger_commit_hash_mismatches).
func checkFabricFamilies(t *testing.T, body string, served []string) {
	t.Helper()
	fams, err := opstest.Parse(body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for _, e := range opstest.Compare(fams, []string{"ledger_commit_hash_mismatches"}) {
		t.Errorf("/metrics differs from Fabric: %s", e)
	}
	for _, name := range served {
		if fams[name] == nil {
			t.Errorf("/metrics lacks family %s", name)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	return httpDo(t, http.MethodGet, url, "")
}

func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestOperationsEndpoints runs a real peer with its operations listener and
// an orderer that serves one block on demand: /readyz follows the channel
// catching up, /metrics shows the committed transaction, /logspec changes
// the level, and /readyz names the orderer once it is gone.
func TestOperationsEndpoints(t *testing.T) {
	t.Parallel()
	tn := testnet.SampleNet(t)
	dir := tn.Dir

	// The orderer, on TLS with orderer.example.com's certificate.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	genesis := genesisWithOrderer(t, dir, lis.Addr().String())
	user := devSigner(t, dir, "User1@org1.example.com")
	env, err := protos.NewSignedEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "mychannel", user, &pb.Transaction{})
	if err != nil {
		t.Fatal(err)
	}
	block1 := signedBlock(t, tn.Signer(t, "orderer.example.com"), genesis, [][]byte{protos.Marshal(env)})
	fake := &fakeOrderer{blocks: []*cb.Block{genesis, block1}, released: 1, more: make(chan struct{})}
	osrv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{tn.TLSCert(t, "orderer.example.com")}, MinVersion: tls.VersionTLS12})))
	ab.RegisterAtomicBroadcastServer(osrv, fake)
	go osrv.Serve(lis)
	t.Cleanup(osrv.Stop)

	// The peer, with operations on a free port and no lag allowed.
	peerDir := filepath.Join(dir, org1, "peers", "peer0.org1.example.com")
	addr := freeAddress(t)
	cfg := Config{
		ID: "peer0.org1.example.com", ListenAddress: addr, Address: addr,
		ChaincodeListenAddress: freeAddress(t), LocalMSPID: "Org1MSP",
		MSPConfigPath: filepath.Join(peerDir, "msp"), FileSystemPath: filepath.Join(t.TempDir(), "peerdata"),
		TLS: TLSConfig{Enabled: true, CertFile: filepath.Join(peerDir, "tls", "server.crt"),
			KeyFile: filepath.Join(peerDir, "tls", "server.key"), RootCertFile: filepath.Join(peerDir, "tls", "ca.crt")},
		ExecuteTimeout: 5 * time.Second, StartupTimeout: 5 * time.Second,
		OperationsAddress: "127.0.0.1:0", MetricsProvider: "prometheus",
	}
	cfg.ChaincodeAddress = cfg.ChaincodeListenAddress
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	eventually.True(t, 5*time.Second, "the operations listener", func() bool { return n.OperationsAddr() != "" })
	ops := "http://" + n.OperationsAddr()

	if code, body := httpGet(t, ops+"/healthz"); code != 200 || !strings.Contains(body, `"status":"OK"`) {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	if code, body := httpGet(t, ops+"/readyz"); code != 200 {
		t.Fatalf("/readyz with no channel = %d %s", code, body)
	}

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
	defer conn.Close()
	admin := devSigner(t, dir, "Admin@org1.example.com")
	if resp := propose(t, conn, admin, "cscc", []byte("JoinChain"), protos.Marshal(genesis)); resp.Status != 200 {
		t.Fatalf("JoinChain = %d %s", resp.Status, resp.Message)
	}

	// The orderer has block 1 but holds it back: the channel lags.
	code, body := httpGet(t, ops+"/readyz")
	if code != 503 || !strings.Contains(body, `"component":"channels"`) ||
		!strings.Contains(body, "channel mychannel: committed height 1, orderer "+lis.Addr().String()+" has height 2") {
		t.Fatalf("/readyz while behind = %d %s", code, body)
	}

	fake.release(2)
	ch, err := n.channel("mychannel")
	if err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 5*time.Second, "block 1 committed", func() bool { return ch.committed.Height() == 2 })
	if code, body := httpGet(t, ops+"/readyz"); code != 200 {
		t.Fatalf("/readyz once caught up = %d %s", code, body)
	}

	committed, err := ch.ledger.Blocks().Block(1)
	if err != nil {
		t.Fatal(err)
	}
	vcode := pb.TxValidationCode(protos.TxFilter(committed)[0]).String()

	// Traffic for the endorser's and deliver's families: a proposal that
	// fails validation, and a client reading blocks 0 and 1.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if pr, err := pb.NewEndorserClient(conn).ProcessProposal(ctx2, &pb.SignedProposal{ProposalBytes: []byte("not a proposal")}); err != nil || pr.GetResponse().GetStatus() != 500 {
		t.Fatalf("malformed proposal = %v, %v", pr, err)
	}
	dstream, err := pb.NewDeliverClient(conn).Deliver(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	seek := &ab.SeekInfo{Start: &ab.SeekPosition{Type: &ab.SeekPosition_Oldest{Oldest: &ab.SeekOldest{}}},
		Stop: &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: 1}}}}
	denv, err := protos.NewDeliverRequest(user, "mychannel", seek, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := dstream.Send(denv); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := dstream.Recv(); err != nil {
			t.Fatalf("deliver response %d: %v", i, err)
		}
	}
	dstream.CloseSend()
	if _, err := dstream.Recv(); err != io.EOF {
		t.Fatalf("deliver stream end: %v", err)
	}

	code, body = httpGet(t, ops+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d %s", code, body)
	}
	for _, want := range []string{
		`ledger_transaction_count{channel="mychannel",transaction_type="unknown",chaincode="unknown",validation_code="` + vcode + `"} 1`,
		`ledger_transaction_count{channel="mychannel",transaction_type="CONFIG",chaincode="unknown",validation_code="VALID"} 1`, // the genesis block of the join
		`ledger_blockchain_height{channel="mychannel"} 2`,
		`ledger_block_processing_time_count{channel="mychannel"} 2`,
		`ledger_statedb_commit_time_count{channel="mychannel"} 2`,
		`ledger_blockstorage_commit_time_count{channel="mychannel"} 2`,
		`ledger_blockstorage_and_pvtdata_commit_time_count{channel="mychannel"} 2`,
		`endorser_proposal_duration_count{channel="",chaincode="cscc",success="true"} 1`,
		`endorser_proposals_received 2`,
		`endorser_successful_proposals 1`,
		`endorser_proposal_validation_failures 1`,
		`deliver_streams_opened 1`,
		`deliver_streams_closed 1`,
		`deliver_requests_received{channel="mychannel",filtered="false",data_type="block"} 1`,
		`deliver_requests_completed{channel="mychannel",filtered="false",data_type="block",success="true"} 1`,
		`deliver_blocks_sent{channel="mychannel",filtered="false",data_type="block"} 2`,
		`grpc_server_unary_requests_received{service="protos_Endorser",method="ProcessProposal"} 2`,
		`grpc_server_unary_requests_completed{service="protos_Endorser",method="ProcessProposal",code="OK"} 2`,
		`grpc_server_stream_requests_received{service="protos_Deliver",method="Deliver"} 1`,
		`grpc_server_stream_requests_completed{service="protos_Deliver",method="Deliver",code="OK"} 1`,
		`grpc_server_stream_messages_received{service="protos_Deliver",method="Deliver"} 1`,
		`grpc_server_stream_messages_sent{service="protos_Deliver",method="Deliver"} 3`,
		"# TYPE ledger_block_processing_time histogram",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	checkFabricFamilies(t, body, peerFamilies)

	if code, body := httpGet(t, ops+"/logspec"); code != 200 || strings.TrimSpace(body) != `{"spec":"info"}` {
		t.Fatalf("GET /logspec = %d %s", code, body)
	}
	if code, body := httpDo(t, http.MethodPut, ops+"/logspec", `{"spec":"warn:endorser=debug"}`); code != 204 {
		t.Fatalf("PUT /logspec = %d %s", code, body)
	}
	if code, body := httpGet(t, ops+"/logspec"); code != 200 || strings.TrimSpace(body) != `{"spec":"warn:endorser=debug"}` {
		t.Fatalf("GET /logspec after PUT = %d %s", code, body)
	}
	if !n.log.Handler().Enabled(context.Background(), slog.LevelWarn) || n.log.Handler().Enabled(context.Background(), slog.LevelInfo) {
		t.Fatal("the peer's logger does not follow the spec set through /logspec")
	}
	if code, body := httpDo(t, http.MethodPut, ops+"/logspec", `{"spec":"endorser=chatty"}`); code != 400 || !strings.Contains(body, `chatty`) {
		t.Fatalf("PUT of a bad spec = %d %s", code, body)
	}
	if code, body := httpGet(t, ops+"/version"); code != 200 || !strings.Contains(body, `"CommitSHA"`) {
		t.Fatalf("/version = %d %s", code, body)
	}

	// Without its orderer the channel is not ready; the peer is still alive.
	osrv.Stop()
	code, body = httpGet(t, ops+"/readyz")
	if code != 503 || !strings.Contains(body, "channel mychannel: no orderer reachable") || !strings.Contains(body, lis.Addr().String()) {
		t.Fatalf("/readyz without orderer = %d %s", code, body)
	}
	if code, body := httpGet(t, ops+"/healthz"); code != 200 {
		t.Fatalf("/healthz without orderer = %d %s", code, body)
	}
}
