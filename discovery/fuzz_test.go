package discovery_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	discpb "github.com/hyperledger/fabric-protos-go-apiv2/discovery"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/discovery"
	"github.com/weft-ledger/weft/discovery/discoverytest"
	"github.com/weft-ledger/weft/internal/testnet"
)

// FuzzDiscover sends the Discovery service arbitrary requests, as a client
// on the peer's port may: a fuzzed Request signed by a real member of the
// channel, or a whole fuzzed SignedRequest. The service never panics; a
// refused request is InvalidArgument or PermissionDenied; an answered one
// has exactly one result per query, each holding one thing (an error, a
// config, members or endorsers), and a request not signed by a member gets
// an error for every channel query.
func FuzzDiscover(f *testing.F) {
	n := testnet.SampleNet(f)
	user := n.User(f, "User1", "Org1MSP")
	peers := []discovery.Peer{
		discoverytest.Peer(f, n.Signer(f, "peer0.org1.example.com"), "peer0.org1.example.com:7051", testnet.Channel, 5, map[string]string{"basic": "1"}),
		discoverytest.Peer(f, n.Signer(f, "peer0.org2.example.com"), "peer0.org2.example.com:9051", testnet.Channel, 5, map[string]string{"basic": "1"}),
	}
	policy, err := proto.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: "/Channel/Application/Endorsement"}})
	if err != nil {
		f.Fatal(err)
	}
	local, ok := n.Bundle.MSPs().MSP("Org1MSP")
	if !ok {
		f.Fatal("no Org1MSP in the sample channel")
	}
	s := discovery.NewServer(discovery.Config{
		Channels: &discoverytest.Channels{
			Bundles:     map[string]*channelconfig.Bundle{testnet.Channel: n.Bundle},
			Definitions: map[string]*discovery.Definition{"basic": {Name: "basic", Sequence: 1, EndorsementPolicy: policy}},
		},
		Membership:       &discoverytest.Membership{Channel: peers, Local: peers},
		LocalMSP:         local,
		AuthCacheEnabled: true,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ser := user.Serialized
	for _, q := range []*discpb.Query{
		{Channel: testnet.Channel, Query: &discpb.Query_ConfigQuery{ConfigQuery: &discpb.ConfigQuery{}}},
		{Channel: testnet.Channel, Query: &discpb.Query_PeerQuery{PeerQuery: &discpb.PeerMembershipQuery{}}},
		{Query: &discpb.Query_LocalPeers{LocalPeers: &discpb.LocalPeerQuery{}}},
		{Channel: testnet.Channel, Query: &discpb.Query_CcQuery{CcQuery: &discpb.ChaincodeQuery{Interests: []*pb.ChaincodeInterest{
			{Chaincodes: []*pb.ChaincodeCall{{Name: "basic", CollectionNames: []string{"c1"}}, {Name: "other"}}},
		}}}},
	} {
		req, err := proto.Marshal(&discpb.Request{Authentication: &discpb.AuthInfo{ClientIdentity: ser}, Queries: []*discpb.Query{q}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(req, []byte(nil), true)
	}
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00}, []byte("sig"), false)
	f.Fuzz(func(t *testing.T, payload, sig []byte, signed bool) {
		if signed {
			var err error
			if sig, err = user.Sign(payload); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := s.Discover(context.Background(), &discpb.SignedRequest{Payload: payload, Signature: sig})
		if err != nil {
			if c := status.Code(err); c != codes.InvalidArgument && c != codes.PermissionDenied {
				t.Fatalf("refused with %v, want InvalidArgument or PermissionDenied", err)
			}
			return
		}
		req := &discpb.Request{}
		if err := proto.Unmarshal(payload, req); err != nil {
			t.Fatalf("answered a payload that is not a Request: %v", err)
		}
		if len(resp.Results) != len(req.Queries) {
			t.Fatalf("%d results for %d queries", len(resp.Results), len(req.Queries))
		}
		// Only User1 can sign here, and it is a member (Writers) but not an
		// admin: a query is answered with more than an error only when
		// User1 signed the request and it names User1.
		member := signed && string(req.GetAuthentication().GetClientIdentity()) == string(ser)
		for i, r := range resp.Results {
			if r.GetResult() == nil {
				t.Fatalf("result %d holds nothing", i)
			}
			if r.GetError() != nil {
				continue
			}
			if !member {
				t.Fatalf("query %d of a request User1 did not sign was answered: %v", i, r)
			}
			if req.Queries[i].GetLocalPeers() != nil {
				t.Fatalf("the local peers query of User1, not an admin, was answered: %v", r)
			}
		}
	})
}
