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
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/internal/requestauth"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// ReadersPolicy is the policy path a Deliver requester must satisfy.
const ReadersPolicy = "/Channel/Readers"

// Policy evaluates signed data (channelconfig.Policy satisfies it).
type Policy interface {
	Evaluate(signed []protos.SignedData) error
}

// Channel is what Deliver needs of one served channel.
type Channel interface {
	Policy(path string) (Policy, error)
	Height() uint64
	Block(n uint64) (*cb.Block, error)
	// WaitHeight returns once Height() >= h or ctx is done.
	WaitHeight(ctx context.Context, h uint64) error
	// Errored is closed when the channel's chain stopped working.
	Errored() <-chan struct{}
}

// Sequencer is an optional capability of a Channel: the sequence of the
// config in force. A stream judges its requester again by the Readers policy
// whenever it grows, as Fabric does; a Channel without it is judged again
// only at config blocks.
type Sequencer interface {
	Sequence() uint64
}

// Channels finds served channels by name.
type Channels interface {
	Channel(name string) (Channel, bool)
}

// Stream is the server side of a Deliver stream (ab.AtomicBroadcast_DeliverServer).
type Stream interface {
	Context() context.Context
	Recv() (*cb.Envelope, error)
	Send(*ab.DeliverResponse) error
}

// Handler serves Deliver streams.
type Handler struct {
	channels Channels
	log      *slog.Logger
	// Metrics, when set before serving, counts streams, requests and
	// blocks (Fabric's deliver_* families).
	Metrics *operations.DeliverMetrics
	// TimeWindow, when set before serving, is how far a request's channel
	// header timestamp may be from the orderer's clock
	// (General.Authentication.TimeWindow); zero means Fabric's 15 minutes.
	TimeWindow time.Duration
	// MutualTLS, set before serving when the listener requires client
	// certificates (General.TLS.ClientAuthRequired), makes every request
	// carry the SHA-256 of the client's TLS certificate (tls_cert_hash).
	MutualTLS bool
	now       func() time.Time // the clock requesters' certificates and timestamps are checked against
}

// NewHandler returns a Deliver handler over channels.
func NewHandler(channels Channels, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{channels: channels, log: log, now: time.Now}
}

// Handle serves requests on one stream until the client closes it.
func (h *Handler) Handle(stream Stream) error {
	defer h.Metrics.StreamOpened()()
	for {
		env, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		status, info, err := h.serve(stream, env)
		if err != nil {
			return err // the stream itself failed
		}
		if status != cb.Status_SUCCESS {
			h.log.Info("deliver refused", "status", status.String(), "info", info)
		}
		if err := stream.Send(&ab.DeliverResponse{Type: &ab.DeliverResponse_Status{Status: status}}); err != nil {
			return err
		}
	}
}

var errStreamDone = errors.New("deliver: stream done")

