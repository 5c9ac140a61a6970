package orderer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/orderer/participation"
	"github.com/weft-ledger/weft/orderer/raftchain"
	"github.com/weft-ledger/weft/protos"
)

type network struct {
	dir     string
	orgs    string
	genesis *cb.Block
	cfg     Config
	signer  *msp.SigningIdentity
}

func (n *network) path(p ...string) string { return filepath.Join(append([]string{n.orgs}, p...)...) }

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

func newNetwork(t testing.TB) *network {
	t.Helper()
	dir := t.TempDir()
	tn := testnet.SampleNet(t)
	orgs, genesis := tn.Orgs(), tn.Genesis()
	n := &network{dir: dir, orgs: orgs, genesis: genesis}
	node := n.path("ordererOrganizations", "example.com", "orderers", "orderer.example.com")
	var cfg Config
	cfg.General.ListenAddress = "127.0.0.1"
	cfg.General.ListenPort = 0
	cfg.General.TLS = TLSConfig{Enabled: true,
		Certificate: filepath.Join(node, "tls", "server.crt"), PrivateKey: filepath.Join(node, "tls", "server.key"),
		RootCAs: []string{filepath.Join(node, "tls", "ca.crt")}}
	cfg.General.LocalMSPDir = filepath.Join(node, "msp")
	cfg.General.LocalMSPID = "OrdererMSP"
	cfg.FileLedger.Location = filepath.Join(dir, "ledger")
	cfg.Admin.ListenAddress = "127.0.0.1:0"
	cfg.Admin.TLS = cfg.General.TLS
	cfg.Admin.TLS.ClientAuthRequired = true
	cfg.Admin.TLS.ClientRootCAs = []string{filepath.Join(node, "tls", "ca.crt")}
	cfg.Operations.ListenAddress = "127.0.0.1:0"
	cfg.ChannelParticipation.Enabled = true
	n.cfg = cfg
	n.signer = tn.Signer(t, "orderer.example.com")
	return n
}

func (n *network) start(t testing.TB) *Node {
	t.Helper()
	node, err := New(n.cfg, n.signer, WithTickInterval(10*time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	node.Start()
	t.Cleanup(node.Stop)
	return node
}

func (n *network) user(t testing.TB, org, name string) *msp.SigningIdentity {
	t.Helper()
	dom := strings.ToLower(org) + ".example.com"
	id, err := msp.LoadSigningIdentity(n.path("peerOrganizations", dom, "users", name+"@"+dom, "msp"), org+"MSP")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (n *network) adminClient(t testing.TB) *http.Client {
	admin := n.path("ordererOrganizations", "example.com", "users", "Admin@example.com", "tls")
	pair, err := tls.LoadX509KeyPair(filepath.Join(admin, "client.crt"), filepath.Join(admin, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: n.rootCAs(t), Certificates: []tls.Certificate{pair}}}}
}

func (n *network) rootCAs(t testing.TB) *x509.CertPool {
	raw, err := os.ReadFile(n.cfg.General.TLS.RootCAs[0])
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(raw)
	return p
}

func (n *network) dial(t testing.TB, addr string) ab.AtomicBroadcastClient {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: n.rootCAs(t)})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return ab.NewAtomicBroadcastClient(conn)
}

