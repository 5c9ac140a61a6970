package gateway

import (
	"context"
	"errors"
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
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/protos"
)

func TestEvaluateWithOfficialClient(t *testing.T) {
	n := newNetwork(t)
	contract := n.connect(t, n.user1).GetNetwork(testChannel).GetContract("basic")
	got, err := contract.EvaluateTransaction("ReadAsset", "asset1")
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	if string(got) != "asset asset1" {
		t.Fatalf("evaluate returned %q", got)
	}
	if n.org1.calls.Load() != 1 || n.org2.calls.Load() != 0 {
		t.Fatalf("evaluate should run on the local peer only: org1 %d calls, org2 %d", n.org1.calls.Load(), n.org2.calls.Load())
	}
}

func TestEvaluateFailureCarriesErrorDetail(t *testing.T) {
	n := newNetwork(t)
	n.org1.failed = "asset asset9 does not exist"
	contract := n.connect(t, n.user1).GetNetwork(testChannel).GetContract("basic")
	_, err := contract.EvaluateTransaction("ReadAsset", "asset9")
	var evalErr *client.EndorseError
	if err == nil || errors.As(err, &evalErr) {
		t.Fatalf("want an evaluate error, got %v", err)
	}
	d := errorDetails(t, err)
	if len(d) != 1 || d[0].MspId != "Org1MSP" || !strings.Contains(d[0].Message, "asset9 does not exist") {
		t.Fatalf("error details %v", d)
	}
}

// With MAJORITY Endorsement over two organisations both must endorse: the
// gateway asks Org2's peer, the orderer gets a transaction with both
// endorsements and no transient data, and CommitStatus reports it VALID.
func TestSubmitAndCommitStatusWithOfficialClient(t *testing.T) {
	n := newNetwork(t)
	contract := n.connect(t, n.user1).GetNetwork(testChannel).GetContract("basic")
	result, commit, err := contract.SubmitAsync("CreateAsset",
		client.WithArguments("asset1", "blue"), client.WithTransient(map[string][]byte{"price": []byte("100")}))
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if string(result) != "created asset1" {
		t.Fatalf("submit result %q", result)
	}
	st, err := commit.Status()
	if err != nil {
		t.Fatalf("commit status: %v", err)
	}
	if !st.Successful || st.Code != pb.TxValidationCode_VALID || st.BlockNumber != 1 || st.TransactionID != commit.TransactionID() {
		t.Fatalf("commit status %+v", st)
	}
	if n.org2.calls.Load() != 1 {
		t.Fatalf("Org2's peer was asked %d times, want 1", n.org2.calls.Load())
	}
	envs := n.orderer.envelopes()
	if len(envs) != 1 {
		t.Fatalf("orderer received %d envelopes", len(envs))
	}
	if got := joined(txEndorsers(t, envs[0])); got != "Org1MSP,Org2MSP" {
		t.Fatalf("endorsers %s, want Org1MSP,Org2MSP", got)
	}

	// A second status request for the committed transaction is answered from the ledger.
	st2, err := commit.Status()
	if err != nil || st2.BlockNumber != 1 || !st2.Successful {
		t.Fatalf("second status %+v %v", st2, err)
	}
}

// signaturePolicy compiles a policy with the real DSL parser.
func signaturePolicy(t *testing.T, expr string) *pb.ApplicationPolicy {
	t.Helper()
	env, err := channelconfig.ParsePolicyDSL(expr)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: env}}
}

func TestSignaturePolicies(t *testing.T) {
	cases := []struct {
		policy    string
		wantOrg2  int32
		endorsers string
	}{
		{"AND('Org1MSP.peer','Org2MSP.peer')", 1, "Org1MSP,Org2MSP"},
		{"OR('Org1MSP.peer','Org2MSP.peer')", 0, "Org1MSP"},
	}
	for _, c := range cases {
		t.Run(c.policy, func(t *testing.T) {
			n := newNetwork(t)
			n.chaincodes["basic"] = signaturePolicy(t, c.policy)
			contract := n.connect(t, n.user1).GetNetwork(testChannel).GetContract("basic")
			if _, err := contract.SubmitTransaction("CreateAsset", "asset2", "red"); err != nil {
				t.Fatalf("submit: %v", err)
			}
			if got := n.org2.calls.Load(); got != c.wantOrg2 {
				t.Errorf("Org2 asked %d times, want %d", got, c.wantOrg2)
			}
			if got := joined(txEndorsers(t, n.orderer.envelopes()[0])); got != c.endorsers {
				t.Errorf("endorsers %s, want %s", got, c.endorsers)
			}
		})
	}
}

