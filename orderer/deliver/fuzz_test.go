package deliver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weft-ledger/weft/protos"
)

// fuzzDeliverStream holds one request; its context is already cancelled, so
// a request that would wait for a future block ends the stream instead.
type fuzzDeliverStream struct {
	ctx  context.Context
	req  *cb.Envelope
	sent []*ab.DeliverResponse
}

func (s *fuzzDeliverStream) Context() context.Context { return s.ctx }
func (s *fuzzDeliverStream) Recv() (*cb.Envelope, error) {
	if s.req == nil {
		return nil, io.EOF
	}
	r := s.req
	s.req = nil
	return r, nil
}
func (s *fuzzDeliverStream) Send(r *ab.DeliverResponse) error {
	s.sent = append(s.sent, r)
	return nil
}

// fuzzSeekEnvelope wraps seek bytes in a DELIVER_SEEK_INFO envelope of
// Org1MSP for mychannel stamped at the given time.
func fuzzSeekEnvelope(tb testing.TB, seek []byte, at time.Time) *cb.Envelope {
	tb.Helper()
	creator, _ := idSigner("Org1MSP").Serialize()
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

// FuzzDeliverSeekInfo serves one Deliver request, as a client's stream
// brings it, from the orderer's deliver handler over a channel of five
// blocks: either fuzzed SeekInfo bytes in a well-formed request of a
// reader, or a whole fuzzed envelope. Mode bit 0 picks the whole envelope,
// bit 1 marks the channel's chain as stopped. The Readers policy is a fake
// that admits Org1MSP (signatures are not what is fuzzed). The answer must
// be what the SeekInfo asks for: blocks start..stop (only those written;
// headers only when asked), then one status, and BAD_REQUEST for a SeekInfo
// that does not decode or names no start or stop.
func FuzzDeliverSeekInfo(f *testing.F) {
	at := time.Unix(1_700_000_000, 0)
	seek := func(s *ab.SeekInfo) []byte { return protos.Marshal(s) }
	seeds := [][]byte{
		seek(&ab.SeekInfo{Start: oldest, Stop: newest}),
		seek(&ab.SeekInfo{Start: specified(1), Stop: specified(3), ContentType: ab.SeekInfo_HEADER_WITH_SIG}),
		seek(&ab.SeekInfo{Start: specified(3), Stop: specified(math.MaxUint64), Behavior: ab.SeekInfo_FAIL_IF_NOT_READY}),
		seek(&ab.SeekInfo{Start: newest, Stop: specified(9), ErrorResponse: ab.SeekInfo_STRICT}),
		seek(&ab.SeekInfo{Start: &ab.SeekPosition{Type: &ab.SeekPosition_NextCommit{NextCommit: &ab.SeekNextCommit{}}}, Stop: specified(math.MaxUint64)}),
		seek(&ab.SeekInfo{Start: specified(4), Stop: specified(2)}),
		seek(&ab.SeekInfo{Start: oldest}),
		{0x0a, 0x00, 0x12, 0x00},
		{0xff, 0xff},
		{},
	}
	for i, s := range seeds {
		f.Add(s, uint8(i%4)&2)
		f.Add(protos.Marshal(fuzzSeekEnvelope(f, s, at)), uint8(1))
	}

	running, stopped := newMemChannel(5), newMemChannel(5)
	close(stopped.errored)
	handlers := map[*memChannel]*Handler{}
	for _, ch := range []*memChannel{running, stopped} {
		h := NewHandler(channelMap{"mychannel": ch}, slog.New(slog.DiscardHandler))
		h.now = func() time.Time { return at }
		handlers[ch] = h
	}

	f.Fuzz(func(t *testing.T, raw []byte, mode uint8) {
		ch := running
		if mode&2 != 0 {
			ch = stopped
		}
		h := handlers[ch]
		env := fuzzSeekEnvelope(t, raw, at)
		if mode&1 != 0 {
			env = &cb.Envelope{}
			if proto.Unmarshal(raw, env) != nil {
				return // gRPC would have failed the stream
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		stream := &fuzzDeliverStream{ctx: ctx, req: env}
		err := h.Handle(stream)
		if err != nil && !errors.Is(err, errStreamDone) {
			t.Fatalf("Handle: %v", err)
		}

		// Split the answer into blocks and the final status.
		var blocks []*cb.Block
		var st cb.Status
		for i, r := range stream.sent {
			switch x := r.Type.(type) {
			case *ab.DeliverResponse_Block:
				if st != 0 {
					t.Fatalf("block after the status %s", st)
				}
				blocks = append(blocks, x.Block)
			case *ab.DeliverResponse_Status:
				if i != len(stream.sent)-1 {
					t.Fatalf("status %s is answer %d of %d", x.Status, i, len(stream.sent))
				}
				st = x.Status
			default:
				t.Fatalf("answer %d is a %T", i, r.Type)
			}
		}
		if err != nil && st != 0 {
			t.Fatalf("the stream ended (%v) after a status %s", err, st)
		}
		if err == nil && st == 0 {
			t.Fatal("the request got no status")
		}
		if st != cb.Status_SUCCESS && st != 0 && st != cb.Status_NOT_FOUND && len(blocks) > 0 {
			t.Fatalf("%d blocks then %s", len(blocks), st)
		}

		// The request as the client sent it.
		parsed, perr := protos.ParseEnvelope(env)
		var info *ab.SeekInfo
		if perr == nil {
			info = &ab.SeekInfo{}
			if proto.Unmarshal(parsed.Payload.Data, info) != nil {
				info = nil
			}
		}
		start, okStart := seekPos(info.GetStart(), 5)
		stop, okStop := seekPos(info.GetStop(), 5)
		if mode&1 == 0 && (info == nil || !okStart || !okStop || stop < start) {
			if st != cb.Status_BAD_REQUEST || len(blocks) > 0 {
				t.Fatalf("SeekInfo %x (%v): answered %d blocks and %s, want BAD_REQUEST", raw, info, len(blocks), st)
			}
			return
		}
		if mode&1 != 0 {
			// A whole fuzzed envelope may be refused before its SeekInfo
			// is read (malformed, another channel, another MSP, a stale
			// timestamp); then nothing is sent.
			refused := st == cb.Status_BAD_REQUEST || st == cb.Status_FORBIDDEN || st == cb.Status_NOT_FOUND
			if refused && len(blocks) == 0 && (info == nil || !okStart || !okStop || stop < start || parsed.ChannelHeader.ChannelId != "mychannel" ||
				!inTimeWindow(parsed.ChannelHeader.Timestamp, at) || st == cb.Status_FORBIDDEN) {
				return
			}
			if info == nil {
				t.Fatalf("a request without a SeekInfo answered %d blocks and %s", len(blocks), st)
			}
		}
		// Blocks start, start+1, ... each as written (or its header and metadata).
		for i, b := range blocks {
			want, _ := ch.Block(start + uint64(i))
			if info.ContentType == ab.SeekInfo_HEADER_WITH_SIG {
				want = &cb.Block{Header: want.Header, Metadata: want.Metadata}
			}
			if !proto.Equal(b, want) {
				t.Fatalf("answer %d is block %d, want block %d", i, b.GetHeader().GetNumber(), start+uint64(i))
			}
		}
		written := uint64(0)
		if start < 5 {
			written = min(stop, 4) - start + 1
		}
		strictStopped := mode&2 != 0 && info.ErrorResponse == ab.SeekInfo_STRICT
		switch {
		case strictStopped:
			if st != cb.Status_SERVICE_UNAVAILABLE || len(blocks) > 0 {
				t.Fatalf("STRICT request on a stopped chain: %d blocks and %s", len(blocks), st)
			}
		case stop < 5:
			if st != cb.Status_SUCCESS || uint64(len(blocks)) != written {
				t.Fatalf("blocks %d-%d: %d blocks and %s", start, stop, len(blocks), st)
			}
		case info.Behavior == ab.SeekInfo_FAIL_IF_NOT_READY:
			if st != cb.Status_NOT_FOUND || uint64(len(blocks)) != written {
				t.Fatalf("blocks %d-%d, FAIL_IF_NOT_READY: %d blocks and %s", start, stop, len(blocks), st)
			}
		default:
			// It waits for block 5: the client is gone by then.
			if uint64(len(blocks)) != written || (err == nil && st != cb.Status_SERVICE_UNAVAILABLE) {
				t.Fatalf("blocks %d-%d: %d blocks and %s, %v; want %d blocks, then the wait for block 5", start, stop, len(blocks), st, err, written)
			}
		}
	})
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
