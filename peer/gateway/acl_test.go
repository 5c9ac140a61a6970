package gateway

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// CommitStatus is guarded by the channel's gateway/CommitStatus ACL, read
// from its config: pointed at Org1's admins it refuses User1, naming the
// resource, the policy and the identity.
func TestCommitStatusACLFromConfig(t *testing.T) {
	n := newNetwork(t)
	cfg := proto.Clone(n.bundle.Config()).(*cb.Config)
	cfg.ChannelGroup.Groups[channelconfig.ApplicationGroupKey].Values[channelconfig.ACLsKey] = &cb.ConfigValue{
		ModPolicy: channelconfig.AdminsPolicyKey,
		Value:     protos.Marshal(&pb.ACLs{Acls: map[string]*pb.APIResource{"gateway/CommitStatus": {PolicyRef: "Org1MSP/Admins"}}}),
	}
	bundle, err := channelconfig.NewBundle(testChannel, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := ChannelFromBundle(bundle, n.blocks)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{MSPID: "Org1MSP", Endorser: n.org1, Chaincodes: n.chaincodes, Notifier: n.notifier,
		Channels: ChannelsFunc(func(string) (*Channel, error) { return ch, nil })})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	_, err = s.CommitStatus(context.Background(), signedCommitStatus(t, n.user1))
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("CommitStatus by User1 under gateway/CommitStatus = Org1 admins: %v", err)
	}
	for _, want := range []string{"gateway/CommitStatus", "/Channel/Application/Org1MSP/Admins", "User1@org1.example.com"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// The admin passes the ACL and waits for the transaction.
	if _, err := s.CommitStatus(ctx, signedCommitStatus(t, devnet(t).Admin(t, "Org1MSP"))); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("CommitStatus by Org1's admin: %v, want it to wait for the transaction", err)
	}
}

// A ChaincodeEvents stream is judged again at each config block: once a
// config update removes Org2 from the channel, Org2's stream ends before any
// later event reaches it, while Org1's goes on.
func TestChaincodeEventsStopWhenTheConfigRefuses(t *testing.T) {
	n := newNetwork(t)
	org2 := devnet(t).User(t, "User1", "Org2MSP")
	contract := n.connect(t, n.user1).GetNetwork(testChannel).GetContract("basic")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	streams := map[string]<-chan *client.ChaincodeEvent{}
	for name, signer := range map[string]*msp.SigningIdentity{"Org1": n.user1, "Org2": org2} {
		events, err := n.connect(t, signer).GetNetwork(testChannel).ChaincodeEvents(ctx, "basic", client.WithStartBlock(1))
		if err != nil {
			t.Fatal(err)
		}
		streams[name] = events
	}
	next := func(name string) (*client.ChaincodeEvent, bool) {
		t.Helper()
		select {
		case ev, ok := <-streams[name]:
			return ev, ok
		case <-ctx.Done():
			t.Fatalf("%s: no chaincode event and the stream did not end", name)
			return nil, false
		}
	}
	if _, err := contract.SubmitTransaction("CreateAsset", "before", "red"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Org1", "Org2"} {
		if ev, ok := next(name); !ok || string(ev.Payload) != "before" {
			t.Fatalf("%s: first event %+v, %t", name, ev, ok)
		}
	}

	cfg := proto.Clone(n.bundle.Config()).(*cb.Config)
	cfg.Sequence++
	delete(cfg.ChannelGroup.Groups[channelconfig.ApplicationGroupKey].Groups, "Org2MSP")
	env, err := channelconfig.ConfigTxEnvelope(testChannel, &cb.ConfigEnvelope{Config: cfg}, devnet(t).Signer(t, "orderer.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	n.commit(t, []*cb.Envelope{env}, []pb.TxValidationCode{pb.TxValidationCode_VALID})
	if _, err := contract.SubmitTransaction("CreateAsset", "after", "blue"); err != nil {
		t.Fatal(err)
	}
	if ev, ok := next("Org2"); ok {
		t.Fatalf("Org2 received %+v after its removal", ev)
	}
	if ev, ok := next("Org1"); !ok || string(ev.Payload) != "after" {
		t.Fatalf("Org1: event %+v, %t; want the one after the config block", ev, ok)
	}
}

// A CommitStatus request signed by a channel member whose certificate has
// expired is refused naming the identity and its NotAfter; the same member
// with a current certificate passes and waits for the transaction.
func TestCommitStatusRefusesExpiredIdentity(t *testing.T) {
	n := newNetwork(t)
	ch, err := ChannelFromBundle(n.bundle, n.blocks)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{MSPID: "Org1MSP", Endorser: n.org1, Chaincodes: n.chaincodes, Notifier: n.notifier,
		Channels: ChannelsFunc(func(string) (*Channel, error) { return ch, nil })})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	orgDir := filepath.Join(devnet(t).Dir, "organizations", "peerOrganizations", "org1.example.com")
	now := time.Now()
	expired := testnet.IssueIdentity(t, orgDir, "Org1MSP", "Expired@org1.example.com", "client", now.Add(-time.Minute))
	current := testnet.IssueIdentity(t, orgDir, "Org1MSP", "Current@org1.example.com", "client", now.Add(time.Hour))
	_, err = s.CommitStatus(context.Background(), signedCommitStatus(t, expired))
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "Expired@org1.example.com") ||
		!strings.Contains(err.Error(), expired.Cert.NotAfter.UTC().Format(time.RFC3339)) {
		t.Fatalf("CommitStatus by an expired identity = %v; want PermissionDenied naming it and its NotAfter", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.CommitStatus(ctx, signedCommitStatus(t, current)); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("CommitStatus by a current identity: %v, want it to wait for the transaction", err)
	}
}

// signedCommitStatus is a CommitStatus request for "tx1" signed by signer.
func signedCommitStatus(t *testing.T, signer protos.Signer) *gwpb.SignedCommitStatusRequest {
	t.Helper()
	id, _ := signer.Serialize()
	req := protos.Marshal(&gwpb.CommitStatusRequest{TransactionId: "tx1", ChannelId: testChannel, Identity: id})
	sig, err := signer.Sign(req)
	if err != nil {
		t.Fatal(err)
	}
	return &gwpb.SignedCommitStatusRequest{Request: req, Signature: sig}
}