func TestEndorsementFailureNamesOrg(t *testing.T) {
	n := newNetwork(t)
	n.org2.failed = "chaincode basic is not installed"
	contract := n.connect(t, n.user1).GetNetwork(testChannel).GetContract("basic")
	_, err := contract.SubmitTransaction("CreateAsset", "asset3", "green")
	var endorseErr *client.EndorseError
	if !errors.As(err, &endorseErr) {
		t.Fatalf("want EndorseError, got %T %v", err, err)
	}
	if status.Code(err) != codes.Aborted {
		t.Errorf("code %s, want Aborted", status.Code(err))
	}
	d := errorDetails(t, err)
	if len(d) != 1 || d[0].MspId != "Org2MSP" || d[0].Address != n.org2Addr || !strings.Contains(d[0].Message, "not installed") {
		t.Fatalf("error details %v", d)
	}
	if len(n.orderer.envelopes()) != 0 {
		t.Fatal("nothing may be ordered after a failed endorsement")
	}
}

// A panic in the goroutine asking one organisation to endorse fails that
// request, naming the organisation and the panic; the next request works.
func TestEndorsementPanicFailsOnlyThatRequest(t *testing.T) {
	n := newNetwork(t)
	fault := "injected fault asking an organisation"
	n.remoteFault.Store(&fault)
	contract := n.connect(t, n.user1).GetNetwork(testChannel).GetContract("basic")
	_, err := contract.SubmitTransaction("CreateAsset", "asset5", "red")
	var endorseErr *client.EndorseError
	if !errors.As(err, &endorseErr) {
		t.Fatalf("want EndorseError, got %T %v", err, err)
	}
	d := errorDetails(t, err)
	if len(d) != 1 || d[0].MspId != "Org2MSP" || !strings.Contains(d[0].Message, "panic: "+fault) {
		t.Fatalf("error details %v, want Org2MSP's naming the panic", d)
	}
	if len(n.orderer.envelopes()) != 0 {
		t.Fatal("nothing may be ordered after a failed endorsement")
	}
	if _, err := contract.SubmitTransaction("CreateAsset", "asset5", "red"); err != nil {
		t.Fatalf("submit after the panic: %v", err)
	}
}

func TestDifferingEndorsementsNameBothEndorsers(t *testing.T) {
	n := newNetwork(t)
	n.org2.skew = true
	contract := n.connect(t, n.user1).GetNetwork(testChannel).GetContract("basic")
	_, err := contract.SubmitTransaction("CreateAsset", "asset4", "black")
	if err == nil {
		t.Fatal("want an error for differing endorsements")
	}
	st, _ := status.FromError(err)
	if !strings.Contains(st.Message(), n.gateway+" (Org1MSP)") || !strings.Contains(st.Message(), n.org2Addr+" (Org2MSP)") {
		t.Fatalf("error does not name both endorsers: %s", st.Message())
	}
	if want := `first differing write: namespace basic key "asset4"`; !strings.Contains(st.Message(), want) {
		t.Fatalf("error does not name the differing write (%s): %s", want, st.Message())
	}
	if !strings.Contains(st.Message(), `"black"`) || !strings.Contains(st.Message(), `"black-skewed"`) {
		t.Fatalf("error does not show both values: %s", st.Message())
	}
	if len(n.orderer.envelopes()) != 0 {
		t.Fatal("nothing may be ordered after differing endorsements")
	}
}

func TestSubmitOrdererRejection(t *testing.T) {
	n := newNetwork(t)
	n.orderer.reject = cb.Status_BAD_REQUEST
	contract := n.connect(t, n.user1).GetNetwork(testChannel).GetContract("basic")
	_, err := contract.SubmitTransaction("CreateAsset", "asset5", "white")
	var submitErr *client.SubmitError
	if !errors.As(err, &submitErr) {
		t.Fatalf("want SubmitError, got %T %v", err, err)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "status=BAD_REQUEST") || !strings.Contains(msg, "orderer says no") {
		t.Fatalf("message %q does not name status and info", msg)
	}
}

