package chaincode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/rpcrecover"
)

// stream is the bidirectional chaincode stream, as served by Register or
// dialled through Chaincode/Connect.
type stream interface {
	Send(*pb.ChaincodeMessage) error
	Recv() (*pb.ChaincodeMessage, error)
}

// handler runs the peer side of the protocol on one chaincode stream.
type handler struct {
	packageID string
	stream    stream
	batchSize int
	// queryLimit caps the results of one non-paginated query (range,
	// private range, history): Fabric's ledger.state.totalQueryLimit.
	queryLimit int
	log        *slog.Logger
	metrics    *Metrics // nil: not counted

	sendMu sync.Mutex // serialises stream.Send: one writer per stream

	mu  sync.Mutex         // guards txs
	txs map[txRef]*txState // by channel ID and txid

	done chan struct{} // closed when the stream has ended
	err  error         // why it ended; written once before done is closed
}

// txState is one transaction in flight on a handler.
type txState struct {
	txc    *TxContext
	ns     string
	parent context.Context           // execute's context
	result chan *pb.ChaincodeMessage // COMPLETED or ERROR; buffered 1
	// requests are the shim's requests of this transaction, served by the
	// goroutine waiting in execute (see dispatch); buffered.
	requests chan *pb.ChaincodeMessage
	isInit   bool // an INIT: private data is refused

	mu sync.Mutex // guards iters, nextID, collections, callCtx, cancelCalls and ended
	// callCtx bounds calls to other chaincode (see calls); nil until the
	// first, as most transactions make none.
	callCtx     context.Context
	cancelCalls context.CancelFunc
	ended       bool // execute has returned
	// iters are the open query iterators by ID; nil until the first query,
	// as most transactions run none.
	iters       map[string]*queryIter
	nextID      int
	collections map[string]CollectionAccess // rules read so far, by collection
}

func newHandler(packageID string, s stream, batchSize int, log *slog.Logger) *handler {
	return &handler{
		packageID:  packageID,
		stream:     s,
		batchSize:  batchSize,
		queryLimit: totalQueryLimit,
		log:        log.With("chaincode", packageID),
		txs:        map[txRef]*txState{},
		done:       make(chan struct{}),
	}
}

// txRef names a transaction in flight. A pair of strings rather than one
// joined string: a key built by concatenation costs an allocation on every
// lookup (each shim request) once channel ID and txid pass 32 bytes.
type txRef struct{ channelID, txID string }

func (h *handler) send(msg *pb.ChaincodeMessage) error {
	h.sendMu.Lock()
	defer h.sendMu.Unlock()
	return h.stream.Send(msg)
}

// readRegister receives the chaincode's REGISTER and returns the name it
// registered with (its package ID).
func readRegister(s stream) (string, error) {
	msg, err := s.Recv()
	if err != nil {
		return "", fmt.Errorf("receive REGISTER: %w", err)
	}
	if msg.Type != pb.ChaincodeMessage_REGISTER {
		return "", fmt.Errorf("chaincode sent %s before REGISTER", msg.Type)
	}
	id := &pb.ChaincodeID{}
	if err := proto.Unmarshal(msg.Payload, id); err != nil {
		return "", fmt.Errorf("decode REGISTER payload (peer.ChaincodeID): %w", err)
	}
	if id.Name == "" {
		return "", errors.New("chaincode registered with an empty name; set CORE_CHAINCODE_ID_NAME (or the server's CCID) to the package ID")
	}
	return id.Name, nil
}

// acceptRegister answers a REGISTER with REGISTERED then READY. An empty
// READY payload keeps the official shim in its plain (2.5-style) mode.
func (h *handler) acceptRegister() error {
	if err := h.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_REGISTERED}); err != nil {
		return fmt.Errorf("send REGISTERED to chaincode %s: %w", h.packageID, err)
	}
	if err := h.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_READY}); err != nil {
		return fmt.Errorf("send READY to chaincode %s: %w", h.packageID, err)
	}
	return nil
}

