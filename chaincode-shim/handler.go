package shim

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// ErrStreamClosed is returned by stub calls made after the stream to the
// peer has ended (peer gone, send failure, protocol violation).
var ErrStreamClosed = errors.New("shim: the stream to the peer is closed")

// PeerChaincodeStream is the stream the chaincode protocol runs over: the
// client side of ChaincodeSupport/Register or the server side of
// Chaincode/Connect. Send is only ever called from one goroutine.
type PeerChaincodeStream interface {
	Send(*pb.ChaincodeMessage) error
	Recv() (*pb.ChaincodeMessage, error)
}

// ClientStream is a PeerChaincodeStream the chaincode opened itself.
type ClientStream interface {
	PeerChaincodeStream
	CloseSend() error
}

// PeerError is an ERROR the peer sent in answer to a stub request. Its
// Error() is the peer's message, unchanged.
type PeerError struct {
	// Request is the request the peer refused, e.g. GET_STATE.
	Request pb.ChaincodeMessage_Type
	// Message is the peer's explanation.
	Message string
}

func (e *PeerError) Error() string { return e.Message }

// StartInProc runs the chaincode protocol for cc on a stream the caller
// already opened (for in-process chaincodes and tests). It registers as
// chaincodeName and returns when the stream ends; it closes the send side
// of the stream before returning.
func StartInProc(chaincodeName string, stream ClientStream, cc Chaincode) error {
	defer stream.CloseSend() //nolint:errcheck // the chat's outcome is the error that matters
	return chat(chaincodeName, stream, cc, slog.Default())
}

type registrationState int

const (
	stateCreated     registrationState = iota // REGISTER sent, waiting for REGISTERED
	stateEstablished                          // waiting for READY
	stateReady                                // serving invocations
)

func (s registrationState) String() string {
	return [...]string{"created", "established", "ready"}[s]
}

// txKey identifies a transaction context on the stream; responses are routed by it.
type txKey struct{ channel, txid string }

// handler is the shim side of one stream.
//
// At low load every hand-off between goroutines costs a scheduler wake-up,
// which on a quiet machine costs more than the message itself. So the
// receiving goroutine handles each message itself (routing a response, or
// starting an invocation), and whoever has a message to send calls
// stream.Send under sendMu; the only hand-offs left are the ones the protocol
// needs: an invocation runs on its own goroutine, and a response reaches the
// invocation waiting for it.
type handler struct {
	cc     Chaincode
	stream PeerChaincodeStream
	log    *slog.Logger

	sendMu     sync.Mutex                // serialises stream.Send; no Send starts once done is closed
	sendFailed chan error                // buffered 1: the first Send error ends the chat
	done       chan struct{}             // closed when the chat ends; unblocks every waiter
	invokes    sync.WaitGroup            // one per running Init/Invoke goroutine
	idle       chan *pb.ChaincodeMessage // unbuffered: taken only by a worker waiting for work
	idleCount  atomic.Int32              // workers waiting on idle

	mu      sync.Mutex // guards pending and ended
	pending map[txKey]chan *pb.ChaincodeMessage
	ended   bool // the chat is ending: no invocation may start

	// Written by the receive loop on READY, before any invocation goroutine
	// starts, and only read afterwards.
	multiGet    bool
	multiGetMax int
}

const defaultMultiGetMax = 100

// chat registers as ccid on stream and serves the peer until the stream ends.
func chat(ccid string, stream PeerChaincodeStream, cc Chaincode, log *slog.Logger) error {
	if cc == nil {
		return errors.New("shim: no chaincode given; pass the Chaincode to run")
	}
	if log == nil {
		log = slog.Default()
	}
	return newHandler(ccid, stream, cc, log).chat(ccid)
}

func newHandler(ccid string, stream PeerChaincodeStream, cc Chaincode, log *slog.Logger) *handler {
	return &handler{
		cc:         cc,
		stream:     stream,
		log:        log.With("chaincode", ccid),
		sendFailed: make(chan error, 1),
		done:       make(chan struct{}),
		pending:    map[txKey]chan *pb.ChaincodeMessage{},
		idle:       make(chan *pb.ChaincodeMessage),
	}
}

// chat registers as ccid and serves the peer until the stream ends.
func (h *handler) chat(ccid string) error {
	defer h.end()

	id, err := proto.Marshal(&pb.ChaincodeID{Name: ccid})
	if err != nil {
		return fmt.Errorf("shim: marshal ChaincodeID %q: %w", ccid, err)
	}
	if err := h.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_REGISTER, Payload: id}); err != nil {
		return fmt.Errorf("shim: send REGISTER for chaincode %q: %w", ccid, err)
	}

	// The receive loop runs on its own goroutine so that a send failure can
	// end the chat while Recv is blocked; that goroutine ends once the
	// stream is torn down (the caller cancels it, or the server handler
	// returns).
	recvErr := make(chan error, 1)
	go func() { recvErr <- h.receive() }()
	select {
	case err := <-recvErr:
		return err
	case err := <-h.sendFailed:
		return fmt.Errorf("shim: send to peer: %w", err)
	}
}

