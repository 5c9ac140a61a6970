package client

import (
	"context"
	"strings"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/discovery"
	"github.com/weft-ledger/weft/discovery/discoverytest"
	"github.com/weft-ledger/weft/internal/testnet"
)

// discoveryServer serves discovery for mychannel of the sample network on
// loopback TLS: peer0 of each organisation, both with chaincode basic
// (sequence 3), endorsement AND of the two organisations' peers.
func discoveryServer(t *testing.T) (*testnet.Net, Endpoint) {
	t.Helper()
	n := testnet.SampleNet(t)
	policy, _ := proto.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{
		SignaturePolicy: channelconfig.MustParsePolicyDSL("AND('Org1MSP.peer', 'Org2MSP.peer')")}})
	cc := map[string]string{"basic": "3"}
	peers := []discovery.Peer{
		discoverytest.Peer(t, n.Signer(t, "peer0.org2.example.com"), "peer0.org2.example.com:9051", testnet.Channel, 5, cc),
		discoverytest.Peer(t, n.Signer(t, "peer0.org1.example.com"), "peer0.org1.example.com:7051", testnet.Channel, 6, cc),
	}
	addr := discoverytest.Serve(t, n, "peer0.org1.example.com", discovery.Config{
		Channels: &discoverytest.Channels{
			Bundles:     map[string]*channelconfig.Bundle{testnet.Channel: n.Bundle},
			Definitions: map[string]*discovery.Definition{"basic": {Name: "basic", Sequence: 3, EndorsementPolicy: policy}},
		},
		Membership: &discoverytest.Membership{Channel: peers},
	})
	return n, Endpoint{Address: addr, TLS: true, RootCertFile: n.TLS(t, "peer0.org1.example.com").CA, HostOverride: "peer0.org1.example.com"}
}

func TestDiscoveryClient(t *testing.T) {
	n, e := discoveryServer(t)
	conn, hash, err := DialDiscovery(e)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if len(hash) != 32 {
		t.Fatalf("TLS certificate hash of %d bytes; a self-signed client certificate should have been made", len(hash))
	}
	d := Discovery{Conn: conn, Signer: n.User(t, "User1", "Org1MSP"), TLSCertHash: hash}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	peers, err := d.Peers(ctx, testnet.Channel)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 2 || peers[0].MSPID != "Org1MSP" || peers[0].Endpoint != "peer0.org1.example.com:7051" || peers[0].LedgerHeight != 6 ||
		len(peers[0].Chaincodes) != 1 || peers[0].Chaincodes[0] != (DiscoveredChaincode{"basic", "3"}) || !strings.Contains(peers[0].Cert(), "BEGIN CERTIFICATE") {
		t.Fatalf("peers %+v", peers)
	}

	cfg, err := d.Config(ctx, testnet.Channel)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Msps["Org2MSP"].GetName() != "Org2MSP" || len(cfg.Orderers["OrdererMSP"].GetEndpoint()) == 0 {
		t.Fatalf("config %v", cfg)
	}

	descs, err := d.Endorsers(ctx, testnet.Channel, &pb.ChaincodeInterest{Chaincodes: []*pb.ChaincodeCall{{Name: "basic"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(descs) != 1 || len(descs[0].Layouts) != 1 || len(descs[0].Layouts[0]) != 2 || len(descs[0].EndorsersByGroups) != 2 {
		t.Fatalf("descriptor %+v", descs)
	}
	for g, ps := range descs[0].EndorsersByGroups {
		if len(ps) != 1 || ps[0].LedgerHeight == 0 || descs[0].Layouts[0][g] != 1 {
			t.Errorf("group %s: %+v", g, ps)
		}
	}

	// Errors from the server name the query; refusals keep Fabric's words.
	_, err = d.Endorsers(ctx, testnet.Channel, &pb.ChaincodeInterest{Chaincodes: []*pb.ChaincodeCall{{Name: "nosuch"}}})
	if err == nil || !strings.Contains(err.Error(), "No metadata was found for chaincode nosuch") {
		t.Errorf("undefined chaincode: %v", err)
	}
	_, err = d.Peers(ctx, "")
	if err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Errorf("local peers query without a local MSP: %v", err)
	}
	if _, err := d.Config(ctx, "nosuchchannel"); err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Errorf("unknown channel: %v", err)
	}
}