// serve reads the stream until it ends; it returns why it ended. In-flight
// transactions fail with that reason. A panic while dispatching a message
// ends this stream alone (logged with its stack), as a broken stream would.
func (h *handler) serve() (err error) {
	defer func() {
		if r := recover(); r != nil {
			pe := rpcrecover.Recovered(h.log, "reading the chaincode stream", r)
			h.end(fmt.Errorf("chaincode %s stream ended: %w", h.packageID, pe))
			err = h.err
		}
	}()
	for {
		msg, err := h.stream.Recv()
		if err != nil {
			h.end(fmt.Errorf("chaincode %s stream ended: %w", h.packageID, err))
			return h.err
		}
		switch msg.Type {
		case pb.ChaincodeMessage_KEEPALIVE:
			if err := h.send(msg); err != nil {
				h.log.Warn("echo keepalive failed", "err", err)
			}
		case pb.ChaincodeMessage_COMPLETED, pb.ChaincodeMessage_ERROR:
			h.deliver(msg)
		case pb.ChaincodeMessage_GET_STATE, pb.ChaincodeMessage_PUT_STATE, pb.ChaincodeMessage_DEL_STATE,
			pb.ChaincodeMessage_GET_STATE_BY_RANGE, pb.ChaincodeMessage_QUERY_STATE_NEXT,
			pb.ChaincodeMessage_QUERY_STATE_CLOSE, pb.ChaincodeMessage_GET_PRIVATE_DATA_HASH,
			pb.ChaincodeMessage_GET_STATE_METADATA, pb.ChaincodeMessage_PUT_STATE_METADATA,
			pb.ChaincodeMessage_GET_HISTORY_FOR_KEY, pb.ChaincodeMessage_INVOKE_CHAINCODE,
			pb.ChaincodeMessage_PURGE_PRIVATE_DATA:
			h.dispatch(msg)
		case pb.ChaincodeMessage_GET_QUERY_RESULT:
			if tx := h.lookup(msg.ChannelId, msg.Txid); tx != nil && tx.txc.Simulator != nil {
				if _, ok := tx.txc.Simulator.(RichQuerier); !ok {
					h.refuse(msg, richQueryRefusal(msg))
					continue
				}
			}
			h.dispatch(msg)
		case pb.ChaincodeMessage_GET_STATE_MULTIPLE, pb.ChaincodeMessage_WRITE_BATCH_STATE:
			// Shims send these only to a peer that offered them in READY's
			// ChaincodeAdditionalParams; this peer's READY offers neither.
			h.refuse(msg, fmt.Sprintf(
				"%s is not offered by this peer (its READY message enables neither UseGetMultipleKeys nor UseWriteBatch); "+
					"the shim must send one GET_STATE, PUT_STATE or DEL_STATE per key", msg.Type))
		default:
			h.reply(msg, pb.ChaincodeMessage_ERROR, []byte(fmt.Sprintf(
				"chaincode message type %s is not supported by this peer from a registered chaincode", msg.Type)))
		}
	}
}

// richQueryRefusal explains why a GET_QUERY_RESULT (GetQueryResult, its
// paginated form, or GetPrivateDataQueryResult) cannot be served on a
// simulator without the RichQuerier capability: such a simulator stands for
// a LevelDB world state, which has no JSON selector engine.
func richQueryRefusal(msg *pb.ChaincodeMessage) string {
	call := "GetQueryResult"
	req := &pb.GetQueryResult{}
	if err := proto.Unmarshal(msg.Payload, req); err == nil {
		call = richQueryCall(req)
	}
	return call + ": rich queries (JSON selectors) need a CouchDB state database; this peer uses LevelDB. " +
		"Use key or range queries (GetState, GetStateByRange, GetStateByPartialCompositeKey) instead"
}

// end records why the stream ended and wakes every waiting transaction.
func (h *handler) end(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
	default:
		h.err = err
		close(h.done)
	}
}

// alive reports whether the stream is still up.
func (h *handler) alive() bool {
	select {
	case <-h.done:
		return false
	default:
		return true
	}
}

func (h *handler) lookup(channelID, txID string) *txState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.txs[txRef{channelID, txID}]
}

func (h *handler) deliver(msg *pb.ChaincodeMessage) {
	tx := h.lookup(msg.ChannelId, msg.Txid)
	if tx == nil {
		h.log.Warn("chaincode finished a transaction that is not in flight (timed out?)", "txid", msg.Txid, "channel", msg.ChannelId, "type", msg.Type.String())
		return
	}
	select {
	case tx.result <- msg:
	default: // a second COMPLETED/ERROR for the same tx: ignore
	}
}

func (h *handler) reply(req *pb.ChaincodeMessage, typ pb.ChaincodeMessage_Type, payload []byte) {
	err := h.send(&pb.ChaincodeMessage{Type: typ, Payload: payload, Txid: req.Txid, ChannelId: req.ChannelId})
	if err != nil {
		h.log.Warn("reply to chaincode failed", "txid", req.Txid, "type", req.Type.String(), "err", err)
	}
}