// end stops the chat: no invocation starts and no Send begins afterwards,
// and it returns once the running invocations and any Send under way have
// finished, so that nothing touches the stream after chat returns.
func (h *handler) end() {
	h.mu.Lock()
	h.ended = true
	h.mu.Unlock()
	close(h.done)
	h.sendMu.Lock()
	h.sendMu.Unlock() //nolint:staticcheck // waits for a Send under way
	h.invokes.Wait()
}

// receive reads the stream and handles each message on this goroutine, in
// order, until the stream fails or the peer breaks the protocol.
func (h *handler) receive() error {
	state := stateCreated
	for {
		msg, err := h.stream.Recv()
		switch {
		case err == io.EOF:
			return fmt.Errorf("shim: the peer closed the chaincode stream: %w", ErrStreamClosed)
		case err != nil:
			return fmt.Errorf("shim: receive from peer: %w", err)
		case msg == nil:
			return errors.New("shim: received a nil message from the peer")
		}
		select {
		case <-h.done:
			return ErrStreamClosed // the chat has ended (a send failed)
		default:
		}
		if err := h.handleMessage(&state, msg); err != nil {
			h.sendAsync(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_ERROR, Payload: []byte(err.Error()), Txid: msg.Txid, ChannelId: msg.ChannelId})
			return err
		}
	}
}

// send writes msg to the stream. A failure also ends the chat.
func (h *handler) send(msg *pb.ChaincodeMessage) error {
	h.sendMu.Lock()
	select {
	case <-h.done:
		h.sendMu.Unlock()
		return ErrStreamClosed
	default:
	}
	err := h.stream.Send(msg)
	h.sendMu.Unlock()
	if err == nil {
		return nil
	}
	select {
	case h.sendFailed <- err:
	default:
	}
	if errors.Is(err, io.EOF) {
		// gRPC's Send says io.EOF once the peer has ended the stream; the
		// receive loop may not have noticed yet, so say it here.
		return ErrStreamClosed
	}
	return err
}

// sendAsync sends msg when the outcome does not matter to the caller: a
// failure ends the chat anyway.
func (h *handler) sendAsync(msg *pb.ChaincodeMessage) {
	if err := h.send(msg); err != nil {
		h.log.Debug("message not sent", "type", msg.Type.String(), "txid", msg.Txid, "error", err)
	}
}

// maxIdleWorkers bounds the invocation goroutines kept waiting for the
// next TRANSACTION once theirs is done.
const maxIdleWorkers = 16

// startInvoke runs the invocation msg on a goroutine: one that has finished
// an earlier invocation and waits for another if there is one, else a new
// one. Reusing goroutines saves creating them and growing their stacks again
// (decoding the proposal needs more than a new goroutine's stack).
func (h *handler) startInvoke(msg *pb.ChaincodeMessage) {
	select {
	case h.idle <- msg:
	default:
		go h.worker(msg)
	}
}

// worker runs msg, then waits for further invocations while fewer than
// maxIdleWorkers others wait, until the chat ends.
func (h *handler) worker(msg *pb.ChaincodeMessage) {
	for {
		h.sendAsync(h.invoke(msg))
		h.invokes.Done()
		if h.idleCount.Add(1) > maxIdleWorkers {
			h.idleCount.Add(-1)
			return
		}
		select {
		case msg = <-h.idle:
			h.idleCount.Add(-1)
		case <-h.done:
			h.idleCount.Add(-1)
			return
		}
	}
}

