package deliver

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/protos"
)

const testChannel = "mychannel"

type deliverFixture struct {
	store    observedStore
	client   pb.DeliverClient
	user1    protos.Signer // Org1MSP client: a reader
	outsider protos.Signer // the orderer's identity: not in /Channel/Application/Readers
	blocks   []*cb.Block
	current  atomic.Pointer[Channel] // what the server's Channels lookup returns
	txIDs    []string                // of block 1: tx0 (valid, event), tx1 (invalid, event), tx2 (valid, no event)
}

// newDeliverFixture serves a devnet channel from a real block store over TLS:
// block 0 the genesis config block, block 1 three endorser txs of which the
// second is invalid, block 2 one endorser tx. Access is decided by the real
// /Channel/Application/Readers policy of the genesis config.
// Each opt adjusts the server before it serves.
func newDeliverFixture(t *testing.T, opts ...func(*Server)) *deliverFixture {
	t.Helper()
	d := getDevnet(t)
	f := &deliverFixture{
		store:    openStore(t, d),
		user1:    d.User(t, "User1", "Org1MSP"),
		outsider: d.Signer(t, "orderer.example.com"),
	}
	b0 := d.genesis
	e0, id0 := endorserTx(t, f.user1, testChannel, "basic", "Created", []byte("secret payload"))
	e1, id1 := endorserTx(t, f.user1, testChannel, "basic", "Transferred", []byte("another payload"))
	e2, id2 := endorserTx(t, f.user1, testChannel, "basic", "", nil)
	b1 := nextBlock(b0, e0, e1, e2)
	protos.SetTxFilter(b1, []byte{byte(pb.TxValidationCode_VALID), byte(pb.TxValidationCode_MVCC_READ_CONFLICT), byte(pb.TxValidationCode_VALID)})
	e3, _ := endorserTx(t, f.user1, testChannel, "basic", "Deleted", nil)
	b2 := nextBlock(b1, e3)
	f.blocks = []*cb.Block{b0, b1, b2}
	f.txIDs = []string{id0, id1, id2}
	for _, b := range f.blocks[1:] {
		if err := f.store.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := ChannelFromBundle(d.bundle, f.store)
	if err != nil {
		t.Fatal(err)
	}
	f.current.Store(ch)
	channels := ChannelsFunc(func(id string) (*Channel, error) {
		if id != testChannel {
			return nil, fmt.Errorf("channel %q: %w", id, ErrChannelNotFound)
		}
		return f.current.Load(), nil
	})
	addr := serveTLS(t, d.TLSCert(t, "peer0.org1.example.com"), func(s *grpc.Server) {
		srv := NewServer(channels, nil)
		for _, o := range opts {
			o(srv)
		}
		pb.RegisterDeliverServer(s, srv)
	})
	f.client = pb.NewDeliverClient(testnet.DialTLS(t, addr, d.tlsRoots(t, "Org1MSP")))
	return f
}

func specified(n uint64) *ab.SeekPosition {
	return &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: n}}}
}

var (
	oldest = &ab.SeekPosition{Type: &ab.SeekPosition_Oldest{Oldest: &ab.SeekOldest{}}}
	newest = &ab.SeekPosition{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}}
)

