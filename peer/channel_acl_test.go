package peer

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testlog"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// configBlock is the block after prev carrying cfg as a CONFIG transaction,
// signed by the orderer, its own last config.
func configBlock(t *testing.T, orderer protos.Signer, prev *cb.Block, cfg *cb.Config) *cb.Block {
	t.Helper()
	env, err := channelconfig.ConfigTxEnvelope("mychannel", &cb.ConfigEnvelope{Config: cfg}, orderer)
	if err != nil {
		t.Fatal(err)
	}
	b := protos.NewBlock(prev.Header.Number+1, protos.BlockHeaderHash(prev.Header), [][]byte{protos.Marshal(env)})
	shdr, err := protos.NewSignatureHeader(orderer)
	if err != nil {
		t.Fatal(err)
	}
	shdrRaw := protos.Marshal(shdr)
	value := protos.Marshal(&cb.OrdererBlockMetadata{LastConfig: &cb.LastConfig{Index: b.Header.Number}})
	sig, err := orderer.Sign(protos.BlockSignatureBytes(value, shdrRaw, b.Header))
	if err != nil {
		t.Fatal(err)
	}
	b.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES] = protos.Marshal(&cb.Metadata{Value: value,
		Signatures: []*cb.MetadataSignature{{SignatureHeader: shdrRaw, Signature: sig}}})
	return b
}

// nextConfig is base at sequence seq with the given ACLs (none when nil)
// and without the application organisations listed in remove.
func nextConfig(base *cb.Config, seq uint64, acls map[string]string, remove ...string) *cb.Config {
	cfg := proto.Clone(base).(*cb.Config)
	cfg.Sequence = seq
	app := cfg.ChannelGroup.Groups[channelconfig.ApplicationGroupKey]
	if acls != nil {
		res := map[string]*pb.APIResource{}
		for r, p := range acls {
			res[r] = &pb.APIResource{PolicyRef: p}
		}
		app.Values[channelconfig.ACLsKey] = &cb.ConfigValue{ModPolicy: channelconfig.AdminsPolicyKey, Value: protos.Marshal(&pb.ACLs{Acls: res})}
	}
	for _, org := range remove {
		delete(app.Groups, org)
	}
	return cfg
}

