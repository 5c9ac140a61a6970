package gateway

import (
	"context"
	"fmt"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// fixtureLedger serves Fabric's fixture blocks 0-9 of mychannel.
type fixtureLedger struct {
	blocks []*cb.Block
	byTxID map[string]*cb.Block
}

func newFixtureLedger(tb testing.TB) *fixtureLedger {
	l := &fixtureLedger{byTxID: map[string]*cb.Block{}}
	for n := uint64(0); n < 10; n++ {
		b := fabricfixture.Block(tb, n)
		l.blocks = append(l.blocks, b)
		for _, raw := range b.Data.Data {
			if id := envelopeTxID(raw); id != "" {
				l.byTxID[id] = b
			}
		}
	}
	return l
}

func (l *fixtureLedger) Height() uint64 { return uint64(len(l.blocks)) }
func (l *fixtureLedger) Block(n uint64) (*cb.Block, error) {
	if n >= uint64(len(l.blocks)) {
		return nil, fmt.Errorf("%w: %d", ledger.ErrBlockNotFound, n)
	}
	return l.blocks[n], nil
}
func (l *fixtureLedger) BlockByTxID(txID string) (*cb.Block, error) {
	if b, ok := l.byTxID[txID]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%w: %s", ledger.ErrTxNotFound, txID)
}

// echoEndorser endorses any proposal that parses, answering its first
// argument; chaincode "broken" fails.
type echoEndorser struct{}

func (echoEndorser) ProcessProposal(_ context.Context, sp *pb.SignedProposal) (*pb.ProposalResponse, error) {
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "endorser: %v", err)
	}
	if prop.ChaincodeName() == "broken" {
		return &pb.ProposalResponse{Response: &pb.Response{Status: 500, Message: "broken"}}, nil
	}
	// As peer/endorser: a proposal's header type is ENDORSER_TRANSACTION,
	// or CONFIG (Fabric's channel join).
	if t := cb.HeaderType(prop.ChannelHeader.Type); t != cb.HeaderType_ENDORSER_TRANSACTION && t != cb.HeaderType_CONFIG {
		return &pb.ProposalResponse{Response: &pb.Response{Status: 500, Message: "invalid header type " + t.String()}}, nil
	}
	var result []byte
	if args := prop.Args(); len(args) > 0 {
		result = args[0]
	}
	act := &pb.ChaincodeAction{Response: &pb.Response{Status: 200, Payload: result}, ChaincodeId: &pb.ChaincodeID{Name: prop.ChaincodeName()}}
	prp := &pb.ProposalResponsePayload{ProposalHash: prop.Hash(), Extension: protos.Marshal(act)}
	return &pb.ProposalResponse{
		Version: 1, Response: &pb.Response{Status: 200, Payload: result}, Payload: protos.Marshal(prp),
		Endorsement: &pb.Endorsement{Endorser: []byte("peer0.org1"), Signature: []byte("sig")},
	}, nil
}

// fuzzEventsStream collects a ChaincodeEvents stream; its context is
// already cancelled, so the stream ends once it has caught up.
type fuzzEventsStream struct {
	grpc.ServerStream
	ctx  context.Context
	sent []*gwpb.ChaincodeEventsResponse
}

func (s *fuzzEventsStream) Context() context.Context { return s.ctx }
func (s *fuzzEventsStream) Send(r *gwpb.ChaincodeEventsResponse) error {
	s.sent = append(s.sent, r)
	return nil
}

