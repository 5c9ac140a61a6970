package restgateway

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// fakePeer is a hand-written Gateway service: it knows channel mychannel
// and chaincode basic, answers a few functions, and records what reached it.
type fakePeer struct {
	gwpb.UnimplementedGatewayServer

	mu        sync.Mutex
	calls     []string                              // RPC names in order
	committed map[string]*gwpb.CommitStatusResponse // by TxID, set by Submit
	codes     map[string]pb.TxValidationCode        // function name → validation code at commit
	events    *gwpb.ChaincodeEventsRequest          // the last events request
	submitted []*cb.Envelope
	creators  [][]byte // the creator of every proposal evaluated, in order

	// A small ledger for qscc GetBlockByNumber: Submit appends every
	// transaction to block 5 with its validation code.
	endorser []byte                      // serialized identity of the endorsements
	rwsets   map[string]*kvrwset.KVRWSet // function name → the read/write set of its endorsement
	blocks   map[uint64][][]byte         // block number → envelopes
	flags    map[uint64][]byte           // block number → validation codes
	policy   []byte                      // _lifecycle: the ValidationParameter of basic; nil: not answered
	height   uint64                      // the block Submit commits in (default 5); blocks 0 to height exist
	qscc     int                         // qscc GetBlockByNumber calls
}

func newFakePeer() *fakePeer {
	return &fakePeer{
		committed: map[string]*gwpb.CommitStatusResponse{}, codes: map[string]pb.TxValidationCode{},
		rwsets: map[string]*kvrwset.KVRWSet{}, blocks: map[uint64][][]byte{}, flags: map[uint64][]byte{}, height: 5,
	}
}

func (f *fakePeer) record(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
}

func (f *fakePeer) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func withDetails(code codes.Code, msg string, details ...*gwpb.ErrorDetail) error {
	st := status.New(code, msg)
	var ds []protoadapt.MessageV1
	for _, d := range details {
		ds = append(ds, protoadapt.MessageV1Of(d))
	}
	st, _ = st.WithDetails(ds...)
	return st.Err()
}

// check refuses what a real peer refuses: unknown channel or chaincode.
func (f *fakePeer) check(sp *pb.SignedProposal) (*protos.Proposal, error) {
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "failed to unpack transaction proposal: %v", err)
	}
	if ch := prop.ChannelHeader.ChannelId; ch != "mychannel" {
		return nil, status.Errorf(codes.NotFound, "channel %s is not joined by this peer (peer0:7051)", ch)
	}
	if cc := prop.ChaincodeName(); cc != "basic" && cc != "qscc" && cc != "_lifecycle" {
		return nil, withDetails(codes.Aborted, "evaluate call to endorser returned error: chaincode response 500, chaincode "+cc+" is not defined on channel mychannel",
			&gwpb.ErrorDetail{Address: "peer0:7051", MspId: "Org1MSP", Message: "chaincode response 500, chaincode " + cc + " is not defined on channel mychannel"})
	}
	return prop, nil
}

func (f *fakePeer) Evaluate(_ context.Context, req *gwpb.EvaluateRequest) (*gwpb.EvaluateResponse, error) {
	f.record("Evaluate")
	prop, err := f.check(req.ProposedTransaction)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.creators = append(f.creators, prop.SignatureHeader.Creator)
	f.mu.Unlock()
	args := prop.Args()
	fn := string(args[0])
	if prop.ChaincodeName() == "qscc" {
		switch fn {
		case "GetChainInfo":
			return &gwpb.EvaluateResponse{Result: &pb.Response{Status: 200, Payload: protos.Marshal(&cb.BlockchainInfo{Height: 7, CurrentBlockHash: []byte{0xab}})}}, nil
		case "GetBlockByNumber":
			if b := f.block(string(args[2])); b != nil {
				return &gwpb.EvaluateResponse{Result: &pb.Response{Status: 200, Payload: protos.Marshal(b)}}, nil
			}
			return nil, withDetails(codes.Aborted, "evaluate call to endorser returned error: chaincode response 404, qscc "+fn+": not found",
				&gwpb.ErrorDetail{Address: "peer0:7051", MspId: "Org1MSP", Message: "chaincode response 404, qscc " + fn + ": block not found"})
		default:
			return nil, withDetails(codes.Aborted, "evaluate call to endorser returned error: chaincode response 404, qscc "+fn+": not found",
				&gwpb.ErrorDetail{Address: "peer0:7051", MspId: "Org1MSP", Message: "chaincode response 404, qscc " + fn + ": block not found"})
		}
	}
	if prop.ChaincodeName() == "_lifecycle" {
		q := &lb.QueryChaincodeDefinitionArgs{}
		f.mu.Lock()
		policy := f.policy
		f.mu.Unlock()
		if fn != "QueryChaincodeDefinition" || len(args) < 2 || proto.Unmarshal(args[1], q) != nil || q.Name != "basic" || policy == nil {
			return nil, withDetails(codes.Aborted, "evaluate call to endorser returned error: chaincode response 404, namespace "+q.Name+" is not defined",
				&gwpb.ErrorDetail{Address: "peer0:7051", MspId: "Org1MSP", Message: "chaincode response 404, namespace " + q.Name + " is not defined"})
		}
		res := &lb.QueryChaincodeDefinitionResult{Sequence: 1, Version: "1.0", ValidationParameter: policy}
		return &gwpb.EvaluateResponse{Result: &pb.Response{Status: 200, Payload: protos.Marshal(res)}}, nil
	}
	switch fn {
	case "Echo":
		return &gwpb.EvaluateResponse{Result: &pb.Response{Status: 200, Payload: args[1]}}, nil
	case "Fail":
		return nil, withDetails(codes.Aborted, "evaluate call to endorser returned error: chaincode response 500, boom",
			&gwpb.ErrorDetail{Address: "peer0:7051", MspId: "Org1MSP", Message: "chaincode response 500, boom"})
	}
	return &gwpb.EvaluateResponse{Result: &pb.Response{Status: 200}}, nil
}