// serve answers one request; a non-nil error means the stream is unusable.
func (h *Handler) serve(stream Stream, env *cb.Envelope) (status cb.Status, info string, err error) {
	ctx := stream.Context()
	parsed, err := protos.ParseEnvelope(env)
	if err != nil {
		return cb.Status_BAD_REQUEST, fmt.Sprintf("malformed deliver request: %v", err), nil
	}
	name := parsed.ChannelHeader.ChannelId
	// As in Fabric, the header's timestamp and TLS binding are checked
	// first: a request replayed later or on another TLS session is refused.
	window := h.TimeWindow
	if window <= 0 {
		window = requestauth.DefaultTimeWindow
	}
	if err := requestauth.CheckTimestamp(parsed.ChannelHeader.Timestamp, h.now(), window); err != nil {
		return cb.Status_BAD_REQUEST, fmt.Sprintf("deliver request of %s on channel %s: %v (General.Authentication.TimeWindow)",
			describe(parsed.SignatureHeader.Creator), name, err), nil
	}
	if err := requestauth.CheckBinding(ctx, parsed.ChannelHeader.TlsCertHash, h.MutualTLS); err != nil {
		return cb.Status_BAD_REQUEST, fmt.Sprintf("deliver request of %s on channel %s: %v", describe(parsed.SignatureHeader.Creator), name, err), nil
	}
	ch, ok := h.channels.Channel(name)
	if !ok {
		return cb.Status_NOT_FOUND, fmt.Sprintf("channel %q does not exist on this orderer", name), nil
	}
	// Counted from here on, as Fabric counts requests for channels it serves.
	req := h.Metrics.Request(name, false, "block")
	defer func() { req.Completed(err == nil && status == cb.Status_SUCCESS) }()
	// As in Fabric, a requester whose certificate has expired is refused, and
	// a stream ends when it expires (checked before each block).
	requester, _ := msp.ParseSerializedIdentity(parsed.SignatureHeader.Creator) // nil: the policy refuses it
	expired := func() error {
		if requester == nil {
			return nil
		}
		return requester.CheckExpiry(h.now())
	}
	if err := expired(); err != nil {
		return cb.Status_FORBIDDEN, fmt.Sprintf("deliver client identity expired: %v", err), nil
	}
	ac := &sessionAC{ch: ch, channel: name, signed: []protos.SignedData{parsed.SignedData()}}
	if status, info := ac.start(); status != cb.Status_SUCCESS {
		return status, info, nil
	}
	seek := &ab.SeekInfo{}
	if err := proto.Unmarshal(parsed.Payload.Data, seek); err != nil {
		return cb.Status_BAD_REQUEST, fmt.Sprintf("payload data is not an orderer.SeekInfo: %v", err), nil
	}
	if seek.Start == nil || seek.Stop == nil {
		return cb.Status_BAD_REQUEST, "SeekInfo needs both start and stop", nil
	}
	height := ch.Height()
	start, err := position(seek.Start, height, "start")
	if err != nil {
		return cb.Status_BAD_REQUEST, err.Error(), nil
	}
	stop, err := position(seek.Stop, height, "stop")
	if err != nil {
		return cb.Status_BAD_REQUEST, err.Error(), nil
	}
	if stop < start {
		return cb.Status_BAD_REQUEST, fmt.Sprintf("SeekInfo stop %d is below start %d", stop, start), nil
	}
	failIfNotReady := seek.Behavior == ab.SeekInfo_FAIL_IF_NOT_READY
	strict := seek.ErrorResponse == ab.SeekInfo_STRICT
	for n := start; n <= stop; n++ {
		if strict {
			select {
			case <-ch.Errored():
				return cb.Status_SERVICE_UNAVAILABLE, fmt.Sprintf("channel %s is not ordering (STRICT request)", name), nil
			default:
			}
		}
		if n >= ch.Height() {
			if failIfNotReady {
				return cb.Status_NOT_FOUND, fmt.Sprintf("block %d of channel %s is not written yet (height %d, FAIL_IF_NOT_READY)", n, name, ch.Height()), nil
			}
			if status, info, err := waitFor(ctx, ch, n+1, strict, name); err != nil || status != cb.Status_SUCCESS {
				return status, info, err
			}
		}
		blk, err := ch.Block(n)
		if err != nil {
			return cb.Status_INTERNAL_SERVER_ERROR, fmt.Sprintf("read block %d of channel %s: %v", n, name, err), nil
		}
		if seek.ContentType == ab.SeekInfo_HEADER_WITH_SIG {
			blk = &cb.Block{Header: blk.Header, Metadata: blk.Metadata}
		}
		if err := expired(); err != nil {
			return cb.Status_FORBIDDEN, fmt.Sprintf("deliver client identity expired before block %d was sent: %v", n, err), nil
		}
		if err := ac.beforeBlock(blk); err != nil {
			return cb.Status_FORBIDDEN, fmt.Sprintf("deliver stream stopped before block %d: %v", n, err), nil
		}
		if err := stream.Send(&ab.DeliverResponse{Type: &ab.DeliverResponse_Block{Block: blk}}); err != nil {
			return 0, "", err
		}
		req.BlockSent()
		if n == math.MaxUint64 {
			break
		}
	}
	return cb.Status_SUCCESS, "", nil
}

// sessionAC judges one request by the channel's Readers policy when it
// arrives and again whenever the config changes, as Fabric's deliver service
// does: at each new config sequence, and at a config block newer than the
// config it was judged by (the orderer adopts a config after writing its
// block, so the block that removes an organisation is judged by the config
// it carries and not sent to that organisation).
type sessionAC struct {
	ch      Channel
	channel string
	signed  []protos.SignedData
	seq     uint64 // the config sequence last judged by
}

