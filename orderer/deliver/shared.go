package deliver

import (
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

// Every peer keeps a Deliver stream at the top of the chain, so each new
// block is sent to all of them. Encoding the same DeliverResponse once per
// stream cost the orderer a full marshal of every block per peer; instead the
// first stream to send a recent block encodes it into a grpc.PreparedMsg and
// the others send those bytes as they are.
//
// A prepared message carries the encoding of the stream that prepared it:
// its codec and its compressor. It is shared only between streams that use
// the protobuf codec without compression, which is what Fabric's and Weft's
// peers ask for; any other stream encodes its own messages.

// sharedDepth is how many recent blocks keep their encoding: the blocks a
// stream near the top of the chain may still ask for.
const sharedDepth = 16

// sharedBlocks holds the prepared DeliverResponse of recent blocks, by
// channel and block number, each for one *cb.Block: the channel hands every
// stream the same pointer for a recent block, and a block read again from the
// block file (another pointer) is encoded again rather than matched by
// number. It keeps at most sharedDepth blocks of each channel served.
type sharedBlocks struct {
	mu      sync.Mutex
	entries map[sharedKey]sharedBlock
}

type sharedKey struct {
	channel string
	slot    uint64
}

type sharedBlock struct {
	blk *cb.Block
	msg *grpc.PreparedMsg
}

// msgStream is what a stream needs to send a prepared message: a gRPC server
// stream.
type msgStream interface {
	grpc.ServerStream
}

// transportInfo is what the gRPC transport stream in a server stream's
// context tells of how the client asked its messages to be encoded.
type transportInfo interface {
	RecvCompress() string
	ContentSubtype() string
}

// plainProto tells whether stream sends protobuf messages uncompressed, so
// that the bytes prepared on another such stream are exactly what it would
// send itself.
func plainProto(stream Stream) (msgStream, bool) {
	ms, ok := stream.(msgStream)
	if !ok {
		return nil, false
	}
	info, ok := grpc.ServerTransportStreamFromContext(ms.Context()).(transportInfo)
	if !ok {
		return nil, false
	}
	switch info.ContentSubtype() {
	case "", "proto":
	default:
		return nil, false
	}
	switch info.RecvCompress() {
	case "", encoding.Identity:
	default:
		return nil, false
	}
	return ms, true
}

// send sends blk on stream, encoded once for every plain stream when blk is
// among the channel's recent blocks (n+sharedDepth > height).
func (s *sharedBlocks) send(stream Stream, channel string, blk *cb.Block, height uint64) error {
	n := blk.GetHeader().GetNumber()
	ms, ok := plainProto(stream)
	if !ok || n+sharedDepth <= height {
		return stream.Send(&ab.DeliverResponse{Type: &ab.DeliverResponse_Block{Block: blk}})
	}
	key := sharedKey{channel: channel, slot: n % sharedDepth}
	msg := s.get(key, blk)
	if msg == nil {
		msg = &grpc.PreparedMsg{}
		if err := msg.Encode(ms, &ab.DeliverResponse{Type: &ab.DeliverResponse_Block{Block: blk}}); err != nil {
			// Not preparable here (no codec in the context): send as usual.
			return stream.Send(&ab.DeliverResponse{Type: &ab.DeliverResponse_Block{Block: blk}})
		}
		s.put(key, blk, msg)
	}
	return ms.SendMsg(msg)
}

func (s *sharedBlocks) get(key sharedKey, blk *cb.Block) *grpc.PreparedMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[key]; e.blk == blk {
		return e.msg
	}
	return nil
}

func (s *sharedBlocks) put(key sharedKey, blk *cb.Block, msg *grpc.PreparedMsg) {
	s.mu.Lock()
	if s.entries == nil {
		s.entries = make(map[sharedKey]sharedBlock)
	}
	s.entries[key] = sharedBlock{blk: blk, msg: msg}
	s.mu.Unlock()
}
