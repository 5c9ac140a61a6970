package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/internal/requestauth"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/acl"
	"github.com/weft-ledger/weft/protos"
)

// ErrChannelNotFound is returned by a Channels lookup for a channel the peer has
// not joined; the server answers NOT_FOUND.
var ErrChannelNotFound = errors.New("deliver: channel not found")

// BlockStore is the part of a channel's block store the server reads
// (*ledger.BlockStore satisfies it).
type BlockStore interface {
	Height() uint64
	Block(n uint64) (*cb.Block, error)
	// WaitHeight returns once Height() >= h, or with ctx's error.
	WaitHeight(ctx context.Context, h uint64) error
}

// Policy evaluates signed data; it must verify the signatures it is given
// (channelconfig.Policy satisfies it).
type Policy interface {
	Evaluate(signed []protos.SignedData) error
}

// Channel is what the server needs of one joined channel.
type Channel struct {
	Blocks BlockStore
	// ACL returns the policy guarding an event resource of the channel's
	// current config (acl.EventBlock for Deliver and DeliverWithPrivateData,
	// acl.EventFilteredBlock for DeliverFiltered) and its path.
	ACL func(resource string) (path string, p Policy, err error)
	// Readers guards every stream when ACL is nil.
	Readers Policy
	// Sequence is the config sequence the policies come from. A stream
	// re-checks its requester whenever it changes.
	Sequence uint64
	// PrivateData, when set, is the channel's private data that
	// DeliverWithPrivateData sends with each block; nil sends none.
	PrivateData PrivateData
}

// PrivateData is what DeliverWithPrivateData reads of a channel's private
// data.
type PrivateData interface {
	// BlockPrivateData returns the private write sets this peer holds for
	// committed block n, by the transaction's index in the block: only the
	// collections whose values the peer stores (not those it keeps only the
	// hashes of, nor values missing, purged or expired). A block without
	// private data gives an empty map and no error.
	BlockPrivateData(n uint64) (map[uint64]*rwset.TxPvtReadWriteSet, error)
	// MayRead reports whether a requester of organisation mspID (the MSP ID
	// of the deliver envelope's signer, already authenticated by the
	// event/Block ACL) may receive the values of collection coll of
	// chaincode ns committed in block n. Fabric's rule: true when the
	// collection is not memberOnlyRead, otherwise whether mspID is one of
	// its member organisations; implicit collections are memberOnlyRead
	// with their organisation as the only member. An error (such as a
	// collection the chaincode does not define) ends the request with
	// INTERNAL_SERVER_ERROR.
	MayRead(n uint64, ns, coll, mspID string) (bool, error)
}

// policy returns the policy guarding resource and its path.
func (c *Channel) policy(resource string) (string, Policy, error) {
	if c.ACL != nil {
		return c.ACL(resource)
	}
	if c.Readers == nil {
		return "", nil, fmt.Errorf("the channel has no policy for %s", resource)
	}
	return acl.ChannelReaders, c.Readers, nil
}

// Channels finds a joined channel; it returns an error wrapping
// ErrChannelNotFound when the peer has not joined channelID.
type Channels interface {
	Channel(channelID string) (*Channel, error)
}

// ChannelsFunc adapts a function to Channels.
type ChannelsFunc func(channelID string) (*Channel, error)

// Channel calls f.
func (f ChannelsFunc) Channel(channelID string) (*Channel, error) { return f(channelID) }

// Server implements pb.DeliverServer over the peer's channel ledgers.
type Server struct {
	pb.UnimplementedDeliverServer
	channels Channels
	log      *slog.Logger
	// Metrics, when set before serving, counts streams, requests and
	// blocks (Fabric's deliver_* families).
	Metrics *operations.DeliverMetrics
	// TimeWindow, when set before serving, is how far a request's channel
	// header timestamp may be from the server's clock
	// (peer.authentication.timewindow); zero means Fabric's 15 minutes.
	TimeWindow time.Duration
	// MutualTLS, set before serving when the listener requires client
	// certificates (peer.tls.clientAuthRequired), makes every request carry
	// the SHA-256 of the client's TLS certificate (tls_cert_hash).
	MutualTLS bool
	now       func() time.Time // the clock requesters' certificates and timestamps are checked against
}

// NewServer returns a deliver service reading from channels. A nil logger
// discards logs.
func NewServer(channels Channels, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{channels: channels, log: log, now: time.Now}
}

