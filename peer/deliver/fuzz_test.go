package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/protos"
)

// fixtureStore serves Fabric's fixture blocks 0-9; a wait for a later block
// lasts until ctx ends.
type fixtureStore []*cb.Block

func (s fixtureStore) Height() uint64 { return uint64(len(s)) }
func (s fixtureStore) Block(n uint64) (*cb.Block, error) {
	if n >= uint64(len(s)) {
		return nil, fmt.Errorf("no block %d", n)
	}
	return s[n], nil
}
func (s fixtureStore) WaitHeight(ctx context.Context, h uint64) error {
	if h <= uint64(len(s)) {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// mspReaders admits any requester of one MSP (signatures are not what the
// fuzz target explores).
type mspReaders string

func (p mspReaders) Evaluate(sd []protos.SignedData) error {
	sid := &mspproto.SerializedIdentity{}
	if len(sd) != 1 || proto.Unmarshal(sd[0].Identity, sid) != nil || sid.Mspid != string(p) {
		return errors.New("not a reader")
	}
	return nil
}

// fuzzPeerStream is the server side of a Deliver stream with one request and
// an already cancelled context.
type fuzzPeerStream struct {
	grpc.ServerStream
	ctx  context.Context
	req  *cb.Envelope
	sent []*pb.DeliverResponse
}

func (s *fuzzPeerStream) Context() context.Context { return s.ctx }
func (s *fuzzPeerStream) Recv() (*cb.Envelope, error) {
	if s.req == nil {
		return nil, io.EOF
	}
	r := s.req
	s.req = nil
	return r, nil
}
func (s *fuzzPeerStream) Send(r *pb.DeliverResponse) error {
	s.sent = append(s.sent, r)
	return nil
}

func peerSeekEnvelope(seek []byte, at time.Time) *cb.Envelope {
	creator := protos.Marshal(&mspproto.SerializedIdentity{Mspid: "Org1MSP", IdBytes: []byte("not a certificate")})
	payload := &cb.Payload{
		Header: &cb.Header{
			ChannelHeader: protos.Marshal(&cb.ChannelHeader{
				Type: int32(cb.HeaderType_DELIVER_SEEK_INFO), ChannelId: "mychannel", TxId: "seek", Timestamp: timestamppb.New(at),
			}),
			SignatureHeader: protos.Marshal(&cb.SignatureHeader{Creator: creator, Nonce: []byte("nonce")}),
		},
		Data: seek,
	}
	return &cb.Envelope{Payload: protos.Marshal(payload), Signature: []byte("sig")}
}

// FuzzPeerDeliverSeekInfo serves one request on the peer's Deliver,
// DeliverFiltered or DeliverWithPrivateData (mode % 3) over Fabric's fixture
// blocks 0-9: fuzzed SeekInfo bytes in a well-formed request of a reader,
// or (mode bit 2) a whole fuzzed envelope. The answer must be blocks
// start..stop of the kind asked for, only those written, then one status;
// BAD_REQUEST and nothing else for a SeekInfo without a start or a stop
// of a known type, or with stop before start.
func FuzzPeerDeliverSeekInfo(f *testing.F) {
	at := time.Unix(1_700_000_000, 0)
	pos := func(n uint64) *ab.SeekPosition {
		return &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: n}}}
	}
	oldest := &ab.SeekPosition{Type: &ab.SeekPosition_Oldest{Oldest: &ab.SeekOldest{}}}
	newest := &ab.SeekPosition{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}}
	seeds := [][]byte{
		protos.Marshal(&ab.SeekInfo{Start: oldest, Stop: newest}),
		protos.Marshal(&ab.SeekInfo{Start: pos(2), Stop: pos(5), ContentType: ab.SeekInfo_HEADER_WITH_SIG}),
		protos.Marshal(&ab.SeekInfo{Start: pos(8), Stop: pos(math.MaxUint64), Behavior: ab.SeekInfo_FAIL_IF_NOT_READY}),
		protos.Marshal(&ab.SeekInfo{Start: newest, Stop: pos(12)}),
		protos.Marshal(&ab.SeekInfo{Start: &ab.SeekPosition{Type: &ab.SeekPosition_NextCommit{NextCommit: &ab.SeekNextCommit{}}}, Stop: pos(math.MaxUint64)}),
		protos.Marshal(&ab.SeekInfo{Start: pos(4), Stop: pos(3)}),
		protos.Marshal(&ab.SeekInfo{Stop: newest}),
		{0x0a, 0x00, 0x12, 0x00},
		{},
	}
	for i, s := range seeds {
		f.Add(s, uint8(i%3))
		f.Add(protos.Marshal(peerSeekEnvelope(s, at)), uint8(4+i%3))
	}
	var blocks fixtureStore
	for n := uint64(0); n < 10; n++ {
		blocks = append(blocks, fabricfixture.Block(f, n))
	}
	ch := &Channel{Blocks: blocks, Readers: mspReaders("Org1MSP")}
	s := NewServer(ChannelsFunc(func(id string) (*Channel, error) {
		if id != "mychannel" {
			return nil, fmt.Errorf("%w: %s", ErrChannelNotFound, id)
		}
		return ch, nil
	}), slog.New(slog.DiscardHandler))
	s.now = func() time.Time { return at }

	f.Fuzz(func(t *testing.T, raw []byte, mode uint8) {
		env := peerSeekEnvelope(raw, at)
		if mode&4 != 0 {
			env = &cb.Envelope{}
			if proto.Unmarshal(raw, env) != nil {
				return // gRPC would have failed the stream
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		stream := &fuzzPeerStream{ctx: ctx, req: env}
		var err error
		kind := mode % 3
		switch kind {
		case 0:
			err = s.Deliver(stream)
		case 1:
			err = s.DeliverFiltered(stream)
		default:
			err = s.DeliverWithPrivateData(stream)
		}

		var got []uint64
		var st cb.Status
		for i, r := range stream.sent {
			var n uint64
			var headerOnly bool
			switch x := r.Type.(type) {
			case *pb.DeliverResponse_Status:
				if i != len(stream.sent)-1 {
					t.Fatalf("status %s is answer %d of %d", x.Status, i, len(stream.sent))
				}
				st = x.Status
				continue
			case *pb.DeliverResponse_Block:
				if kind != 0 {
					t.Fatalf("a %T on stream kind %d", x, kind)
				}
				n, headerOnly = x.Block.GetHeader().GetNumber(), x.Block.Data == nil
			case *pb.DeliverResponse_FilteredBlock:
				if kind != 1 {
					t.Fatalf("a %T on stream kind %d", x, kind)
				}
				n = x.FilteredBlock.Number
				if x.FilteredBlock.ChannelId != "mychannel" {
					t.Fatalf("filtered block %d of channel %q", n, x.FilteredBlock.ChannelId)
				}
			case *pb.DeliverResponse_BlockAndPrivateData:
				if kind != 2 {
					t.Fatalf("a %T on stream kind %d", x, kind)
				}
				n, headerOnly = x.BlockAndPrivateData.GetBlock().GetHeader().GetNumber(), x.BlockAndPrivateData.GetBlock().Data == nil
			default:
				t.Fatalf("answer %d is a %T", i, r.Type)
			}
			if st != 0 {
				t.Fatal("a block after the status")
			}
			if n >= 10 {
				t.Fatalf("block %d sent; the channel has 10", n)
			}
			if headerOnly && kind != 1 {
				// HEADER_WITH_SIG: header and metadata as written.
				if !proto.Equal(r.GetBlock().GetHeader(), blocks[n].Header) && !proto.Equal(r.GetBlockAndPrivateData().GetBlock().GetHeader(), blocks[n].Header) {
					t.Fatalf("block %d sent with another header", n)
				}
			}
			got = append(got, n)
		}
		if (err == nil) == (st == 0) {
			t.Fatalf("stream ended with %v and status %s: want exactly one of them", err, st)
		}

		parsed, perr := protos.ParseEnvelope(env)
		info := &ab.SeekInfo{}
		if perr != nil || proto.Unmarshal(parsed.Payload.Data, info) != nil {
			info = nil
		}
		start, okStart := seekPos(info.GetStart(), 10)
		stop, okStop := seekPos(info.GetStop(), 10)
		valid := info != nil && okStart && okStop && stop >= start
		if !valid || mode&4 != 0 && (parsed.ChannelHeader.ChannelId != "mychannel" || parsed.ChannelHeader.Type != int32(cb.HeaderType_DELIVER_SEEK_INFO) ||
			!inTimeWindow(parsed.ChannelHeader.Timestamp, at)) {
			if len(got) > 0 {
				t.Fatalf("%d blocks for a request that is not valid (SeekInfo %v)", len(got), info)
			}
			if mode&4 == 0 && st != cb.Status_BAD_REQUEST {
				t.Fatalf("SeekInfo %v answered %s, want BAD_REQUEST", info, st)
			}
			return
		}
		if st == cb.Status_FORBIDDEN && mode&4 != 0 && len(got) == 0 {
			return // another requester
		}
		for i, n := range got {
			if n != start+uint64(i) {
				t.Fatalf("answer %d is block %d, want %d (blocks %d-%d)", i, n, start+uint64(i), start, stop)
			}
		}
		written := 0
		if start < 10 {
			written = int(min(stop, 9) - start + 1)
		}
		switch {
		case len(got) != written:
			t.Fatalf("blocks %d-%d: %d sent, %d written", start, stop, len(got), written)
		case stop < 10 && st != cb.Status_SUCCESS:
			t.Fatalf("blocks %d-%d: status %s, %v", start, stop, st, err)
		case stop >= 10 && info.Behavior == ab.SeekInfo_FAIL_IF_NOT_READY && st != cb.Status_NOT_FOUND:
			t.Fatalf("blocks %d-%d FAIL_IF_NOT_READY: status %s, %v", start, stop, st, err)
		case stop >= 10 && info.Behavior != ab.SeekInfo_FAIL_IF_NOT_READY && err == nil:
			t.Fatalf("blocks %d-%d: status %s without waiting for block 10", start, stop, st)
		}
	})
}

// seekPos resolves p as the deliver service documents it; ok is false for a
// position of no known type.
func seekPos(p *ab.SeekPosition, height uint64) (uint64, bool) {
	switch t := p.GetType().(type) {
	case *ab.SeekPosition_Oldest:
		return 0, true
	case *ab.SeekPosition_Newest:
		if height == 0 {
			return 0, true
		}
		return height - 1, true
	case *ab.SeekPosition_Specified:
		return t.Specified.GetNumber(), true
	case *ab.SeekPosition_NextCommit:
		return height, true
	}
	return 0, false
}

// inTimeWindow reports whether a request stamped ts is within the default
// time window (15 minutes, Fabric's) of the server's clock now.
func inTimeWindow(ts *timestamppb.Timestamp, now time.Time) bool {
	if ts == nil || ts.CheckValid() != nil {
		return false
	}
	d := now.Sub(ts.AsTime())
	return -15*time.Minute <= d && d <= 15*time.Minute
}