func (h *handler) handleMessage(state *registrationState, msg *pb.ChaincodeMessage) error {
	if msg.Type == pb.ChaincodeMessage_KEEPALIVE {
		h.sendAsync(msg)
		return nil
	}
	switch *state {
	case stateCreated:
		if msg.Type != pb.ChaincodeMessage_REGISTERED {
			return fmt.Errorf("shim: received %s while waiting for REGISTERED; the peer must answer REGISTER first", msg.Type)
		}
		*state = stateEstablished
		h.log.Debug("registered with peer")
		return nil
	case stateEstablished:
		if msg.Type != pb.ChaincodeMessage_READY {
			return fmt.Errorf("shim: received %s while waiting for READY", msg.Type)
		}
		h.applyReadyParams(msg.Payload)
		*state = stateReady
		h.log.Debug("ready for transactions")
		return nil
	}
	switch msg.Type {
	case pb.ChaincodeMessage_RESPONSE, pb.ChaincodeMessage_ERROR:
		h.route(msg)
		return nil
	case pb.ChaincodeMessage_TRANSACTION, pb.ChaincodeMessage_INIT:
		h.mu.Lock()
		if h.ended {
			h.mu.Unlock()
			return nil // the chat is over; the peer sees the stream end
		}
		h.invokes.Add(1)
		h.mu.Unlock()
		h.startInvoke(msg)
		return nil
	default:
		return fmt.Errorf("shim: cannot handle %s for tx %s in state %s", msg.Type, shortTxID(msg.Txid), *state)
	}
}

// applyReadyParams reads the optional capabilities a 2.5+ peer advertises
// in READY. An empty or unreadable payload keeps the plain protocol.
func (h *handler) applyReadyParams(payload []byte) {
	if len(payload) == 0 {
		return
	}
	params := &pb.ChaincodeAdditionalParams{}
	if err := proto.Unmarshal(payload, params); err != nil {
		h.log.Warn("ignoring unreadable READY payload", "error", err)
		return
	}
	h.multiGet = params.UseGetMultipleKeys
	h.multiGetMax = max(int(params.MaxSizeGetMultipleKeys), defaultMultiGetMax)
}

// route delivers a RESPONSE or ERROR to the stub call waiting for it.
// It delivers under h.mu, so that once call has removed its channel from
// pending nothing more arrives on it: the channel serves the next call of
// the same stub.
func (h *handler) route(msg *pb.ChaincodeMessage) {
	h.mu.Lock()
	ch := h.pending[txKey{msg.ChannelId, msg.Txid}]
	delivered := false
	if ch != nil {
		select {
		case ch <- msg: // buffered 1: never blocks while holding h.mu
			delivered = true
		default:
		}
	}
	h.mu.Unlock()
	switch {
	case ch == nil:
		h.log.Warn("dropping response for a transaction with no request in flight", "type", msg.Type.String(), "channel", msg.ChannelId, "txid", msg.Txid)
	case !delivered:
		h.log.Warn("dropping duplicate response", "type", msg.Type.String(), "channel", msg.ChannelId, "txid", msg.Txid)
	}
}

// call sends one request of transaction (channel, txid) and waits for the
// peer's RESPONSE payload or ERROR, which arrives on respc (buffered 1; the
// stub's, reused by its calls, which never overlap).
func (h *handler) call(channel, txid string, respc chan *pb.ChaincodeMessage, typ pb.ChaincodeMessage_Type, req proto.Message) ([]byte, error) {
	payload, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("shim: marshal %s request: %w", typ, err)
	}
	key := txKey{channel, txid}
	h.mu.Lock()
	if _, busy := h.pending[key]; busy {
		h.mu.Unlock()
		return nil, fmt.Errorf("shim: %s for tx %s: another request of this transaction is still in flight; stub calls of one transaction must not run concurrently", typ, shortTxID(txid))
	}
	// A duplicate answer to this stub's previous request may wait in respc;
	// it is no answer to this one. None can come in later: route delivers
	// under h.mu, to the channels in pending only.
	select {
	case <-respc:
	default:
	}
	h.pending[key] = respc
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.pending, key)
		h.mu.Unlock()
	}()

	if err := h.send(&pb.ChaincodeMessage{Type: typ, Payload: payload, Txid: txid, ChannelId: channel}); err != nil {
		return nil, fmt.Errorf("shim: send %s for tx %s: %w", typ, shortTxID(txid), err)
	}
	select {
	case resp := <-respc:
		switch resp.Type {
		case pb.ChaincodeMessage_RESPONSE:
			return resp.Payload, nil
		case pb.ChaincodeMessage_ERROR:
			return nil, &PeerError{Request: typ, Message: string(resp.Payload)}
		default:
			return nil, fmt.Errorf("shim: peer answered %s for tx %s with %s; expected RESPONSE or ERROR", typ, shortTxID(txid), resp.Type)
		}
	case <-h.done:
		return nil, fmt.Errorf("shim: %s for tx %s: %w", typ, shortTxID(txid), ErrStreamClosed)
	}
}