type deliverStream = grpc.BidiStreamingServer[cb.Envelope, pb.DeliverResponse]

// Deliver streams full blocks.
func (s *Server) Deliver(stream deliverStream) error {
	return s.serve(stream, "block", func(_ blockRequest, b *cb.Block) (*pb.DeliverResponse, error) {
		return &pb.DeliverResponse{Type: &pb.DeliverResponse_Block{Block: b}}, nil
	})
}

// DeliverFiltered streams filtered blocks: per transaction its ID, type,
// validation code and chaincode event without payload.
func (s *Server) DeliverFiltered(stream deliverStream) error {
	return s.serve(stream, "filtered_block", func(r blockRequest, b *cb.Block) (*pb.DeliverResponse, error) {
		return &pb.DeliverResponse{Type: &pb.DeliverResponse_FilteredBlock{FilteredBlock: FilterBlock(r.channelID, b)}}, nil
	})
}

// DeliverWithPrivateData streams blocks with the private data this peer holds
// for their valid transactions, limited to the collections the requester's
// organisation may read (Channel.PrivateData).
func (s *Server) DeliverWithPrivateData(stream deliverStream) error {
	return s.serve(stream, "block_and_private_data", func(r blockRequest, b *cb.Block) (*pb.DeliverResponse, error) {
		pvt, err := blockPrivateData(r.channel.PrivateData, b, r.requesterMSP)
		if err != nil {
			return nil, err
		}
		return &pb.DeliverResponse{Type: &pb.DeliverResponse_BlockAndPrivateData{
			BlockAndPrivateData: &pb.BlockAndPrivateData{Block: b, PrivateDataMap: pvt},
		}}, nil
	})
}

// blockRequest is what a toResponse knows of the request a block answers.
type blockRequest struct {
	channel      *Channel // the channel's view the block was read from
	channelID    string
	requesterMSP string // the MSP ID of the envelope's signer
}

// toResponse turns a block into the response sent for it; an error ends the
// request with INTERNAL_SERVER_ERROR.
type toResponse func(r blockRequest, b *cb.Block) (*pb.DeliverResponse, error)

// serve handles the seek requests of one stream in turn until the client closes
// its side or the stream breaks.
func (s *Server) serve(stream deliverStream, kind string, convert toResponse) error {
	defer s.Metrics.StreamOpened()()
	ctx := stream.Context()
	for {
		env, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		st, err := s.deliverBlocks(ctx, stream, env, kind, convert)
		if err != nil {
			return err
		}
		if err := stream.Send(&pb.DeliverResponse{Type: &pb.DeliverResponse_Status{Status: st}}); err != nil {
			return err
		}
	}
}