// start judges the request by the config in force.
func (a *sessionAC) start() (cb.Status, string) {
	if s, ok := a.ch.(Sequencer); ok {
		a.seq = s.Sequence() // read first: a change meanwhile is judged again at the next block
	}
	pol, err := a.ch.Policy(ReadersPolicy)
	if err != nil {
		return cb.Status_INTERNAL_SERVER_ERROR, fmt.Sprintf("channel %s: policy %s: %v", a.channel, ReadersPolicy, err)
	}
	if err := pol.Evaluate(a.signed); err != nil {
		return cb.Status_FORBIDDEN, a.denied(ReadersPolicy, err)
	}
	return cb.Status_SUCCESS, ""
}

// beforeBlock judges the request again if blk or the channel carries a newer
// config than the one last judged by.
func (a *sessionAC) beforeBlock(blk *cb.Block) error {
	if isConfigBlock(blk) {
		cfg, _, err := channelconfig.ConfigFromBlock(blk)
		if err != nil {
			return fmt.Errorf("read the config of block %d: %w", blk.GetHeader().GetNumber(), err)
		}
		if cfg.GetSequence() <= a.seq {
			return nil // an older config, replayed
		}
		bundle, err := channelconfig.BundleFromBlock(blk)
		if err != nil {
			return fmt.Errorf("read the config of block %d: %w", blk.GetHeader().GetNumber(), err)
		}
		pol, err := bundle.Policy(ReadersPolicy)
		if err == nil {
			err = pol.Evaluate(a.signed)
		}
		if err != nil {
			return fmt.Errorf("config sequence %d of block %d: %s", bundle.Sequence(), blk.GetHeader().GetNumber(), a.denied(ReadersPolicy, err))
		}
		a.seq = bundle.Sequence()
		return nil
	}
	s, ok := a.ch.(Sequencer)
	if !ok {
		return nil
	}
	cur := s.Sequence()
	if cur <= a.seq {
		return nil
	}
	pol, err := a.ch.Policy(ReadersPolicy)
	if err == nil {
		err = pol.Evaluate(a.signed)
	}
	if err != nil {
		return fmt.Errorf("config sequence %d: %s", cur, a.denied(ReadersPolicy, err))
	}
	a.seq = cur
	return nil
}

func (a *sessionAC) denied(policy string, err error) string {
	return fmt.Sprintf("deliver requester %s does not satisfy policy %s of channel %s: %v", describe(a.signed[0].Identity), policy, a.channel, err)
}

// describe names a serialized identity for a refusal.
func describe(serialized []byte) string {
	id, err := msp.ParseSerializedIdentity(serialized)
	if err != nil {
		return fmt.Sprintf("(an unreadable identity: %v)", err)
	}
	return id.String()
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

// waitFor blocks until the channel reaches height h; with strict it gives up
// when the chain halts.
func waitFor(ctx context.Context, ch Channel, h uint64, strict bool, name string) (cb.Status, string, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if strict {
		go func() {
			select {
			case <-ch.Errored():
				cancel()
			case <-wctx.Done():
			}
		}()
	}
	if err := ch.WaitHeight(wctx, h); err != nil {
		if ctx.Err() != nil {
			return 0, "", errStreamDone
		}
		select {
		case <-ch.Errored():
			return cb.Status_SERVICE_UNAVAILABLE, fmt.Sprintf("channel %s stopped while waiting for block %d", name, h-1), nil
		default:
		}
		return cb.Status_INTERNAL_SERVER_ERROR, fmt.Sprintf("wait for block %d of channel %s: %v", h-1, name, err), nil
	}
	return cb.Status_SUCCESS, "", nil
}

// position resolves a SeekPosition against the current height.
func position(p *ab.SeekPosition, height uint64, which string) (uint64, error) {
	switch t := p.Type.(type) {
	case *ab.SeekPosition_Oldest:
		return 0, nil
	case *ab.SeekPosition_Newest:
		if height == 0 {
			return 0, nil
		}
		return height - 1, nil
	case *ab.SeekPosition_Specified:
		return t.Specified.GetNumber(), nil
	case *ab.SeekPosition_NextCommit:
		return height, nil
	default:
		return 0, fmt.Errorf("SeekInfo %s position has no type (oldest, newest or specified)", which)
	}
}