// signRequest signs request bytes as the fabric-gateway client does.
func signRequest(tb testing.TB, s *msp.SigningIdentity, raw []byte) []byte {
	sig, err := s.Sign(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

// Gateway requests the fuzz target decodes, by the kind byte's low bits.
const (
	fuzzEvaluate = iota
	fuzzEndorse
	fuzzSubmit
	fuzzCommitStatus
	fuzzChaincodeEvents
	fuzzKinds
)

// FuzzGatewayRequest decodes a Gateway request, as gRPC decodes it from a
// client, and serves it on the peer's Gateway service without a network:
// the local endorser is a fake that endorses whatever parses, Org2MSP has
// no reachable peer and the channel no orderer, and the ledger is Fabric's
// fixture blocks, under the Readers policy of the test network that issued
// User1@org1. For CommitStatus and ChaincodeEvents the fuzzed bytes are the
// inner request, signed by User1@org1 (kind bit 7: the whole signed
// request). Every error must be a gRPC status with the code the failure
// calls for; a success must be what the request asked for.
func FuzzGatewayRequest(f *testing.F) {
	tn := testnet.FabricNet(f)
	user := tn.User(f, "User1", "Org1MSP")
	userID, err := user.Serialize()
	if err != nil {
		f.Fatal(err)
	}
	bundle, err := channelconfig.BundleFromBlock(tn.Genesis())
	if err != nil {
		f.Fatal(err)
	}
	readers, err := bundle.Policy("/Channel/Application/Readers")
	if err != nil {
		f.Fatal(err)
	}
	lg := newFixtureLedger(f)
	ch := &Channel{Ledger: lg, Readers: readers, Config: bundle.Config(), Orgs: []Org{{MSPID: "Org1MSP"}, {MSPID: "Org2MSP"}}}
	org1 := &pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: policyEnvelope(f, "OR('Org1MSP.peer')")}}
	both := &pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: policyEnvelope(f, "AND('Org1MSP.peer','Org2MSP.peer')")}}
	ref := &pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: "/Channel/Application/Endorsement"}}
	srv, err := New(Config{
		MSPID: "Org1MSP", Endpoint: "peer0.org1.example.com:7051", Endorser: echoEndorser{},
		Channels: ChannelsFunc(func(id string) (*Channel, error) {
			if id != "mychannel" {
				return nil, fmt.Errorf("%w: %s", ErrChannelNotFound, id)
			}
			return ch, nil
		}),
		Chaincodes: ChaincodesFunc(func(_, cc string) (*pb.ApplicationPolicy, error) {
			switch cc {
			case "basic", "broken":
				return org1, nil
			case "both":
				return both, nil
			case "ref":
				return ref, nil
			}
			return nil, fmt.Errorf("chaincode %s is not defined", cc)
		}),
		Notifier: NewCommitNotifier(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })

	proposal := func(cc string, args ...string) *pb.SignedProposal {
		var bargs [][]byte
		for _, a := range args {
			bargs = append(bargs, []byte(a))
		}
		sp, _, err := protos.NewProposal(user, "mychannel", cc, bargs, map[string][]byte{"secret": []byte("transient")})
		if err != nil {
			f.Fatal(err)
		}
		return sp
	}
	for _, cc := range []string{"basic", "both", "ref", "broken", "qscc", "undefined"} {
		sp := proposal(cc, "ReadAsset", "asset1")
		f.Add(protos.Marshal(&gwpb.EvaluateRequest{TransactionId: "t", ChannelId: "mychannel", ProposedTransaction: sp}), uint8(fuzzEvaluate))
		f.Add(protos.Marshal(&gwpb.EndorseRequest{TransactionId: "t", ChannelId: "mychannel", ProposedTransaction: sp}), uint8(fuzzEndorse))
	}
	f.Add(protos.Marshal(&gwpb.EndorseRequest{ChannelId: "mychannel", ProposedTransaction: proposal("basic", "x"), EndorsingOrganizations: []string{"Org1MSP", "Org2MSP"}}), uint8(fuzzEndorse))
	f.Add(protos.Marshal(&gwpb.EndorseRequest{ChannelId: "mychannel", ProposedTransaction: proposal("basic", "x"), EndorsingOrganizations: []string{"Org1MSP", "Org1MSP"}}), uint8(fuzzEndorse))
	f.Add(protos.Marshal(&gwpb.SubmitRequest{TransactionId: "t", ChannelId: "mychannel", PreparedTransaction: &cb.Envelope{Payload: []byte("p"), Signature: []byte("s")}}), uint8(fuzzSubmit))
	f.Add(protos.Marshal(&gwpb.SubmitRequest{ChannelId: "other", PreparedTransaction: &cb.Envelope{Payload: []byte("p")}}), uint8(fuzzSubmit))
	var someTx string
	for id := range lg.byTxID {
		if someTx == "" || id < someTx {
			someTx = id
		}
	}
	for _, tx := range []string{someTx, "not-a-transaction"} {
		req := protos.Marshal(&gwpb.CommitStatusRequest{ChannelId: "mychannel", TransactionId: tx, Identity: userID})
		f.Add(req, uint8(fuzzCommitStatus))
		f.Add(protos.Marshal(&gwpb.SignedCommitStatusRequest{Request: req, Signature: signRequest(f, user, req)}), uint8(0x80|fuzzCommitStatus))
	}
	for _, start := range []*ab.SeekPosition{
		{Type: &ab.SeekPosition_Oldest{Oldest: &ab.SeekOldest{}}},
		{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: 3}}},
		{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}},
		nil,
	} {
		req := protos.Marshal(&gwpb.ChaincodeEventsRequest{ChannelId: "mychannel", ChaincodeId: "basic", Identity: userID, StartPosition: start})
		f.Add(req, uint8(fuzzChaincodeEvents))
	}
	req := protos.Marshal(&gwpb.ChaincodeEventsRequest{ChannelId: "mychannel", ChaincodeId: "basic", Identity: userID, AfterTransactionId: someTx})
	f.Add(req, uint8(fuzzChaincodeEvents))
	f.Add(protos.Marshal(&gwpb.SignedChaincodeEventsRequest{Request: req, Signature: signRequest(f, user, req)}), uint8(0x80|fuzzChaincodeEvents))
	f.Add([]byte{}, uint8(fuzzCommitStatus))

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	// The seeds reach the answers, not only the refusals.
	if _, err := srv.Evaluate(cancelled, &gwpb.EvaluateRequest{ProposedTransaction: proposal("basic", "x")}); err != nil {
		f.Fatalf("seed Evaluate: %v", err)
	}
	if _, err := srv.Endorse(cancelled, &gwpb.EndorseRequest{ProposedTransaction: proposal("basic", "x")}); err != nil {
		f.Fatalf("seed Endorse: %v", err)
	}
	csr := protos.Marshal(&gwpb.CommitStatusRequest{ChannelId: "mychannel", TransactionId: someTx, Identity: userID})
	if _, err := srv.CommitStatus(cancelled, &gwpb.SignedCommitStatusRequest{Request: csr, Signature: signRequest(f, user, csr)}); err != nil {
		f.Fatalf("seed CommitStatus: %v", err)
	}
	codeIn := func(t *testing.T, what string, err error, want ...codes.Code) {
		t.Helper()
		st, ok := status.FromError(err)
		if !ok {
			t.Fatalf("%s: error %v is not a gRPC status", what, err)
		}
		for _, c := range want {
			if st.Code() == c {
				return
			}
		}
		t.Fatalf("%s: code %s (%s), want one of %v", what, st.Code(), st.Message(), want)
	}

	f.Fuzz(func(t *testing.T, raw []byte, kind uint8) {
		switch kind & 0x7f % fuzzKinds {
		case fuzzEvaluate:
			req := &gwpb.EvaluateRequest{}
			if proto.Unmarshal(raw, req) != nil {
				return
			}
			resp, err := srv.Evaluate(cancelled, req)
			prop, perr := protos.ParseProposal(req.GetProposedTransaction())
			if err != nil {
				if perr != nil {
					codeIn(t, "Evaluate of an unparseable proposal", err, codes.InvalidArgument)
				} else {
					codeIn(t, "Evaluate", err, codes.NotFound, codes.InvalidArgument, codes.Aborted)
				}
				return
			}
			if perr != nil || prop.ChannelHeader.ChannelId != "mychannel" || prop.ChaincodeName() == "broken" {
				t.Fatalf("Evaluate answered a proposal it must refuse (%v)", perr)
			}
			var want []byte
			if args := prop.Args(); len(args) > 0 {
				want = args[0]
			}
			if resp.GetResult().GetStatus() != 200 || string(resp.GetResult().GetPayload()) != string(want) {
				t.Fatalf("Evaluate result %v, want the endorser's %q", resp.GetResult(), want)
			}
		case fuzzEndorse:
			req := &gwpb.EndorseRequest{}
			if proto.Unmarshal(raw, req) != nil {
				return
			}
			resp, err := srv.Endorse(cancelled, req)
			prop, perr := protos.ParseProposal(req.GetProposedTransaction())
			if err != nil {
				if perr != nil {
					codeIn(t, "Endorse of an unparseable proposal", err, codes.InvalidArgument)
				} else {
					codeIn(t, "Endorse", err, codes.NotFound, codes.InvalidArgument, codes.FailedPrecondition, codes.Aborted, codes.Canceled)
				}
				return
			}
			if perr != nil || prop.ChannelHeader.ChannelId != "mychannel" {
				t.Fatalf("Endorse answered a proposal it must refuse (%v)", perr)
			}
			for _, o := range req.GetEndorsingOrganizations() {
				if o != "Org1MSP" {
					t.Fatalf("endorsed with %s, which has no reachable peer", o)
				}
			}
			if cc := prop.ChaincodeName(); cc == "both" || cc == "broken" {
				t.Fatalf("chaincode %s endorsed by Org1MSP alone", cc)
			}
			// The prepared transaction carries the proposal's header and
			// its payload without the transient map.
			env := resp.GetPreparedTransaction()
			penv, err := protos.ParseEnvelope(env)
			if err != nil {
				t.Fatalf("prepared transaction does not parse: %v", err)
			}
			if penv.ChannelHeader.TxId != prop.ChannelHeader.TxId || !proto.Equal(penv.Payload.Header, prop.Header) {
				t.Fatal("prepared transaction has another header than the proposal")
			}
			if cb.HeaderType(penv.ChannelHeader.Type) == cb.HeaderType_ENDORSER_TRANSACTION {
				tx, err := protos.ParseEndorserTx(penv)
				if err != nil {
					t.Fatalf("prepared transaction is not an endorser transaction: %v", err)
				}
				if n := len(tx.Endorsements()); n != 1 {
					t.Fatalf("prepared transaction has %d endorsements, want Org1's", n)
				}
			} else if cb.HeaderType(penv.ChannelHeader.Type) != cb.HeaderType_CONFIG {
				t.Fatalf("prepared a transaction of type %s, which no endorser endorses", cb.HeaderType(penv.ChannelHeader.Type))
			}
			cap := &pb.ChaincodeActionPayload{}
			tr := &pb.Transaction{}
			if proto.Unmarshal(penv.Payload.Data, tr) != nil || len(tr.Actions) != 1 || proto.Unmarshal(tr.Actions[0].Payload, cap) != nil {
				t.Fatal("prepared transaction has no action")
			}
			cpp := &pb.ChaincodeProposalPayload{}
			if proto.Unmarshal(cap.ChaincodeProposalPayload, cpp) != nil || len(cpp.TransientMap) != 0 {
				t.Fatal("prepared transaction carries the transient map")
			}
		case fuzzSubmit:
			req := &gwpb.SubmitRequest{}
			if proto.Unmarshal(raw, req) != nil {
				return
			}
			_, err := srv.Submit(cancelled, req)
			switch {
			case req.GetPreparedTransaction() == nil || len(req.GetPreparedTransaction().GetSignature()) == 0:
				codeIn(t, "Submit without a signed transaction", err, codes.InvalidArgument)
			case req.GetChannelId() == "":
				codeIn(t, "Submit without a channel", err, codes.InvalidArgument)
			case req.GetChannelId() != "mychannel":
				codeIn(t, "Submit to an unknown channel", err, codes.NotFound)
			default:
				codeIn(t, "Submit to a channel without orderers", err, codes.Unavailable)
			}
		case fuzzCommitStatus:
			signed := &gwpb.SignedCommitStatusRequest{Request: raw, Signature: signRequest(t, user, raw)}
			if kind&0x80 != 0 && proto.Unmarshal(raw, signed) != nil {
				return
			}
			resp, err := srv.CommitStatus(cancelled, signed)
			in := &gwpb.CommitStatusRequest{}
			if err != nil {
				codeIn(t, "CommitStatus", err, codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.Canceled)
				if status.Code(err) == codes.Canceled && (proto.Unmarshal(signed.Request, in) != nil || lg.byTxID[in.TransactionId] != nil) {
					t.Fatalf("CommitStatus waited for transaction %q, which is in the ledger", in.TransactionId)
				}
				return
			}
			if proto.Unmarshal(signed.GetRequest(), in) != nil || in.ChannelId != "mychannel" {
				t.Fatal("CommitStatus answered a request it must refuse")
			}
			if kind&0x80 == 0 && !proto.Equal(&gwpb.CommitStatusRequest{Identity: in.Identity}, &gwpb.CommitStatusRequest{Identity: userID}) {
				t.Fatalf("CommitStatus answered a request signed by User1 that names another identity")
			}
			b := lg.byTxID[in.TransactionId]
			if b == nil || resp.BlockNumber != b.Header.Number {
				t.Fatalf("CommitStatus of %q: block %d, want the block holding it", in.TransactionId, resp.BlockNumber)
			}
			if st, ok := txStatusInBlock(b, in.TransactionId); !ok || st.Code != resp.Result {
				t.Fatalf("CommitStatus of %q: %s, the block says %s", in.TransactionId, resp.Result, st.Code)
			}
		case fuzzChaincodeEvents:
			signed := &gwpb.SignedChaincodeEventsRequest{Request: raw, Signature: signRequest(t, user, raw)}
			if kind&0x80 != 0 && proto.Unmarshal(raw, signed) != nil {
				return
			}
			stream := &fuzzEventsStream{ctx: cancelled}
			err := srv.ChaincodeEvents(signed, stream)
			codeIn(t, "ChaincodeEvents", err, codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.Canceled)
			in := &gwpb.ChaincodeEventsRequest{}
			if len(stream.sent) > 0 && (status.Code(err) != codes.Canceled || proto.Unmarshal(signed.GetRequest(), in) != nil) {
				t.Fatalf("%d event responses, then %v", len(stream.sent), err)
			}
			last := int64(-1)
			for _, r := range stream.sent {
				if int64(r.BlockNumber) <= last || r.BlockNumber >= lg.Height() || len(r.Events) == 0 {
					t.Fatalf("events of block %d after block %d (height %d, %d events)", r.BlockNumber, last, lg.Height(), len(r.Events))
				}
				last = int64(r.BlockNumber)
				for _, ev := range r.Events {
					if ev.ChaincodeId != in.ChaincodeId {
						t.Fatalf("an event of chaincode %q on a stream for %q", ev.ChaincodeId, in.ChaincodeId)
					}
				}
			}
		}
	})
}

// policyEnvelope compiles a signature policy for the fuzz target's chaincodes.
func policyEnvelope(tb testing.TB, rule string) *cb.SignaturePolicyEnvelope {
	env, err := channelconfig.ParsePolicyDSL(rule)
	if err != nil {
		tb.Fatal(err)
	}
	return env
}