func seekEnv(t *testing.T, signer protos.Signer, channelID string, start, stop *ab.SeekPosition, behavior ab.SeekInfo_SeekBehavior) *cb.Envelope {
	t.Helper()
	env, err := protos.NewSignedEnvelope(cb.HeaderType_DELIVER_SEEK_INFO, channelID, signer, &ab.SeekInfo{Start: start, Stop: stop, Behavior: behavior})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

type deliverStreamClient = grpc.BidiStreamingClient[cb.Envelope, pb.DeliverResponse]

// collect reads responses until a status and returns the block numbers seen.
func collect(t *testing.T, s deliverStreamClient) ([]uint64, cb.Status) {
	t.Helper()
	var nums []uint64
	for {
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		switch v := r.Type.(type) {
		case *pb.DeliverResponse_Status:
			return nums, v.Status
		case *pb.DeliverResponse_Block:
			nums = append(nums, v.Block.Header.Number)
		case *pb.DeliverResponse_FilteredBlock:
			nums = append(nums, v.FilteredBlock.Number)
		case *pb.DeliverResponse_BlockAndPrivateData:
			nums = append(nums, v.BlockAndPrivateData.Block.Header.Number)
		}
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDeliverSeekPositions(t *testing.T) {
	f := newDeliverFixture(t)
	stream, err := f.client.Deliver(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		start, stop *ab.SeekPosition
		want        []uint64
	}{
		{"oldest to newest", oldest, newest, []uint64{0, 1, 2}},
		{"newest to newest", newest, newest, []uint64{2}},
		{"specified 1 to 1", specified(1), specified(1), []uint64{1}},
		{"oldest to specified 1", oldest, specified(1), []uint64{0, 1}},
	}
	// All requests go over one stream: the server handles them in turn.
	for _, c := range cases {
		if err := stream.Send(seekEnv(t, f.user1, testChannel, c.start, c.stop, ab.SeekInfo_BLOCK_UNTIL_READY)); err != nil {
			t.Fatal(err)
		}
		got, st := collect(t, stream)
		if st != cb.Status_SUCCESS || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got blocks %v status %s, want %v SUCCESS", c.name, got, st, c.want)
		}
	}
	// The full block is delivered intact.
	if err := stream.Send(seekEnv(t, f.user1, testChannel, specified(1), specified(1), ab.SeekInfo_FAIL_IF_NOT_READY)); err != nil {
		t.Fatal(err)
	}
	r, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got := r.GetBlock(); got == nil || len(got.Data.Data) != 3 || string(protos.BlockHeaderHash(got.Header)) != string(protos.BlockHeaderHash(f.blocks[1].Header)) {
		t.Fatalf("block 1 not delivered intact: %v", got.GetHeader())
	}
	if _, st := collect(t, stream); st != cb.Status_SUCCESS {
		t.Fatalf("status %s", st)
	}
}

func TestDeliverBlockUntilReadyWaitsForAppend(t *testing.T) {
	f := newDeliverFixture(t)
	stream, err := f.client.Deliver(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(seekEnv(t, f.user1, testChannel, specified(2), specified(3), ab.SeekInfo_BLOCK_UNTIL_READY)); err != nil {
		t.Fatal(err)
	}
	r, err := stream.Recv()
	if err != nil || r.GetBlock().GetHeader().GetNumber() != 2 {
		t.Fatalf("first response %v, %v; want block 2", r, err)
	}
	// The server must now be waiting for height 4; append block 3 only then.
	select {
	case h := <-f.store.waiters:
		if h != 4 {
			t.Fatalf("server waits for height %d, want 4", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server never waited for block 3")
	}
	e, _ := endorserTx(t, f.user1, testChannel, "basic", "Later", nil)
	if err := f.store.Append(nextBlock(f.blocks[2], e)); err != nil {
		t.Fatal(err)
	}
	got, st := collect(t, stream)
	if st != cb.Status_SUCCESS || fmt.Sprint(got) != "[3]" {
		t.Fatalf("got %v %s, want [3] SUCCESS", got, st)
	}
}

func TestDeliverFailIfNotReady(t *testing.T) {
	f := newDeliverFixture(t)
	stream, err := f.client.Deliver(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(seekEnv(t, f.user1, testChannel, specified(1), specified(5), ab.SeekInfo_FAIL_IF_NOT_READY)); err != nil {
		t.Fatal(err)
	}
	got, st := collect(t, stream)
	if st != cb.Status_NOT_FOUND || fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("got %v %s, want [1 2] NOT_FOUND", got, st)
	}
	if err := stream.Send(seekEnv(t, f.user1, testChannel, specified(7), specified(7), ab.SeekInfo_FAIL_IF_NOT_READY)); err != nil {
		t.Fatal(err)
	}
	if got, st := collect(t, stream); st != cb.Status_NOT_FOUND || len(got) != 0 {
		t.Fatalf("got %v %s, want no blocks NOT_FOUND", got, st)
	}
}

func TestDeliverRejections(t *testing.T) {
	f := newDeliverFixture(t)
	tampered := seekEnv(t, f.user1, testChannel, oldest, newest, ab.SeekInfo_BLOCK_UNTIL_READY)
	tampered.Signature[len(tampered.Signature)-1] ^= 1
	wrongType, err := protos.NewSignedEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, testChannel, f.user1, &ab.SeekInfo{Start: oldest, Stop: newest})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  *cb.Envelope
		want cb.Status
	}{
		{"identity outside Readers", seekEnv(t, f.outsider, testChannel, oldest, newest, ab.SeekInfo_BLOCK_UNTIL_READY), cb.Status_FORBIDDEN},
		{"bad signature", tampered, cb.Status_FORBIDDEN},
		{"unknown channel", seekEnv(t, f.user1, "nochannel", oldest, newest, ab.SeekInfo_BLOCK_UNTIL_READY), cb.Status_NOT_FOUND},
		{"stop before start", seekEnv(t, f.user1, testChannel, specified(2), specified(1), ab.SeekInfo_BLOCK_UNTIL_READY), cb.Status_BAD_REQUEST},
		{"missing stop", seekEnv(t, f.user1, testChannel, oldest, nil, ab.SeekInfo_BLOCK_UNTIL_READY), cb.Status_BAD_REQUEST},
		{"not a seek envelope", wrongType, cb.Status_BAD_REQUEST},
		{"garbage payload", &cb.Envelope{Payload: []byte{0xff, 0xff}}, cb.Status_BAD_REQUEST},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stream, err := f.client.Deliver(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(c.env); err != nil {
				t.Fatal(err)
			}
			got, st := collect(t, stream)
			if st != c.want || len(got) != 0 {
				t.Fatalf("got blocks %v status %s, want none and %s", got, st, c.want)
			}
		})
	}
}

func TestDeliverFilteredMarksInvalidTxAndStripsEventPayloads(t *testing.T) {
	f := newDeliverFixture(t)
	stream, err := f.client.DeliverFiltered(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(seekEnv(t, f.user1, testChannel, oldest, specified(1), ab.SeekInfo_BLOCK_UNTIL_READY)); err != nil {
		t.Fatal(err)
	}
	var fbs []*pb.FilteredBlock
	for len(fbs) < 2 {
		r, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetFilteredBlock() == nil {
			t.Fatalf("unexpected response %v", r)
		}
		fbs = append(fbs, r.GetFilteredBlock())
	}
	if r, err := stream.Recv(); err != nil || r.GetStatus() != cb.Status_SUCCESS {
		t.Fatalf("want SUCCESS, got %v %v", r, err)
	}

	cfg := fbs[0]
	if cfg.ChannelId != testChannel || cfg.Number != 0 || len(cfg.FilteredTransactions) != 1 ||
		cfg.FilteredTransactions[0].Type != cb.HeaderType_CONFIG || cfg.FilteredTransactions[0].Data != nil {
		t.Fatalf("config block filtered wrongly: %v", cfg)
	}

	fb := fbs[1]
	if fb.ChannelId != testChannel || fb.Number != 1 || len(fb.FilteredTransactions) != 3 {
		t.Fatalf("block 1 filtered wrongly: %v", fb)
	}
	want := []struct {
		code  pb.TxValidationCode
		event string
	}{{pb.TxValidationCode_VALID, "Created"}, {pb.TxValidationCode_MVCC_READ_CONFLICT, "Transferred"}, {pb.TxValidationCode_VALID, ""}}
	for i, ftx := range fb.FilteredTransactions {
		if ftx.Txid != f.txIDs[i] || ftx.Type != cb.HeaderType_ENDORSER_TRANSACTION || ftx.TxValidationCode != want[i].code {
			t.Errorf("tx %d: got %s %s %s, want %s ENDORSER_TRANSACTION %s", i, ftx.Txid, ftx.Type, ftx.TxValidationCode, f.txIDs[i], want[i].code)
		}
		acts := ftx.GetTransactionActions()
		if acts == nil {
			t.Fatalf("tx %d has no transaction actions", i)
		}
		if want[i].event == "" {
			if len(acts.ChaincodeActions) != 0 {
				t.Errorf("tx %d: want no chaincode actions, got %v", i, acts.ChaincodeActions)
			}
			continue
		}
		if len(acts.ChaincodeActions) != 1 {
			t.Fatalf("tx %d: want 1 chaincode action, got %d", i, len(acts.ChaincodeActions))
		}
		ev := acts.ChaincodeActions[0].ChaincodeEvent
		if ev.EventName != want[i].event || ev.ChaincodeId != "basic" || ev.TxId != f.txIDs[i] || ev.Payload != nil {
			t.Errorf("tx %d: event %v, want %s of basic without payload", i, ev, want[i].event)
		}
	}
}

func TestDeliverWithPrivateDataSendsBlocks(t *testing.T) {
	f := newDeliverFixture(t)
	stream, err := f.client.DeliverWithPrivateData(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(seekEnv(t, f.user1, testChannel, newest, newest, ab.SeekInfo_BLOCK_UNTIL_READY)); err != nil {
		t.Fatal(err)
	}
	got, st := collect(t, stream)
	if st != cb.Status_SUCCESS || fmt.Sprint(got) != "[2]" {
		t.Fatalf("got %v %s, want [2] SUCCESS", got, st)
	}
}

// denyAll is a Readers policy nobody satisfies.
type denyAll struct{}

func (denyAll) Evaluate([]protos.SignedData) error { return errors.New("nobody may read") }

// A config change that removes the requester from Readers ends a waiting
// stream with FORBIDDEN before the next block is sent.
func TestDeliverRechecksReadersAfterConfigChange(t *testing.T) {
	f := newDeliverFixture(t)
	stream, err := f.client.Deliver(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(seekEnv(t, f.user1, testChannel, specified(2), specified(10), ab.SeekInfo_BLOCK_UNTIL_READY)); err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || r.GetBlock().GetHeader().GetNumber() != 2 {
		t.Fatalf("first response %v, %v; want block 2", r, err)
	}
	<-f.store.waiters
	old := f.current.Load()
	f.current.Store(&Channel{Blocks: old.Blocks, Readers: denyAll{}, Sequence: old.Sequence + 1})
	e, _ := endorserTx(t, f.user1, testChannel, "basic", "", nil)
	if err := f.store.Append(nextBlock(f.blocks[2], e)); err != nil {
		t.Fatal(err)
	}
	if got, st := collect(t, stream); st != cb.Status_FORBIDDEN || len(got) != 0 {
		t.Fatalf("got %v %s, want no more blocks and FORBIDDEN", got, st)
	}
}