func (f *fakePeer) Endorse(_ context.Context, req *gwpb.EndorseRequest) (*gwpb.EndorseResponse, error) {
	f.record("Endorse")
	prop, err := f.check(req.ProposedTransaction)
	if err != nil {
		return nil, err
	}
	fn := string(prop.Args()[0])
	if fn == "Fail" {
		return nil, withDetails(codes.Aborted, "failed to endorse transaction, see attached details for more info",
			&gwpb.ErrorDetail{Address: "peer0.org2:9051", MspId: "Org2MSP", Message: "chaincode response 500, the asset a1 does not exist"})
	}
	f.mu.Lock()
	kv, endorser := f.rwsets[fn], f.endorser
	f.mu.Unlock()
	if kv == nil {
		kv = &kvrwset.KVRWSet{}
	}
	if endorser == nil {
		endorser = []byte("endorser")
	}
	results := protos.Marshal(&rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{
		{Namespace: "basic", Rwset: protos.Marshal(kv)},
	}})
	act := &pb.ChaincodeAction{
		Response: &pb.Response{Status: 200, Payload: []byte("result of " + fn)},
		Results:  results, ChaincodeId: &pb.ChaincodeID{Name: "basic", Version: "1.0"},
	}
	prp := &pb.ProposalResponsePayload{ProposalHash: prop.Hash(), Extension: protos.Marshal(act)}
	pr := &pb.ProposalResponse{
		Response:    &pb.Response{Status: 200},
		Payload:     protos.Marshal(prp),
		Endorsement: &pb.Endorsement{Endorser: endorser, Signature: []byte("sig")},
	}
	payload, err := protos.NewTransaction(prop, []*pb.ProposalResponse{pr})
	if err != nil {
		return nil, status.Error(codes.Aborted, err.Error())
	}
	return &gwpb.EndorseResponse{PreparedTransaction: &cb.Envelope{Payload: protos.Marshal(payload)}}, nil
}

func (f *fakePeer) Submit(_ context.Context, req *gwpb.SubmitRequest) (*gwpb.SubmitResponse, error) {
	f.record("Submit")
	env, err := protos.ParseEnvelope(req.PreparedTransaction)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	code := pb.TxValidationCode_VALID
	f.mu.Lock()
	if c, ok := f.codes[envelopeFunction(env.Payload)]; ok {
		code = c
	}
	defer f.mu.Unlock()
	f.submitted = append(f.submitted, req.PreparedTransaction)
	f.blocks[f.height] = append(f.blocks[f.height], protos.Marshal(req.PreparedTransaction))
	f.flags[f.height] = append(f.flags[f.height], byte(code))
	f.committed[req.TransactionId] = &gwpb.CommitStatusResponse{Result: code, BlockNumber: f.height}
	return &gwpb.SubmitResponse{}, nil
}