// invoke runs Init or Invoke for msg and returns the message that ends the invocation.
func (h *handler) invoke(msg *pb.ChaincodeMessage) *pb.ChaincodeMessage {
	fail := func(err error) *pb.ChaincodeMessage {
		h.log.Warn("invocation failed", "type", msg.Type.String(), "channel", msg.ChannelId, "txid", msg.Txid, "error", err)
		return &pb.ChaincodeMessage{Type: pb.ChaincodeMessage_ERROR, Payload: []byte(err.Error()), Txid: msg.Txid, ChannelId: msg.ChannelId}
	}
	input, err := decodeInput(msg.Payload)
	if err != nil {
		return fail(fmt.Errorf("shim: unmarshal ChaincodeInput of tx %s: %w", shortTxID(msg.Txid), err))
	}
	stub, err := newStub(h, msg.ChannelId, msg.Txid, input, msg.Proposal)
	if err != nil {
		return fail(fmt.Errorf("shim: tx %s: %w", shortTxID(msg.Txid), err))
	}
	res, err := h.runChaincode(msg.Type, stub)
	if err != nil {
		return fail(err)
	}
	if msg.Type == pb.ChaincodeMessage_INIT && res.Status >= ERROR {
		return &pb.ChaincodeMessage{Type: pb.ChaincodeMessage_ERROR, Payload: []byte(res.Message), Txid: msg.Txid, ChannelId: msg.ChannelId, ChaincodeEvent: stub.event}
	}
	body, err := proto.Marshal(res)
	if err != nil {
		return fail(fmt.Errorf("shim: marshal response of tx %s: %w", shortTxID(msg.Txid), err))
	}
	return &pb.ChaincodeMessage{Type: pb.ChaincodeMessage_COMPLETED, Payload: body, Txid: msg.Txid, ChannelId: msg.ChannelId, ChaincodeEvent: stub.event}
}

// decodeInput decodes a TRANSACTION or INIT payload. A plainly encoded one
// (arguments and is_init only, the peer's usual) is read in place: each
// argument aliases payload, which belongs to the message alone, instead of
// being copied out of it. Anything else (decorations, unknown fields, bad
// encoding) goes to proto.Unmarshal, which also words the errors.
func decodeInput(payload []byte) (*pb.ChaincodeInput, error) {
	if args, ok := argsInPlace(payload); ok {
		return &pb.ChaincodeInput{Args: args}, nil
	}
	input := &pb.ChaincodeInput{}
	if err := proto.Unmarshal(payload, input); err != nil {
		return nil, err
	}
	return input, nil
}

// argsInPlace reads the args (field 1, repeated bytes) of a ChaincodeInput
// holding only those and is_init (field 3, a varint the shim does not use:
// the message type says Init or Invoke), each value aliasing b. It reports
// false for anything else, where proto.Unmarshal decides.
func argsInPlace(b []byte) ([][]byte, bool) {
	const argsField, isInitField = 1, 3
	n := 0 // count the arguments first, to allocate the slice once
	for rest := b; len(rest) > 0; {
		num, typ, k := protowire.ConsumeTag(rest)
		if k < 0 {
			return nil, false
		}
		var m int
		switch {
		case num == argsField && typ == protowire.BytesType:
			_, m = protowire.ConsumeBytes(rest[k:])
			n++
		case num == isInitField && typ == protowire.VarintType:
			_, m = protowire.ConsumeVarint(rest[k:])
		default:
			return nil, false
		}
		if m < 0 {
			return nil, false
		}
		rest = rest[k+m:]
	}
	if n == 0 {
		return nil, true
	}
	args := make([][]byte, 0, n)
	for len(b) > 0 {
		num, _, k := protowire.ConsumeTag(b)
		if num == argsField {
			v, m := protowire.ConsumeBytes(b[k:])
			args = append(args, v[:len(v):len(v)]) // an append by the chaincode must not overwrite the next field
			b = b[k+m:]
			continue
		}
		_, m := protowire.ConsumeVarint(b[k:])
		b = b[k+m:]
	}
	return args, true
}

// runChaincode calls Init or Invoke, turning a panic or a nil response into
// an error so that one bad transaction does not take the process down.
func (h *handler) runChaincode(typ pb.ChaincodeMessage_Type, stub *ChaincodeStub) (res *pb.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("chaincode panicked", "txid", stub.TxID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("shim: chaincode panicked in tx %s: %v", shortTxID(stub.TxID), p)
		}
	}()
	if typ == pb.ChaincodeMessage_INIT {
		res = h.cc.Init(stub)
	} else {
		res = h.cc.Invoke(stub)
	}
	if res == nil {
		return nil, fmt.Errorf("shim: chaincode returned a nil response for tx %s; return shim.Success or shim.Error", shortTxID(stub.TxID))
	}
	return res, nil
}

func shortTxID(txid string) string {
	if len(txid) < 8 {
		return txid
	}
	return txid[:8]
}