// deliverBlocks answers one seek request. A returned error means the stream is
// unusable; otherwise the status ends the request.
func (s *Server) deliverBlocks(ctx context.Context, stream deliverStream, env *cb.Envelope, kind string, convert toResponse) (status cb.Status, err error) {
	penv, err := protos.ParseEnvelope(env)
	if err != nil {
		s.log.Warn("deliver request rejected", "reason", err.Error())
		return cb.Status_BAD_REQUEST, nil
	}
	chdr := penv.ChannelHeader
	log := s.log.With("channel", chdr.ChannelId, "kind", kind, "request_txid", chdr.TxId)
	if cb.HeaderType(chdr.Type) != cb.HeaderType_DELIVER_SEEK_INFO {
		log.Warn("deliver request rejected", "reason", fmt.Sprintf("envelope type is %s, want DELIVER_SEEK_INFO", cb.HeaderType(chdr.Type)))
		return cb.Status_BAD_REQUEST, nil
	}
	// As in Fabric, the header's timestamp and TLS binding are checked
	// first: a request replayed later or on another TLS session is refused.
	window := s.TimeWindow
	if window <= 0 {
		window = requestauth.DefaultTimeWindow
	}
	if err := requestauth.CheckTimestamp(chdr.Timestamp, s.now(), window); err != nil {
		log.Warn("deliver request rejected", "requester", acl.Describe(penv.SignatureHeader.Creator),
			"reason", err.Error()+" (peer.authentication.timewindow)")
		return cb.Status_BAD_REQUEST, nil
	}
	if err := requestauth.CheckBinding(ctx, chdr.TlsCertHash, s.MutualTLS); err != nil {
		log.Warn("deliver request rejected", "requester", acl.Describe(penv.SignatureHeader.Creator), "reason", err.Error())
		return cb.Status_BAD_REQUEST, nil
	}
	ch, err := s.channels.Channel(chdr.ChannelId)
	if err != nil {
		log.Warn("deliver request for unknown channel", "reason", err.Error())
		if errors.Is(err, ErrChannelNotFound) {
			return cb.Status_NOT_FOUND, nil
		}
		return cb.Status_SERVICE_UNAVAILABLE, nil
	}
	// Counted from here on, as Fabric counts requests for channels it serves.
	req := s.Metrics.Request(chdr.ChannelId, kind == "filtered_block", metricsDataType(kind))
	defer func() { req.Completed(err == nil && status == cb.Status_SUCCESS) }()
	// As in Fabric, a requester whose certificate has expired is refused, and
	// a stream ends when it expires (checked before each block).
	requester, _ := msp.ParseSerializedIdentity(penv.SignatureHeader.Creator) // nil: Readers refuses it
	expired := func() error {
		if requester == nil {
			return nil
		}
		return requester.CheckExpiry(s.now())
	}
	requesterMSP := ""
	if requester != nil {
		requesterMSP = requester.MSPID
	}
	if err := expired(); err != nil {
		log.Warn("deliver request forbidden", "reason", "deliver client identity expired: "+err.Error())
		return cb.Status_FORBIDDEN, nil
	}
	resource := acl.EventBlock
	if kind == "filtered_block" {
		resource = acl.EventFilteredBlock
	}
	if err := s.authorize(ch, chdr.ChannelId, resource, penv); err != nil {
		log.Warn("deliver request forbidden", "resource", resource, "reason", err.Error())
		return cb.Status_FORBIDDEN, nil
	}
	seek := &ab.SeekInfo{}
	if err := proto.Unmarshal(penv.Payload.Data, seek); err != nil {
		log.Warn("deliver request rejected", "reason", "decode orderer.SeekInfo: "+err.Error())
		return cb.Status_BAD_REQUEST, nil
	}
	height := ch.Blocks.Height()
	start, err := seekNumber(seek.Start, height, "start")
	if err != nil {
		log.Warn("deliver request rejected", "reason", err.Error())
		return cb.Status_BAD_REQUEST, nil
	}
	stop, err := seekNumber(seek.Stop, height, "stop")
	if err != nil {
		log.Warn("deliver request rejected", "reason", err.Error())
		return cb.Status_BAD_REQUEST, nil
	}
	if stop < start {
		log.Warn("deliver request rejected", "reason", fmt.Sprintf("stop block %d is before start block %d", stop, start))
		return cb.Status_BAD_REQUEST, nil
	}
	log.Debug("deliver request accepted", "start", start, "stop", stop, "behavior", seek.Behavior.String())
	for n := start; ; n++ {
		if n >= ch.Blocks.Height() {
			if seek.Behavior == ab.SeekInfo_FAIL_IF_NOT_READY {
				log.Debug("deliver block not ready", "block", n)
				return cb.Status_NOT_FOUND, nil
			}
			if err := ch.Blocks.WaitHeight(ctx, n+1); err != nil {
				return 0, fmt.Errorf("wait for block %d of channel %s: %w", n, chdr.ChannelId, err)
			}
		}
		if n > start {
			if ch, err = s.recheck(ch, chdr.ChannelId, resource, penv); err != nil {
				log.Warn("deliver stream stopped after a config change", "block", n, "resource", resource, "reason", err.Error())
				return cb.Status_FORBIDDEN, nil
			}
		}
		b, err := ch.Blocks.Block(n)
		if err != nil {
			log.Error("deliver read block", "block", n, "err", err.Error())
			return cb.Status_INTERNAL_SERVER_ERROR, nil
		}
		if err := s.judgeConfigBlock(b, ch.Sequence, chdr.ChannelId, resource, penv); err != nil {
			log.Warn("deliver stream stopped at a config block", "block", n, "resource", resource, "reason", err.Error())
			return cb.Status_FORBIDDEN, nil
		}
		if seek.ContentType == ab.SeekInfo_HEADER_WITH_SIG {
			b = &cb.Block{Header: b.Header, Metadata: b.Metadata}
		}
		if err := expired(); err != nil {
			log.Warn("deliver stream stopped", "block", n, "reason", "deliver client identity expired: "+err.Error())
			return cb.Status_FORBIDDEN, nil
		}
		resp, err := convert(blockRequest{channel: ch, channelID: chdr.ChannelId, requesterMSP: requesterMSP}, b)
		if err != nil {
			log.Error("deliver prepare block", "block", n, "err", err.Error())
			return cb.Status_INTERNAL_SERVER_ERROR, nil
		}
		if err := stream.Send(resp); err != nil {
			return 0, err
		}
		req.BlockSent()
		if n == stop || n == math.MaxUint64 {
			return cb.Status_SUCCESS, nil
		}
	}
}

