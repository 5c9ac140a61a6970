package broadcast

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/rpcrecover"
	"github.com/weft-ledger/weft/protos"
)

// WritersPolicy is the policy path an envelope's creator must satisfy.
const WritersPolicy = "/Channel/Writers"

// Sentinel errors a Channel's Order may return (wrapped); they decide the status.
var (
	// ErrUnavailable: the channel cannot order right now (no Raft leader,
	// halted chain...) → SERVICE_UNAVAILABLE.
	ErrUnavailable = errors.New("broadcast: ordering service unavailable")
	// ErrTooLarge → REQUEST_ENTITY_TOO_LARGE.
	ErrTooLarge = errors.New("broadcast: envelope too large")
	// ErrRefused: ordering refused the envelope for good (a config update
	// overtaken by another) → BAD_REQUEST.
	ErrRefused = errors.New("broadcast: envelope refused by the ordering service")
)

// Policy evaluates signed data (channelconfig.Policy satisfies it).
type Policy interface {
	Evaluate(signed []protos.SignedData) error
}

// Channel is what Broadcast needs of one served channel.
type Channel interface {
	// Policy returns the policy at an absolute path such as /Channel/Writers.
	Policy(path string) (Policy, error)
	// AbsoluteMaxBytes is the channel's Orderer.BatchSize.AbsoluteMaxBytes.
	AbsoluteMaxBytes() uint32
	// Submit hands env to the channel's consensus in call order and returns
	// a channel that receives nil once env is committed to the consensus log,
	// or the reason it was not (unless the Channel is an Awaiter).
	Submit(ctx context.Context, env []byte) (<-chan error, error)
	// ProcessConfigUpdate validates a CONFIG_UPDATE envelope against the
	// channel's current config and returns the CONFIG envelope (a
	// cb.ConfigEnvelope with the new config and LastUpdate env) signed by
	// the orderer, or why the update is refused.
	ProcessConfigUpdate(env *cb.Envelope) (*cb.Envelope, error)
}

// Awaiter is an optional capability of a Channel whose Submit channels need
// more than a receive: Await waits on a channel Submit returned and gives nil
// once the envelope is committed to the consensus log, the reason it was not
// (also when the channel stops ordering first), or ctx's error. It runs on
// the goroutine answering the stream, so that an envelope needs no goroutine
// of its own while it waits.
type Awaiter interface {
	Await(ctx context.Context, wait <-chan error) error
}

// Framer is an optional capability of a Channel whose consensus stores each
// envelope after a fixed prefix: admission encodes the envelope after
// FramePrefix free bytes and hands the whole buffer to SubmitFramed, which
// fills the prefix in place, so the envelope is not copied once more. The
// buffer belongs to the channel from then on. SubmitFramed otherwise
// behaves as Submit does for the envelope framed[FramePrefix():].
type Framer interface {
	FramePrefix() int
	SubmitFramed(ctx context.Context, framed []byte) (<-chan error, error)
}

// Channels finds served channels by name.
type Channels interface {
	Channel(name string) (Channel, bool)
}

// Handler serves Broadcast streams.
type Handler struct {
	channels Channels
	log      *slog.Logger
	// MaxInflight bounds the envelopes of one stream being ordered at once.
	MaxInflight int
	// Observe, when set, is told the outcome of every envelope answered.
	// It feeds the broadcast_* metrics. Set it before serving.
	Observe func(Outcome)
	expiry  expiries // creators' certificate expiry, decoded once (expiries.go)
}

// Outcome is one answered envelope, as Observe is told of it.
type Outcome struct {
	// Channel and Type are the channel and header type ("unknown" when the
	// envelope could not be parsed, and Channel "unknown" too for a channel
	// this orderer does not serve: a name a client made up is no label).
	Channel, Type string
	Status        cb.Status
	// Validate is the time taken to check the envelope (parsing, size,
	// policy, config update processing).
	Validate time.Duration
	// Enqueued tells whether the envelope was handed to consensus; Enqueue
	// is the time from then until the answer: the envelope is answered once
	// it is in the Raft log.
	Enqueued bool
	Enqueue  time.Duration
}

// txLabels track one envelope for Observe.
type txLabels struct {
	channel, typ string
	validate     time.Duration
	enqueued     time.Time // zero when not submitted
}