func TestChaincodeEventsWithOfficialClient(t *testing.T) {
	n := newNetwork(t)
	gw := n.connect(t, n.user1)
	contract := gw.GetNetwork(testChannel).GetContract("basic")

	// committed before the stream opens: one event in a valid tx (block 1) ...
	if _, err := contract.SubmitTransaction("CreateAsset", "early", "red"); err != nil {
		t.Fatal(err)
	}
	// ... and block 2 with an invalid transaction whose event must not appear
	prop, err := contract.NewProposal("CreateAsset", client.WithArguments("invalid", "x"))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := prop.Endorse()
	if err != nil {
		t.Fatal(err)
	}
	txBytes, _ := tx.Bytes()
	prepared := &gwpb.PreparedTransaction{}
	if err := proto.Unmarshal(txBytes, prepared); err != nil {
		t.Fatal(err)
	}
	n.commit(t, []*cb.Envelope{prepared.Envelope}, []pb.TxValidationCode{pb.TxValidationCode_MVCC_READ_CONFLICT})

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	events, err := gw.GetNetwork(testChannel).ChaincodeEvents(ctx, "basic", client.WithStartBlock(0))
	if err != nil {
		t.Fatal(err)
	}
	next := func() *client.ChaincodeEvent {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("chaincode events stream closed")
			}
			return ev
		case <-ctx.Done():
			t.Fatal("no chaincode event")
			return nil
		}
	}
	first := next()
	if first.BlockNumber != 1 || string(first.Payload) != "early" || first.EventName != "AssetCreated" || first.ChaincodeName != "basic" {
		t.Fatalf("first event %+v", first)
	}
	// committed while the stream is open
	if _, err := contract.SubmitTransaction("CreateAsset", "later", "blue"); err != nil {
		t.Fatal(err)
	}
	second := next()
	if second.BlockNumber != 3 || string(second.Payload) != "later" {
		t.Fatalf("second event %+v (the invalid transaction's event must be skipped)", second)
	}

	// Resuming after the first transaction skips it.
	checkpoint := new(client.InMemoryCheckpointer)
	checkpoint.CheckpointChaincodeEvent(first)
	resumed, err := gw.GetNetwork(testChannel).ChaincodeEvents(ctx, "basic", client.WithCheckpoint(checkpoint))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-resumed:
		if !ok {
			t.Fatal("resumed stream closed")
		}
		if ev.TransactionID != second.TransactionID {
			t.Fatalf("resumed stream started at %+v, want the second event", ev)
		}
	case <-ctx.Done():
		t.Fatal("resumed stream sent nothing")
	}

	// Closing the client's streams ends the server's handlers and their subscriptions.
	cancel()
	eventually.True(t, 10*time.Second, "both event streams unsubscribe", func() bool {
		_, subs := n.notifier.counts()
		return subs == 0
	})
}

func TestCommitStatusChecksSignatureAndReaders(t *testing.T) {
	n := newNetwork(t)
	outsider := devnet(t).Signer(t, "orderer.example.com")
	conn := testnet.DialTLS(t, n.gateway, n.tlsRoots(t, "Org1MSP"))
	gwc := gwpb.NewGatewayClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	signed := func(s protos.Signer, tamper bool) *gwpb.SignedCommitStatusRequest {
		id, _ := s.Serialize()
		req, _ := proto.Marshal(&gwpb.CommitStatusRequest{TransactionId: "tx1", ChannelId: testChannel, Identity: id})
		sig, _ := s.Sign(req)
		if tamper {
			req = append(req, 0x08, 0x01) // changes the message after signing
		}
		return &gwpb.SignedCommitStatusRequest{Request: req, Signature: sig}
	}
	if _, err := gwc.CommitStatus(ctx, signed(outsider, false)); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "Readers") {
		t.Fatalf("outsider: %v", err)
	}
	if _, err := gwc.CommitStatus(ctx, signed(n.user1, true)); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("tampered: %v", err)
	}
	// A valid request for a transaction never committed waits until the deadline.
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	if _, err := gwc.CommitStatus(short, signed(n.user1, false)); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("uncommitted: %v", err)
	}
	// the server notices the client's deadline asynchronously
	eventually.True(t, 10*time.Second, "the abandoned CommitStatus releases its waiter", func() bool {
		w, s := n.notifier.counts()
		return w == 0 && s == 0
	})
}

func errorDetails(t *testing.T, err error) []*gwpb.ErrorDetail {
	t.Helper()
	var out []*gwpb.ErrorDetail
	for _, d := range status.Convert(err).Details() {
		if ed, ok := d.(*gwpb.ErrorDetail); ok {
			out = append(out, ed)
		}
	}
	return out
}