// refuse answers a shim request this peer does not serve with ERROR.
func (h *handler) refuse(msg *pb.ChaincodeMessage, why string) {
	start := time.Now()
	typ := msg.Type.String()
	h.metrics.shimRequest(typ, msg.ChannelId, h.packageID)
	h.reply(msg, pb.ChaincodeMessage_ERROR, []byte(why))
	h.metrics.shimDone(typ, msg.ChannelId, h.packageID, start, false)
}

// requestBacklog is how many requests of one transaction wait for its
// goroutine before more are served on goroutines of their own. The shim
// waits for each answer, so one is the most a well-behaved shim sends.
const requestBacklog = 4

// dispatch hands a shim request to the goroutine of its transaction, the
// one waiting in execute. That goroutine is parked anyway, so serving the
// request there costs one wake-up and no new goroutine. The shim waits for
// each answer, so the requests of one transaction arrive in order and are
// served in order; different transactions proceed in parallel on their own
// goroutines, and a request that blocks (INVOKE_CHAINCODE runs as long as
// the callee; a CouchDB read waits for the server) holds up its transaction
// alone, never the stream. A request for no transaction in flight is
// answered at once; requests beyond requestBacklog (a shim that does not
// wait for answers) get goroutines of their own, as the stream must never
// block.
func (h *handler) dispatch(msg *pb.ChaincodeMessage) {
	h.mu.Lock()
	tx := h.txs[txRef{msg.ChannelId, msg.Txid}]
	if tx != nil {
		select {
		case tx.requests <- msg:
			h.mu.Unlock()
			return
		default:
		}
	}
	h.mu.Unlock()
	if tx == nil {
		h.handleRequest(nil, msg)
		return
	}
	go h.handleRequest(tx, msg)
}

// handleRequest serves msg, a request of transaction tx (nil: none in
// flight), and answers the shim.
func (h *handler) handleRequest(tx *txState, msg *pb.ChaincodeMessage) {
	start := time.Now()
	typ := msg.Type.String()
	h.metrics.shimRequest(typ, msg.ChannelId, h.packageID)
	success := false
	defer func() { h.metrics.shimDone(typ, msg.ChannelId, h.packageID, start, success) }()
	if tx == nil {
		h.reply(msg, pb.ChaincodeMessage_ERROR, []byte(fmt.Sprintf(
			"%s for transaction %s on channel %q: no such transaction in flight on chaincode %s", msg.Type, msg.Txid, msg.ChannelId, h.packageID)))
		return
	}
	payload, err := h.serveContained(tx, msg)
	if err != nil {
		h.reply(msg, pb.ChaincodeMessage_ERROR, []byte(fmt.Sprintf("%s failed: %v", msg.Type, err)))
		return
	}
	success = true
	h.reply(msg, pb.ChaincodeMessage_RESPONSE, payload)
}

// serveContained is serveRequest with a panic (a bug met by this request,
// in the peer or the ledger) turned into an error for this request alone,
// logged with its stack: the chaincode gets an ERROR answer, its transaction
// fails, and the stream and the peer go on.
func (h *handler) serveContained(tx *txState, msg *pb.ChaincodeMessage) (payload []byte, err error) {
	defer rpcrecover.Recover(h.log, "serving a chaincode request", &err)
	if msg.Type == pb.ChaincodeMessage_GET_QUERY_RESULT {
		return h.getQueryResult(tx, msg)
	}
	return h.serveRequest(tx, msg)
}

// calls returns the context calls to other chaincode made by tx run under:
// execute's, ended when execute returns. It is made on the first call
// rather than for every transaction.
func (tx *txState) calls() context.Context {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.callCtx == nil {
		tx.callCtx, tx.cancelCalls = context.WithCancel(tx.parent)
		if tx.ended {
			tx.cancelCalls()
		}
	}
	return tx.callCtx
}

// end marks tx as over: calls to other chaincode it made are cancelled, and
// any it makes later (a request served late) start cancelled.
func (tx *txState) end() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.ended = true
	if tx.cancelCalls != nil {
		tx.cancelCalls()
	}
}