// gatewayClient connects the official fabric-gateway client to the peer as signer.
func gatewayClient(t *testing.T, conn *grpc.ClientConn, signer *msp.SigningIdentity) *client.Network {
	t.Helper()
	id, err := identity.NewX509Identity(signer.MSPID, signer.Cert)
	if err != nil {
		t.Fatal(err)
	}
	sign, err := identity.NewPrivateKeySign(signer.Key)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := client.Connect(id, client.WithSign(sign), client.WithClientConnection(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw.GetNetwork("mychannel")
}

// nextBlock waits for the next block of an official client's block events,
// false when the stream ended.
func nextBlock(t *testing.T, blocks <-chan *cb.Block) (uint64, bool) {
	t.Helper()
	select {
	case b, ok := <-blocks:
		if !ok {
			return 0, false
		}
		return b.GetHeader().GetNumber(), true
	case <-time.After(20 * time.Second):
		t.Fatal("no block event and the stream did not end within 20s")
		return 0, false
	}
}

// TestChannelACLsFollowConfigUpdates runs a real peer over TLS following an
// orderer that releases config blocks one by one. The ACLs of the config in
// force decide: block 1 points qscc/GetChainInfo, cscc/GetConfigBlock and
// event/Block at /Channel/Application/Admins, so Org1's User1 is refused (the answer or the
// log naming the resource, the policy and the identity) while the resources
// left at their defaults still serve it, and its open block event stream
// (the official fabric-gateway client) ends without block 1; block 2 drops
// the ACLs and User1 is served again; block 3 removes Org2 from the channel,
// and Org2's open Deliver stream ends with FORBIDDEN without receiving it.
func TestChannelACLsFollowConfigUpdates(t *testing.T) {
	t.Parallel()
	tn := testnet.SampleNet(t)
	dir := tn.Dir
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	genesis := genesisWithOrderer(t, dir, lis.Addr().String())
	base, _, err := channelconfig.ConfigFromBlock(genesis)
	if err != nil {
		t.Fatal(err)
	}
	orderer := tn.Signer(t, "orderer.example.com")
	admins := map[string]string{"qscc/GetChainInfo": "/Channel/Application/Admins", "event/Block": "/Channel/Application/Admins",
		"cscc/GetConfigBlock": "/Channel/Application/Admins"}
	b1 := configBlock(t, orderer, genesis, nextConfig(base, 1, admins))
	b2 := configBlock(t, orderer, b1, nextConfig(base, 2, nil))
	b3 := configBlock(t, orderer, b2, nextConfig(base, 3, nil, "Org2MSP"))
	fake := &fakeOrderer{blocks: []*cb.Block{genesis, b1, b2, b3}, released: 1, more: make(chan struct{})}
	osrv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{tn.TLSCert(t, "orderer.example.com")}, MinVersion: tls.VersionTLS12})))
	ab.RegisterAtomicBroadcastServer(osrv, fake)
	go osrv.Serve(lis)
	t.Cleanup(osrv.Stop)

	logs := &testlog.Buffer{}
	n, conn := runNode(t, dir, t.TempDir(), slog.New(slog.NewTextHandler(logs, nil)))
	admin := devSigner(t, dir, "Admin@org1.example.com")
	if resp := propose(t, conn, admin, "cscc", []byte("JoinChain"), protos.Marshal(genesis)); resp.Status != 200 {
		t.Fatalf("JoinChain = %d %s", resp.Status, resp.Message)
	}
	ch, err := n.channel("mychannel")
	if err != nil {
		t.Fatal(err)
	}
	user1 := devSigner(t, dir, "User1@org1.example.com")
	org2 := tn.User(t, "User1", "Org2MSP")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// qscc as Fabric's CLI sends it (no channel) and on the channel.
	chainInfo := func(onChannel bool) *pb.Response {
		t.Helper()
		if !onChannel {
			return propose(t, conn, user1, "qscc", []byte("GetChainInfo"), []byte("mychannel"))
		}
		sp, _, err := protos.NewProposal(user1, "mychannel", "qscc", [][]byte{[]byte("GetChainInfo"), []byte("mychannel")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := pb.NewEndorserClient(conn).ProcessProposal(ctx, sp)
		if err != nil {
			t.Fatal(err)
		}
		return pr.GetResponse()
	}
	for _, onChannel := range []bool{false, true} {
		if resp := chainInfo(onChannel); resp.Status != 200 {
			t.Fatalf("GetChainInfo by User1 (on channel: %t) under the default ACLs: %d %s", onChannel, resp.Status, resp.Message)
		}
	}
	// cscc's channel queries answer the config in force.
	configBlockNumber := func() (uint64, *pb.Response) {
		t.Helper()
		resp := propose(t, conn, user1, "cscc", []byte("GetConfigBlock"), []byte("mychannel"))
		if resp.Status != 200 {
			return 0, resp
		}
		b := &cb.Block{}
		if err := proto.Unmarshal(resp.Payload, b); err != nil {
			t.Fatal(err)
		}
		return b.GetHeader().GetNumber(), resp
	}
	channelConfigSequence := func() uint64 {
		t.Helper()
		resp := propose(t, conn, user1, "cscc", []byte("GetChannelConfig"), []byte("mychannel"))
		if resp.Status != 200 {
			t.Fatalf("GetChannelConfig by User1: %d %s", resp.Status, resp.Message)
		}
		c := &cb.Config{}
		if err := proto.Unmarshal(resp.Payload, c); err != nil {
			t.Fatal(err)
		}
		return c.Sequence
	}
	if num, resp := configBlockNumber(); resp.Status != 200 || num != 0 {
		t.Fatalf("GetConfigBlock by User1: block %d, %d %s; want block 0", num, resp.Status, resp.Message)
	}
	network := gatewayClient(t, conn, user1)
	evCtx, evCancel := context.WithCancel(ctx)
	blocks, err := network.BlockEvents(evCtx, client.WithStartBlock(0))
	if err != nil {
		t.Fatal(err)
	}
	if num, ok := nextBlock(t, blocks); !ok || num != 0 {
		t.Fatalf("first block event: %d, %t; want block 0", num, ok)
	}

	// Block 1: qscc/GetChainInfo and event/Block need the channel's Admins.
	fake.release(2)
	eventually.True(t, 20*time.Second, "block 1 committed", func() bool { return ch.committed.Height() == 2 })
	if num, ok := nextBlock(t, blocks); ok {
		t.Fatalf("User1's block event stream received block %d after event/Block moved to Admins", num)
	}
	evCancel()
	for _, want := range []string{"event/Block", "requires policy /Channel/Application/Admins", "User1@org1.example.com"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the peer's log does not name %q for the stopped stream", want)
		}
	}
	for _, onChannel := range []bool{false, true} {
		resp := chainInfo(onChannel)
		if resp.Status != 403 {
			t.Fatalf("GetChainInfo by User1 (on channel: %t) under qscc/GetChainInfo = Admins: %d %s", onChannel, resp.Status, resp.Message)
		}
		for _, want := range []string{"qscc/GetChainInfo", "/Channel/Application/Admins", "User1@org1.example.com", "Org1MSP"} {
			if !strings.Contains(resp.Message, want) {
				t.Errorf("refusal %q does not name %q", resp.Message, want)
			}
		}
	}
	if _, resp := configBlockNumber(); resp.Status != 403 || !strings.Contains(resp.Message, "cscc/GetConfigBlock") || !strings.Contains(resp.Message, "/Channel/Application/Admins") {
		t.Errorf("GetConfigBlock by User1 under cscc/GetConfigBlock = Admins: %d %s", resp.Status, resp.Message)
	}
	if seq := channelConfigSequence(); seq != 1 {
		t.Errorf("GetChannelConfig (cscc/GetChannelConfig at its default): sequence %d, want 1", seq)
	}
	if resp := propose(t, conn, user1, "qscc", []byte("GetBlockByNumber"), []byte("mychannel"), []byte("1")); resp.Status != 200 {
		t.Errorf("GetBlockByNumber by User1 (qscc/GetBlockByNumber at its default): %d %s", resp.Status, resp.Message)
	}
	fctx, fcancel := context.WithCancel(ctx)
	filtered, err := network.FilteredBlockEvents(fctx, client.WithStartBlock(1))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case fb, ok := <-filtered:
		if !ok || fb.GetNumber() != 1 {
			t.Errorf("filtered block events (event/FilteredBlock at its default): %v, %t; want block 1", fb, ok)
		}
	case <-time.After(20 * time.Second):
		t.Error("no filtered block event")
	}
	fcancel()

	// Block 2: the ACLs are gone, Fabric's defaults apply again.
	fake.release(3)
	eventually.True(t, 20*time.Second, "block 2 committed", func() bool { return ch.committed.Height() == 3 })
	for _, onChannel := range []bool{false, true} {
		if resp := chainInfo(onChannel); resp.Status != 200 {
			t.Fatalf("GetChainInfo by User1 (on channel: %t) once the ACLs are gone: %d %s", onChannel, resp.Status, resp.Message)
		}
	}
	if num, resp := configBlockNumber(); resp.Status != 200 || num != 2 {
		t.Fatalf("GetConfigBlock by User1 once the ACLs are gone: block %d, %d %s; want block 2", num, resp.Status, resp.Message)
	}
	evCtx, evCancel = context.WithCancel(ctx)
	defer evCancel()
	blocks, err = network.BlockEvents(evCtx, client.WithStartBlock(0))
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(0); want < 3; want++ {
		if num, ok := nextBlock(t, blocks); !ok || num != want {
			t.Fatalf("block event %d by User1 once the ACLs are gone: %d, %t", want, num, ok)
		}
	}

	// Block 3 removes Org2: its open Deliver stream ends with FORBIDDEN and
	// does not receive the block; its gateway requests are refused.
	org2Stream, err := pb.NewDeliverClient(conn).Deliver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seek := &ab.SeekInfo{Start: &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: 2}}},
		Stop: &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: 10}}}}
	env, err := protos.NewDeliverRequest(org2, "mychannel", seek, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := org2Stream.Send(env); err != nil {
		t.Fatal(err)
	}
	if r, err := org2Stream.Recv(); err != nil || r.GetBlock().GetHeader().GetNumber() != 2 {
		t.Fatalf("Org2's first response %v, %v; want block 2", r, err)
	}
	fake.release(4)
	eventually.True(t, 20*time.Second, "block 3 committed", func() bool { return ch.committed.Height() == 4 })
	r, err := org2Stream.Recv()
	if err != nil || r.GetStatus() != cb.Status_FORBIDDEN {
		t.Fatalf("Org2's stream after its removal: %v, %v; want status FORBIDDEN and no block 3", r, err)
	}
	for _, want := range []string{"config sequence 3", "event/Block", "User1@org2.example.com", "Org2MSP"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the peer's log does not name %q for Org2's stopped stream", want)
		}
	}
	if num, ok := nextBlock(t, blocks); !ok || num != 3 {
		t.Fatalf("User1's block events after Org2's removal: %d, %t; want block 3", num, ok)
	}
	id, _ := org2.Serialize()
	req := protos.Marshal(&gwpb.CommitStatusRequest{TransactionId: "tx1", ChannelId: "mychannel", Identity: id})
	sig, err := org2.Sign(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = gwpb.NewGatewayClient(conn).CommitStatus(ctx, &gwpb.SignedCommitStatusRequest{Request: req, Signature: sig})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "gateway/CommitStatus") || !strings.Contains(err.Error(), "/Channel/Application/Readers") {
		t.Fatalf("CommitStatus by Org2 after its removal: %v; want PermissionDenied naming gateway/CommitStatus and its policy", err)
	}
}