// NewHandler returns a Broadcast handler over channels.
func NewHandler(channels Channels, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{channels: channels, log: log, MaxInflight: 256}
}

// Stream is the server side of a Broadcast stream (ab.AtomicBroadcast_BroadcastServer).
type Stream interface {
	Context() context.Context
	Recv() (*cb.Envelope, error)
	Send(*ab.BroadcastResponse) error
}

// inflight is one request of a stream whose response is not sent yet: either
// decided already (res) or waiting for the commit (wait).
type inflight struct {
	res    *ab.BroadcastResponse
	ch     Channel
	wait   <-chan error
	labels txLabels
}

// Handle serves one stream until the client closes it or it fails. The
// receiving loop checks and submits envelopes; one sender goroutine awaits
// their commits in request order and answers, so several envelopes of a
// stream are in flight without a goroutine each.
func (h *Handler) Handle(stream Stream) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	queue := make(chan inflight, max(h.MaxInflight, 1))
	sendErr := make(chan error, 1)
	go func() {
		// A panic here (in a gRPC or metrics bug) ends this stream with an
		// error, logged with its stack; the receiving loop stops at its next
		// envelope.
		defer func() {
			if r := recover(); r != nil {
				pe := rpcrecover.Recovered(h.log, "answering a broadcast stream", r)
				cancel()
				sendErr <- pe
			}
		}()
		// Committed envelopes, most of them, share one response: gRPC
		// encodes it in Send and it is never modified, so it can be sent
		// again.
		committed := &ab.BroadcastResponse{Status: cb.Status_SUCCESS}
		for f := range queue {
			r := f.res
			if r == nil {
				if status, info := h.await(ctx, f.ch, f.wait); status == cb.Status_SUCCESS && info == "" {
					r = committed
				} else {
					r = h.response(status, info)
				}
				if ctx.Err() != nil {
					sendErr <- ctx.Err()
					return
				}
			}
			h.observeContained(f.labels, r.Status)
			if err := stream.Send(r); err != nil {
				cancel()
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	var recvErr error
	for {
		env, err := stream.Recv()
		if err != nil {
			if err != io.EOF {
				recvErr = err
			}
			break
		}
		var f inflight
		status, info, ch, wait := h.submitContained(ctx, env, &f.labels)
		if wait == nil {
			f.res = h.response(status, info)
		} else {
			f.ch, f.wait = ch, wait
		}
		select {
		case queue <- f:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(queue)
	if err := <-sendErr; err != nil {
		return err
	}
	return recvErr
}

// Process checks one envelope, orders it and waits for the commit, returning
// the response to send.
func (h *Handler) Process(ctx context.Context, env *cb.Envelope) *ab.BroadcastResponse {
	var labels txLabels
	status, info, ch, wait := h.submitContained(ctx, env, &labels)
	if wait != nil {
		status, info = h.await(ctx, ch, wait)
	}
	h.observeContained(labels, status)
	return h.response(status, info)
}

// submitContained is submit with a panic (a bug met by this envelope)
// turned into INTERNAL_SERVER_ERROR for this envelope alone, naming the
// panic and logged with its stack; the stream goes on with the next one.
func (h *Handler) submitContained(ctx context.Context, env *cb.Envelope, labels *txLabels) (status cb.Status, info string, ch Channel, wait <-chan error) {
	defer func() {
		if r := recover(); r != nil {
			pe := rpcrecover.Recovered(h.log, "checking and ordering a broadcast envelope", r)
			status, info, ch, wait = cb.Status_INTERNAL_SERVER_ERROR, pe.Error(), nil, nil
		}
	}()
	return h.submit(ctx, env, labels)
}

// observeContained is observe with a panic of the Observe callback logged
// and dropped: the answer is sent all the same.
func (h *Handler) observeContained(l txLabels, status cb.Status) {
	defer rpcrecover.Recover(h.log, "observing a broadcast outcome", nil)
	h.observe(l, status)
}

func (h *Handler) observe(l txLabels, status cb.Status) {
	if h.Observe != nil {
		o := Outcome{Channel: l.channel, Type: l.typ, Status: status, Validate: l.validate, Enqueued: !l.enqueued.IsZero()}
		if status == cb.Status_NOT_FOUND {
			// Any name a client invents: not a label value to keep.
			o.Channel = "unknown"
		}
		if o.Enqueued {
			o.Enqueue = time.Since(l.enqueued)
		}
		h.Observe(o)
	}
}

func (h *Handler) response(status cb.Status, info string) *ab.BroadcastResponse {
	if status != cb.Status_SUCCESS {
		h.log.Info("broadcast refused", "status", status.String(), "info", info)
	}
	return &ab.BroadcastResponse{Status: status, Info: info}
}

// await turns the commit result of a submitted envelope into a status. A
// panic while waiting (a bug) answers this envelope INTERNAL_SERVER_ERROR,
// naming the panic, and the stream goes on.
func (h *Handler) await(ctx context.Context, ch Channel, wait <-chan error) (status cb.Status, info string) {
	defer func() {
		if r := recover(); r != nil {
			pe := rpcrecover.Recovered(h.log, "awaiting the order of a broadcast envelope", r)
			status, info = cb.Status_INTERNAL_SERVER_ERROR, pe.Error()
		}
	}()
	if a, ok := ch.(Awaiter); ok {
		return orderStatus(a.Await(ctx, wait))
	}
	select {
	case err := <-wait:
		return orderStatus(err)
	case <-ctx.Done():
		return orderStatus(ctx.Err())
	}
}

func orderStatus(err error) (cb.Status, string) {
	switch {
	case err == nil:
		return cb.Status_SUCCESS, ""
	case errors.Is(err, ErrTooLarge):
		return cb.Status_REQUEST_ENTITY_TOO_LARGE, err.Error()
	case errors.Is(err, ErrRefused):
		return cb.Status_BAD_REQUEST, err.Error()
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return cb.Status_SERVICE_UNAVAILABLE, fmt.Sprintf("cannot order now: %v", err)
	default:
		return cb.Status_INTERNAL_SERVER_ERROR, err.Error()
	}
}

// submit checks env and hands it to its channel; wait is nil when env was
// refused before ordering (status and info say why).
func (h *Handler) submit(ctx context.Context, env *cb.Envelope, labels *txLabels) (status cb.Status, info string, ch Channel, wait <-chan error) {
	start := time.Now()
	*labels = txLabels{channel: "unknown", typ: "unknown"}
	status, info, ch, framed := h.check(env, labels)
	labels.enqueued = time.Now()
	labels.validate = labels.enqueued.Sub(start)
	if status != cb.Status_SUCCESS {
		labels.enqueued = time.Time{}
		return status, info, nil, nil
	}
	var err error
	if f, ok := ch.(Framer); ok {
		wait, err = f.SubmitFramed(ctx, framed)
	} else {
		wait, err = ch.Submit(ctx, framed)
	}
	if err != nil {
		status, info = orderStatus(err)
		return status, info, nil, nil
	}
	return cb.Status_SUCCESS, "", ch, wait
}

// check admits env: a normal envelope as is; a CONFIG_UPDATE, as Fabric
// does, first as sent (size, /Channel/Writers), then turned by the channel
// into the orderer's CONFIG envelope, which passes the same checks again and
// is what gets ordered. Clients cannot send CONFIG envelopes themselves.
// The bytes returned are what admit returns for the envelope ordered.
func (h *Handler) check(env *cb.Envelope, labels *txLabels) (cb.Status, string, Channel, []byte) {
	parsed, err := parseEnvelope(env)
	if err != nil {
		return cb.Status_BAD_REQUEST, fmt.Sprintf("malformed envelope: %v", err), nil, nil
	}
	chdr := parsed.ChannelHeader
	labels.channel, labels.typ = chdr.ChannelId, cb.HeaderType(chdr.Type).String()
	if chdr.ChannelId == "" {
		return cb.Status_BAD_REQUEST, "malformed envelope: channel_header.channel_id is empty", nil, nil
	}
	typ := cb.HeaderType(chdr.Type)
	switch typ {
	case cb.HeaderType_CONFIG, cb.HeaderType_ORDERER_TRANSACTION:
		return cb.Status_BAD_REQUEST, fmt.Sprintf("envelopes of type %s cannot be broadcast; send a CONFIG_UPDATE", typ), nil, nil
	}
	ch, ok := h.channels.Channel(chdr.ChannelId)
	if !ok {
		return cb.Status_NOT_FOUND, fmt.Sprintf("channel %s does not exist on this orderer", chdr.ChannelId), nil, nil
	}
	status, info, raw := h.admit(ch, chdr.ChannelId, env, parsed)
	if status != cb.Status_SUCCESS || typ != cb.HeaderType_CONFIG_UPDATE {
		return status, info, ch, raw
	}
	config, err := ch.ProcessConfigUpdate(env)
	if err != nil {
		// Fabric answers BAD_REQUEST for an update the config validator
		// refuses, including an unsatisfied mod_policy.
		return cb.Status_BAD_REQUEST, fmt.Sprintf("error applying config update to existing channel '%s': %v", chdr.ChannelId, err), nil, nil
	}
	cparsed, err := parseEnvelope(config)
	if err != nil {
		return cb.Status_INTERNAL_SERVER_ERROR, fmt.Sprintf("channel %s: the CONFIG envelope built from the update is malformed: %v", chdr.ChannelId, err), nil, nil
	}
	if t := cb.HeaderType(cparsed.ChannelHeader.Type); t != cb.HeaderType_CONFIG || cparsed.ChannelHeader.ChannelId != chdr.ChannelId {
		return cb.Status_INTERNAL_SERVER_ERROR, fmt.Sprintf("channel %s: the config update produced an envelope of type %s for channel %q, want CONFIG for the same channel", chdr.ChannelId, t, cparsed.ChannelHeader.ChannelId), nil, nil
	}
	status, info, raw = h.admit(ch, chdr.ChannelId, config, cparsed)
	if status != cb.Status_SUCCESS {
		return status, "config update for existing channel did not pass final checks: " + info, nil, nil
	}
	return cb.Status_SUCCESS, "", ch, raw
}

// admit applies the checks every ordered envelope passes: its creator's
// certificate not expired now, its size against
// Orderer.BatchSize.AbsoluteMaxBytes and its creator against /Channel/Writers.
// It returns the bytes to order, after framePrefix(ch) free bytes.
func (h *Handler) admit(ch Channel, channelID string, env *cb.Envelope, parsed *protos.Envelope) (cb.Status, string, []byte) {
	// Fabric's expiration rule comes first and answers BAD_REQUEST: a
	// creator whose certificate has expired may not write.
	if err := h.expiry.check(parsed.SignatureHeader.Creator, time.Now()); err != nil {
		return cb.Status_BAD_REQUEST, fmt.Sprintf("broadcast client identity expired: %v", err), nil
	}
	// The bytes ordered are the envelope re-encoded; their length is the size checked.
	prefix := framePrefix(ch)
	raw, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(make([]byte, prefix, prefix+proto.Size(env)), env)
	if err != nil {
		return cb.Status_BAD_REQUEST, fmt.Sprintf("re-encode envelope: %v", err), nil
	}
	size := len(raw) - prefix
	if limit := ch.AbsoluteMaxBytes(); size > int(limit) {
		return cb.Status_REQUEST_ENTITY_TOO_LARGE, fmt.Sprintf("envelope of %d bytes exceeds channel %s Orderer.BatchSize.AbsoluteMaxBytes %d", size, channelID, limit), nil
	}
	pol, err := ch.Policy(WritersPolicy)
	if err != nil {
		return cb.Status_INTERNAL_SERVER_ERROR, fmt.Sprintf("channel %s: policy %s: %v", channelID, WritersPolicy, err), nil
	}
	if err := pol.Evaluate([]protos.SignedData{parsed.SignedData()}); err != nil {
		return cb.Status_FORBIDDEN, fmt.Sprintf("creator %s does not satisfy policy %s of channel %s: %v",
			describeCreator(parsed.SignatureHeader.Creator), WritersPolicy, channelID, err), nil
	}
	return cb.Status_SUCCESS, "", raw
}

// framePrefix is the room admit leaves before the envelope it encodes for
// ch: ch's FramePrefix if ch is a Framer, else none.
func framePrefix(ch Channel) int {
	if f, ok := ch.(Framer); ok {
		return f.FramePrefix()
	}
	return 0
}