// metricsDataType is Fabric's data_type label of a kind of stream.
func metricsDataType(kind string) string {
	if kind == "block_and_private_data" {
		return "block_and_pvtdata"
	}
	return kind
}

// authorize evaluates the request against the policy guarding resource on
// ch; the error names the requester, the resource and the policy.
func (s *Server) authorize(ch *Channel, channelID, resource string, penv *protos.Envelope) error {
	path, pol, err := ch.policy(resource)
	if err == nil {
		err = pol.Evaluate([]protos.SignedData{penv.SignedData()})
	}
	if err != nil {
		return acl.Denied(channelID, resource, path, penv.SignatureHeader.Creator, err)
	}
	return nil
}

// recheck returns the channel's current view, re-evaluating the request
// against the policy guarding resource when the channel config changed
// since ch, as Fabric does at each config sequence change.
func (s *Server) recheck(ch *Channel, channelID, resource string, penv *protos.Envelope) (*Channel, error) {
	cur, err := s.channels.Channel(channelID)
	if err != nil {
		return nil, err
	}
	if cur.Sequence == ch.Sequence {
		return cur, nil
	}
	if err := s.authorize(cur, channelID, resource, penv); err != nil {
		return nil, fmt.Errorf("config sequence %d: %w", cur.Sequence, err)
	}
	return cur, nil
}

// judgeConfigBlock evaluates the request against the config a config block
// carries when it is newer than the config in force (sequence): the block
// that changes an ACL, or removes the requester's organisation, is not sent
// to a requester the new config refuses, even before the channel has
// adopted it.
func (s *Server) judgeConfigBlock(b *cb.Block, sequence uint64, channelID, resource string, penv *protos.Envelope) error {
	if !isConfigBlock(b) {
		return nil
	}
	cfg, _, err := channelconfig.ConfigFromBlock(b)
	if err != nil {
		return fmt.Errorf("read the config of block %d: %w", b.GetHeader().GetNumber(), err)
	}
	if cfg.GetSequence() <= sequence {
		return nil // an older config, replayed
	}
	bundle, err := channelconfig.BundleFromBlock(b)
	if err != nil {
		return fmt.Errorf("read the config of block %d: %w", b.GetHeader().GetNumber(), err)
	}
	if err := s.authorize(&Channel{ACL: BundleACL(bundle)}, channelID, resource, penv); err != nil {
		return fmt.Errorf("config sequence %d of block %d: %w", bundle.Sequence(), b.GetHeader().GetNumber(), err)
	}
	return nil
}

// isConfigBlock tells whether b holds a channel configuration: one CONFIG
// envelope.
func isConfigBlock(b *cb.Block) bool {
	if len(b.GetData().GetData()) != 1 {
		return false
	}
	chdr, err := protos.EnvelopeChannelHeader(b.Data.Data[0])
	return err == nil && cb.HeaderType(chdr.Type) == cb.HeaderType_CONFIG
}

// seekNumber resolves a seek position against the current height.
func seekNumber(pos *ab.SeekPosition, height uint64, which string) (uint64, error) {
	newest := uint64(0)
	if height > 0 {
		newest = height - 1
	}
	switch t := pos.GetType().(type) {
	case *ab.SeekPosition_Oldest:
		return 0, nil
	case *ab.SeekPosition_Newest:
		return newest, nil
	case *ab.SeekPosition_Specified:
		return t.Specified.GetNumber(), nil
	case *ab.SeekPosition_NextCommit:
		return height, nil
	case nil:
		return 0, fmt.Errorf("seek info has no %s position", which)
	default:
		return 0, fmt.Errorf("seek info %s position has unknown type %T", which, t)
	}
}
