package peer

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/protos"
)

// fabricCLIProposal builds and signs a proposal the way Fabric v2.5's `peer`
// CLI does (protoutil.CreateProposalFromCIS): the given header type and
// channel, a timestamp in whole seconds, epoch 0, a ChaincodeHeaderExtension
// naming the chaincode, and a GOLANG ChaincodeInvocationSpec as the payload.
// It is written out field by field, not with Weft's protos.NewProposal, so
// that the test shows what Fabric's tools put on the wire.
func fabricCLIProposal(t *testing.T, signer protos.Signer, typ cb.HeaderType, channel, cc string, args ...[]byte) *pb.SignedProposal {
	t.Helper()
	creator, err := signer.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 24)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	chdr := &cb.ChannelHeader{
		Type:      int32(typ),
		ChannelId: channel,
		TxId:      protos.ComputeTxID(nonce, creator),
		Timestamp: &timestamppb.Timestamp{Seconds: time.Now().Unix()},
		Extension: protos.Marshal(&pb.ChaincodeHeaderExtension{ChaincodeId: &pb.ChaincodeID{Name: cc}}),
	}
	hdr := &cb.Header{
		ChannelHeader:   protos.Marshal(chdr),
		SignatureHeader: protos.Marshal(&cb.SignatureHeader{Creator: creator, Nonce: nonce}),
	}
	cis := &pb.ChaincodeInvocationSpec{ChaincodeSpec: &pb.ChaincodeSpec{
		Type:        pb.ChaincodeSpec_GOLANG,
		ChaincodeId: &pb.ChaincodeID{Name: cc},
		Input:       &pb.ChaincodeInput{Args: args},
	}}
	prop := &pb.Proposal{
		Header:  protos.Marshal(hdr),
		Payload: protos.Marshal(&pb.ChaincodeProposalPayload{Input: protos.Marshal(cis)}),
	}
	raw := protos.Marshal(prop)
	sig, err := signer.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.SignedProposal{ProposalBytes: raw, Signature: sig}
}

func sendProposal(t *testing.T, conn *grpc.ClientConn, sp *pb.SignedProposal) *pb.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, err := pb.NewEndorserClient(conn).ProcessProposal(ctx, sp, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("ProcessProposal: %v", err)
	}
	return pr.GetResponse()
}