// execute sends one transaction and waits for its end.
func (h *handler) execute(ctx context.Context, txc *TxContext, input *pb.ChaincodeInput, timeout time.Duration) (*pb.Response, *pb.ChaincodeEvent, error) {
	tx := &txState{txc: txc, ns: txc.namespace(), parent: ctx, result: make(chan *pb.ChaincodeMessage, 1),
		requests: make(chan *pb.ChaincodeMessage, requestBacklog), isInit: input.GetIsInit()}
	key := txRef{txc.ChannelID, txc.TxID}
	h.mu.Lock()
	select {
	case <-h.done:
		h.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: %v", ErrChaincodeUnavailable, h.err)
	default:
	}
	if h.txs[key] != nil {
		h.mu.Unlock()
		return nil, nil, fmt.Errorf("transaction %s on channel %q is already executing on chaincode %s: "+
			"a chaincode cannot call itself (or another chaincode installed from the same package) within one transaction", txc.TxID, txc.ChannelID, h.packageID)
	}
	h.txs[key] = tx
	h.mu.Unlock()
	defer tx.end() // cancels its calls to other chaincode, after the clean-up below
	defer func() {
		h.mu.Lock()
		delete(h.txs, key)
		h.mu.Unlock()
		// Requests dispatched before the deletion but not served (the
		// transaction timed out or was abandoned) are answered as requests
		// for no transaction in flight, so the shim does not wait forever.
		for {
			select {
			case msg := <-tx.requests:
				h.handleRequest(nil, msg)
				continue
			default:
			}
			break
		}
		tx.closeAll()
	}()

	payload, err := proto.Marshal(input)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal chaincode input: %w", err)
	}
	typ := pb.ChaincodeMessage_TRANSACTION
	if input.GetIsInit() {
		typ = pb.ChaincodeMessage_INIT
	}
	msg := &pb.ChaincodeMessage{Type: typ, Payload: payload, Txid: txc.TxID, ChannelId: txc.ChannelID, Proposal: txc.SignedProposal}
	if err := h.send(msg); err != nil {
		// A stream that cannot be written is broken: end it so the next
		// invocation relaunches the chaincode.
		h.end(fmt.Errorf("chaincode %s stream broke: %w", h.packageID, err))
		return nil, nil, fmt.Errorf("%w: send %s %s to chaincode %s: %v", ErrChaincodeUnavailable, typ, txc.TxID, h.packageID, err)
	}

	timer := startTimer(timeout)
	defer stopTimer(timer)
	for {
		select {
		case req := <-tx.requests:
			h.handleRequest(tx, req)
		case res := <-tx.result:
			return h.result(tx, res)
		case <-h.done:
			return nil, nil, fmt.Errorf("%w: transaction %s failed: %v", ErrChaincodeUnavailable, txc.TxID, h.err)
		case <-timer.C:
			h.metrics.executeTimedOut(h.packageID)
			return nil, nil, fmt.Errorf("%w: chaincode %s did not complete transaction %s within %s", ErrTimeout, h.packageID, txc.TxID, timeout)
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("transaction %s on chaincode %s abandoned: %w", txc.TxID, h.packageID, ctx.Err())
		}
	}
}

func (h *handler) result(tx *txState, msg *pb.ChaincodeMessage) (*pb.Response, *pb.ChaincodeEvent, error) {
	ev := msg.ChaincodeEvent
	if ev != nil {
		ev.TxId = tx.txc.TxID
		ev.ChaincodeId = tx.ns
	}
	if msg.Type == pb.ChaincodeMessage_ERROR {
		return nil, ev, &TransactionError{PackageID: h.packageID, TxID: tx.txc.TxID, Message: string(msg.Payload)}
	}
	resp := &pb.Response{}
	if err := proto.Unmarshal(msg.Payload, resp); err != nil {
		return nil, nil, fmt.Errorf("chaincode %s completed transaction %s with an undecodable peer.Response: %w", h.packageID, tx.txc.TxID, err)
	}
	return resp, ev, nil
}

// timers keeps the timers of ended transactions for the next ones: a new
// timer costs three allocations per transaction. Only a timer stopped
// before it expired is kept, so none holds an expiry that was never
// received, whatever the timer semantics (even GODEBUG=asynctimerchan=1,
// where a stopped timer's channel keeps such a value); a timer from the
// pool fires only for its new duration
// (TestPooledTimerFiresOnlyForItsNewDuration).
var timers sync.Pool

// startTimer returns a timer that expires after d.
func startTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// stopTimer stops t and keeps it for startTimer unless it had expired.
func stopTimer(t *time.Timer) {
	if t.Stop() {
		timers.Put(t)
	}
}

// metadataResult lists metadata entries in key order.
func metadataResult(md map[string][]byte) *pb.StateMetadataResult {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	res := &pb.StateMetadataResult{}
	for _, k := range keys {
		res.Entries = append(res.Entries, &pb.StateMetadata{Metakey: k, Value: md[k]})
	}
	return res
}