func (f *fakePeer) CommitStatus(ctx context.Context, req *gwpb.SignedCommitStatusRequest) (*gwpb.CommitStatusResponse, error) {
	f.record("CommitStatus")
	r := &gwpb.CommitStatusRequest{}
	if err := proto.Unmarshal(req.Request, r); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	f.mu.Lock()
	st, ok := f.committed[r.TransactionId]
	f.mu.Unlock()
	if ok {
		return st, nil
	}
	<-ctx.Done()
	return nil, status.FromContextError(ctx.Err()).Err()
}

// addTx appends a transaction to block n of the fake ledger.
func (f *fakePeer) addTx(n uint64, env *cb.Envelope, code pb.TxValidationCode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocks[n] = append(f.blocks[n], protos.Marshal(env))
	f.flags[n] = append(f.flags[n], byte(code))
}

// block is block number n of the fake ledger, or nil. Blocks 0 to height
// exist (empty unless filled).
func (f *fakePeer) block(n string) *cb.Block {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.qscc++
	num, err := strconv.ParseUint(n, 10, 64)
	if err != nil || num > f.height {
		return nil
	}
	b := protos.NewBlock(num, []byte{0xab}, f.blocks[num])
	protos.SetTxFilter(b, append([]byte(nil), f.flags[num]...))
	return b
}

// ChaincodeEvents sends one block of two events, then waits for the end.
func (f *fakePeer) ChaincodeEvents(req *gwpb.SignedChaincodeEventsRequest, stream gwpb.Gateway_ChaincodeEventsServer) error {
	f.record("ChaincodeEvents")
	r := &gwpb.ChaincodeEventsRequest{}
	if err := proto.Unmarshal(req.Request, r); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	f.mu.Lock()
	f.events = r
	f.mu.Unlock()
	err := stream.Send(&gwpb.ChaincodeEventsResponse{BlockNumber: 3, Events: []*pb.ChaincodeEvent{
		{ChaincodeId: r.ChaincodeId, TxId: "tx1", EventName: "made", Payload: []byte(`{"n":1}`)},
		{ChaincodeId: r.ChaincodeId, TxId: "tx2", EventName: "made", Payload: []byte{0xff}},
	}})
	if err != nil {
		return err
	}
	<-stream.Context().Done()
	return status.FromContextError(stream.Context().Err()).Err()
}

// testToken is the bearer token of newTestServer's one credential, bound to
// the default identity.
const testToken = "test-token-of-the-default-identity"

// newTestServer serves a fakePeer over loopback gRPC and the REST gateway in
// front of it over httptest (the http.Server of Server.HTTPServer), with
// User1@org1.example.com of the test network in the wallet as default
// identity and testToken as credential.
func newTestServer(t testing.TB, mutate ...func(*Options)) (*httptest.Server, *fakePeer) {
	t.Helper()
	addr, peer := startFakePeer(t)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n := testnet.SampleNet(t)
	opts := Options{
		Conn:            conn,
		Wallet:          NewWallet(map[string]*msp.SigningIdentity{"User1@org1.example.com": n.User(t, "User1", "Org1MSP")}),
		DefaultIdentity: "User1@org1.example.com",
		Auth:            AuthConfig{Tokens: []TokenCredential{{Token: testToken}}},
		BodyLimit:       4096,
	}
	for _, m := range mutate {
		m(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Config = srv.HTTPServer()
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, peer
}

// envelopeFunction is the function name of an endorser transaction payload.
func envelopeFunction(p *cb.Payload) string {
	tx := &pb.Transaction{}
	cap := &pb.ChaincodeActionPayload{}
	cpp := &pb.ChaincodeProposalPayload{}
	cis := &pb.ChaincodeInvocationSpec{}
	if proto.Unmarshal(p.GetData(), tx) != nil || len(tx.Actions) == 0 ||
		proto.Unmarshal(tx.Actions[0].Payload, cap) != nil ||
		proto.Unmarshal(cap.GetChaincodeProposalPayload(), cpp) != nil ||
		proto.Unmarshal(cpp.Input, cis) != nil {
		return ""
	}
	args := cis.GetChaincodeSpec().GetInput().GetArgs()
	if len(args) == 0 {
		return ""
	}
	return string(args[0])
}

// startFakePeer serves a fakePeer over plain gRPC on loopback until the test ends.
func startFakePeer(t testing.TB) (string, *fakePeer) {
	t.Helper()
	peer := newFakePeer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	gwpb.RegisterGatewayServer(gs, peer)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String(), peer
}

func slogDiscard() slog.Handler { return slog.DiscardHandler }

// neverDialled is a connection to nowhere, for servers whose peer the test
// never reaches.
func neverDialled(t testing.TB) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