// TestFabricCLIProposals sends a real Weft peer each channel-less proposal
// Fabric v2.5's `peer` CLI sends, with the header type Fabric's CLI uses:
// `peer channel join` (cscc JoinChain as CONFIG), `peer channel list`,
// `peer channel getinfo`, and `peer lifecycle chaincode install`,
// `queryinstalled` and `getinstalledpackage`; then the channel-scoped
// `querycommitted`. Header types Fabric's endorser refuses stay refused.
func TestFabricCLIProposals(t *testing.T) {
	t.Parallel()
	dir := devCrypto(t)
	genesis := devGenesis(t, dir)
	admin := devSigner(t, dir, "Admin@org1.example.com")
	conn := startNode(t, dir, filepath.Join(t.TempDir(), "peerdata"))

	// peer channel join -b mychannel.block
	if resp := sendProposal(t, conn, fabricCLIProposal(t, admin, cb.HeaderType_CONFIG, "", "cscc", []byte("JoinChain"), genesis)); resp.Status != 200 {
		t.Fatalf("peer channel join (cscc JoinChain, header type CONFIG) = %d %q, want 200", resp.Status, resp.Message)
	}

	// peer channel list
	resp := sendProposal(t, conn, fabricCLIProposal(t, admin, cb.HeaderType_ENDORSER_TRANSACTION, "", "cscc", []byte("GetChannels")))
	list := &pb.ChannelQueryResponse{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, list) != nil || len(list.Channels) != 1 || list.Channels[0].ChannelId != "mychannel" {
		t.Fatalf("peer channel list = %d %q %v, want 200 and [mychannel]", resp.Status, resp.Message, list.Channels)
	}

	// peer channel getinfo -c mychannel (qscc, sent without a channel)
	resp = sendProposal(t, conn, fabricCLIProposal(t, admin, cb.HeaderType_ENDORSER_TRANSACTION, "", "qscc", []byte("GetChainInfo"), []byte("mychannel")))
	info := &cb.BlockchainInfo{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, info) != nil || info.Height != 1 {
		t.Fatalf("peer channel getinfo = %d %q height %d, want 200 and height 1", resp.Status, resp.Message, info.Height)
	}

	// peer lifecycle chaincode install basic.tar.gz
	pkg, err := client.CCaaSPackage("basic_1.0", client.ConnectionJSON{Address: "127.0.0.1:9999", DialTimeout: "10s"})
	if err != nil {
		t.Fatal(err)
	}
	resp = sendProposal(t, conn, fabricCLIProposal(t, admin, cb.HeaderType_ENDORSER_TRANSACTION, "", "_lifecycle",
		[]byte("InstallChaincode"), protos.Marshal(&lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg})))
	installed := &lb.InstallChaincodeResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, installed) != nil || !strings.HasPrefix(installed.PackageId, "basic_1.0:") {
		t.Fatalf("peer lifecycle chaincode install = %d %q (package %q), want 200 and basic_1.0:<hash>", resp.Status, resp.Message, installed.PackageId)
	}

	// peer lifecycle chaincode queryinstalled
	resp = sendProposal(t, conn, fabricCLIProposal(t, admin, cb.HeaderType_ENDORSER_TRANSACTION, "", "_lifecycle",
		[]byte("QueryInstalledChaincodes"), protos.Marshal(&lb.QueryInstalledChaincodesArgs{})))
	all := &lb.QueryInstalledChaincodesResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, all) != nil || len(all.InstalledChaincodes) != 1 || all.InstalledChaincodes[0].PackageId != installed.PackageId {
		t.Fatalf("peer lifecycle chaincode queryinstalled = %d %q %v, want 200 and %s", resp.Status, resp.Message, all.InstalledChaincodes, installed.PackageId)
	}

	// peer lifecycle chaincode getinstalledpackage --package-id …
	resp = sendProposal(t, conn, fabricCLIProposal(t, admin, cb.HeaderType_ENDORSER_TRANSACTION, "", "_lifecycle",
		[]byte("GetInstalledChaincodePackage"), protos.Marshal(&lb.GetInstalledChaincodePackageArgs{PackageId: installed.PackageId})))
	got := &lb.GetInstalledChaincodePackageResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, got) != nil || string(got.ChaincodeInstallPackage) != string(pkg) {
		t.Fatalf("peer lifecycle chaincode getinstalledpackage = %d %q, want 200 and the bytes installed", resp.Status, resp.Message)
	}

	// peer lifecycle chaincode querycommitted -C mychannel (channel-scoped)
	resp = sendProposal(t, conn, fabricCLIProposal(t, admin, cb.HeaderType_ENDORSER_TRANSACTION, "mychannel", "_lifecycle",
		[]byte("QueryChaincodeDefinitions"), protos.Marshal(&lb.QueryChaincodeDefinitionsArgs{})))
	if resp.Status != 200 {
		t.Fatalf("peer lifecycle chaincode querycommitted = %d %q, want 200", resp.Status, resp.Message)
	}

	// Fabric's endorser admits only ENDORSER_TRANSACTION and CONFIG.
	for _, typ := range []cb.HeaderType{cb.HeaderType_CONFIG_UPDATE, cb.HeaderType_MESSAGE, cb.HeaderType_DELIVER_SEEK_INFO} {
		resp = sendProposal(t, conn, fabricCLIProposal(t, admin, typ, "", "cscc", []byte("GetChannels")))
		if resp.Status != 500 || !strings.Contains(resp.Message, "invalid header type "+typ.String()) {
			t.Errorf("cscc GetChannels with header type %s = %d %q, want 500 naming the header type", typ, resp.Status, resp.Message)
		}
	}
}