func join(t testing.TB, c *http.Client, adminAddr string, block *cb.Block) (int, string) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile(participation.FormConfigBlock, "mychannel.block")
	fw.Write(protos.Marshal(block))
	mw.Close()
	resp, err := c.Post("https://"+adminAddr+participation.URLBaseV1Channels, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func send(t *testing.T, client ab.AtomicBroadcastClient, envs ...*cb.Envelope) []*ab.BroadcastResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Broadcast(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*ab.BroadcastResponse
	for _, e := range envs {
		if err := s.Send(e); err != nil {
			t.Fatal(err)
		}
	}
	for range envs {
		r, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	s.CloseSend()
	return out
}

func tx(t testing.TB, signer protos.Signer, channel, body string) *cb.Envelope {
	env, err := protos.NewSignedEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, channel, signer, &cb.Envelope{Payload: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// readBlocks delivers from block 0 until the blocks hold wantTxs transactions.
func readBlocks(t *testing.T, client ab.AtomicBroadcastClient, signer protos.Signer, wantTxs int) []*cb.Block {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Deliver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := protos.NewSignedEnvelope(cb.HeaderType_DELIVER_SEEK_INFO, "mychannel", signer, &ab.SeekInfo{
		Start: &ab.SeekPosition{Type: &ab.SeekPosition_Oldest{Oldest: &ab.SeekOldest{}}},
		Stop:  &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: math.MaxUint64}}},
	})
	if err := s.Send(req); err != nil {
		t.Fatal(err)
	}
	var blocks []*cb.Block
	txs := 0
	for txs < wantTxs {
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("deliver after %d blocks: %v", len(blocks), err)
		}
		b := r.GetBlock()
		if b == nil {
			t.Fatalf("deliver ended with status %v", r.GetStatus())
		}
		blocks = append(blocks, b)
		if b.Header.Number > 0 {
			txs += len(b.Data.Data)
		}
	}
	return blocks
}

// verifyChain checks hash chain, data hashes and the orderer's signature on every block above 0.
func verifyChain(t *testing.T, blocks []*cb.Block, genesis *cb.Block) {
	t.Helper()
	if !proto.Equal(blocks[0], genesis) {
		t.Fatal("block 0 is not the genesis block as given")
	}
	for i, b := range blocks[1:] {
		prev := blocks[i]
		if b.Header.Number != prev.Header.Number+1 || !bytes.Equal(b.Header.PreviousHash, protos.BlockHeaderHash(prev.Header)) {
			t.Fatalf("block %d does not chain to %d", b.Header.Number, prev.Header.Number)
		}
		if !bytes.Equal(b.Header.DataHash, protos.BlockDataHash(b.Data)) {
			t.Fatalf("block %d data hash mismatch", b.Header.Number)
		}
		md := &cb.Metadata{}
		if err := proto.Unmarshal(b.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES], md); err != nil || len(md.Signatures) != 1 {
			t.Fatalf("block %d signatures: %v", b.Header.Number, err)
		}
		shdr := &cb.SignatureHeader{}
		proto.Unmarshal(md.Signatures[0].SignatureHeader, shdr)
		id, err := msp.ParseSerializedIdentity(shdr.Creator)
		if err != nil || id.MSPID != "OrdererMSP" {
			t.Fatalf("block %d signer: %v %v", b.Header.Number, id, err)
		}
		msg := append(append(append([]byte{}, md.Value...), md.Signatures[0].SignatureHeader...), protos.BlockHeaderBytes(b.Header)...)
		if err := id.Verify(msg, md.Signatures[0].Signature); err != nil {
			t.Fatalf("block %d orderer signature: %v", b.Header.Number, err)
		}
		obm, rmd, err := raftchain.BlockMetadata(b)
		if err != nil || obm.LastConfig.GetIndex() != 0 || rmd == nil || fmt.Sprint(rmd.ConsenterIds) != "[1]" || rmd.NextConsenterId != 2 {
			t.Fatalf("block %d orderer metadata: %v %v %v", b.Header.Number, obm, rmd, err)
		}
	}
}

func TestOrdererEndToEnd(t *testing.T) {
	n := newNetwork(t)
	node := n.start(t)
	admin := n.adminClient(t)

	code, body := join(t, admin, node.AdminAddr(), n.genesis)
	if code != http.StatusCreated {
		t.Fatalf("join: %d %s", code, body)
	}
	var info participation.ChannelInfo
	json.Unmarshal([]byte(body), &info)
	if info.Name != "mychannel" || info.ConsensusRelation != "consenter" || info.Status != "active" || info.Height != 1 {
		t.Fatalf("join info %+v", info)
	}
	if code, body := join(t, admin, node.AdminAddr(), n.genesis); code != http.StatusMethodNotAllowed {
		t.Fatalf("second join: %d %s", code, body)
	}

	client := n.dial(t, node.Addr())
	user1 := n.user(t, "Org1", "User1")
	var envs []*cb.Envelope
	for i := range 5 {
		envs = append(envs, tx(t, user1, "mychannel", fmt.Sprintf("tx-%d", i)))
	}
	for i, r := range send(t, client, envs...) {
		if r.Status != cb.Status_SUCCESS {
			t.Fatalf("envelope %d: %v %s", i, r.Status, r.Info)
		}
	}

	forged := tx(t, user1, "mychannel", "forged")
	forged.Signature[len(forged.Signature)-3] ^= 0x55
	refused := send(t, client, forged, tx(t, user1, "nochannel", "x"), &cb.Envelope{Payload: []byte("junk")})
	if r := refused[0]; r.Status != cb.Status_FORBIDDEN || !strings.Contains(r.Info, "/Channel/Writers") || !strings.Contains(r.Info, "User1@org1.example.com") {
		t.Fatalf("forged signature: %v %q", r.Status, r.Info)
	}
	if r := refused[1]; r.Status != cb.Status_NOT_FOUND || !strings.Contains(r.Info, "nochannel") {
		t.Fatalf("unknown channel: %v %q", r.Status, r.Info)
	}
	if r := refused[2]; r.Status != cb.Status_BAD_REQUEST {
		t.Fatalf("junk: %v %q", r.Status, r.Info)
	}

	blocks := readBlocks(t, client, user1, 5)
	verifyChain(t, blocks, n.genesis)
	var got []string
	for _, b := range blocks[1:] {
		for _, raw := range b.Data.Data {
			got = append(got, string(raw))
		}
	}
	for i, raw := range got {
		if raw != string(protos.Marshal(envs[i])) {
			t.Fatalf("transaction %d of the blocks is not envelope %d", i, i)
		}
	}

	// Restart: the channel, its blocks and its Raft log survive.
	node.Stop()
	node = n.start(t)
	client = n.dial(t, node.Addr())
	resp, err := admin.Get("https://" + node.AdminAddr() + participation.URLBaseV1Channels + "/mychannel")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if resp.StatusCode != 200 || info.Height != uint64(len(blocks)) {
		t.Fatalf("after restart: %d %+v (want height %d)", resp.StatusCode, info, len(blocks))
	}
	if r := send(t, client, tx(t, user1, "mychannel", "after restart")); r[0].Status != cb.Status_SUCCESS {
		t.Fatalf("broadcast after restart: %v %s", r[0].Status, r[0].Info)
	}
	blocks = readBlocks(t, client, user1, 6)
	verifyChain(t, blocks, n.genesis)

	// Remove: gone from the API and from Broadcast.
	req, _ := http.NewRequest(http.MethodDelete, "https://"+node.AdminAddr()+participation.URLBaseV1Channels+"/mychannel", nil)
	resp, err = admin.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("remove: %v %v", resp, err)
	}
	resp.Body.Close()
	if r := send(t, client, tx(t, user1, "mychannel", "x")); r[0].Status != cb.Status_NOT_FOUND {
		t.Fatalf("broadcast after remove: %v", r[0].Status)
	}
}

func TestJoinRefusesBlockNotNamingThisOrderer(t *testing.T) {
	n := newNetwork(t)
	// Serve with another TLS certificate (the peer's): the genesis consenter is someone else.
	peer := n.path("peerOrganizations", "org1.example.com", "peers", "peer0.org1.example.com", "tls")
	n.cfg.General.TLS.Certificate = filepath.Join(peer, "server.crt")
	n.cfg.General.TLS.PrivateKey = filepath.Join(peer, "server.key")
	node := n.start(t)
	code, body := join(t, n.adminClient(t), node.AdminAddr(), n.genesis)
	if code != http.StatusBadRequest || !strings.Contains(body, "not one of its consenters") {
		t.Fatalf("join: %d %s", code, body)
	}
	notConfig := protos.NewBlock(0, nil, [][]byte{[]byte("x")})
	if code, body := join(t, n.adminClient(t), node.AdminAddr(), notConfig); code != http.StatusBadRequest || !strings.Contains(body, "not a config block") {
		t.Fatalf("join non-config block: %d %s", code, body)
	}
}
