package restgateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weft-ledger/weft/protos"
)

// minHeartbeat keeps ?heartbeat= from flooding a connection.
const minHeartbeat = 100 * time.Millisecond

// chaincodeEvent is the data of one Server-Sent Event. Its SSE id is
// "<blockNumber>:<txId>", the checkpoint a client resumes after.
type chaincodeEvent struct {
	BlockNumber   uint64          `json:"blockNumber"`
	TxID          string          `json:"txId"`
	Chaincode     string          `json:"chaincode"`
	EventName     string          `json:"eventName"`
	Payload       *string         `json:"payload"`               // text, or null when not UTF-8 text
	PayloadBase64 string          `json:"payloadBase64"`         // the exact bytes
	PayloadJSON   json.RawMessage `json:"payloadJson,omitempty"` // the text parsed, when it is JSON
}

// streamEnd is the data of the final "end" event.
type streamEnd struct {
	Reason      string `json:"reason"`                // "timeout": the stream's lifetime is over
	LastEventID string `json:"lastEventId,omitempty"` // resume after this (Last-Event-ID)
}

// parseCheckpoint reads an event id "<block>:<txId>".
func parseCheckpoint(id string) (uint64, string, bool) {
	num, tx, ok := strings.Cut(id, ":")
	if !ok || tx == "" {
		return 0, "", false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	return n, tx, err == nil
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	channel, cc, e := pathChaincode(r)
	if e != nil {
		writeError(w, e)
		return
	}
	q := r.URL.Query()
	req := &gwpb.ChaincodeEventsRequest{ChannelId: channel, ChaincodeId: cc, AfterTransactionId: q.Get("afterTxId")}
	if raw := q.Get("startBlock"); raw != "" {
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			writeError(w, errorf(CodeBadRequest, "startBlock", "query parameter startBlock=%q is not a block number", raw))
			return
		}
		req.StartPosition = &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: n}}}
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, tx, ok := parseCheckpoint(id)
		if !ok {
			writeError(w, errorf(CodeBadRequest, "Last-Event-ID", "Last-Event-ID %q is not an event id of this API (<blockNumber>:<txId>)", id))
			return
		}
		req.StartPosition = &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: n}}}
		req.AfterTransactionId = tx
	}
	lifetime, e := queryDuration(r, "timeout", s.opts.Events.MaxDuration, s.opts.Events.MaxDuration)
	if e != nil {
		writeError(w, e)
		return
	}
	if lifetime <= 0 {
		lifetime = s.opts.Events.MaxDuration
	}
	heartbeat, e := queryDuration(r, "heartbeat", s.opts.Events.Heartbeat, time.Hour)
	if e != nil {
		writeError(w, e)
		return
	}
	heartbeat = max(heartbeat, minHeartbeat)
	signer, e := s.signer(r)
	if e != nil {
		writeError(w, e)
		return
	}
	release, e := s.streams.acquire(credentialOf(r).name)
	if e != nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, e)
		return
	}
	defer release()
	// The event stream reports errors only with its first event, after the
	// HTTP status is sent: ask the channel's chain info first so that an
	// unknown channel or a refused identity gets its own status.
	if _, e := s.query(r, channel, "GetChainInfo"); e != nil {
		writeError(w, e)
		return
	}
	creator, err := signer.Serialize()
	if err != nil {
		writeError(w, apiErr(CodeInternal, "serialize identity: %v", err))
		return
	}
	req.Identity = creator
	raw := protos.Marshal(req)
	sig, err := signer.Sign(raw)
	if err != nil {
		writeError(w, apiErr(CodeInternal, "sign events request: %v", err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), lifetime)
	defer cancel()
	stream, err := s.gw.ChaincodeEvents(ctx, &gwpb.SignedChaincodeEventsRequest{Request: raw, Signature: sig})
	if err != nil {
		writeError(w, fromRPC(callEvents, channel, cc, err))
		return
	}

	// Each write of the stream gets its own deadline (restgateway.http.writeTimeout,
	// see statusWriter): the stream lives until its lifetime ends, but a
	// client that stops reading is cut off.
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\n: stream of chaincode %s events on channel %s\n\n", cc, channel)
	if err := rc.Flush(); err != nil {
		s.log.Warn("event stream cannot flush", "err", err.Error())
		return
	}

	type recv struct {
		resp *gwpb.ChaincodeEventsResponse
		err  error
	}
	msgs := make(chan recv)
	go func() {
		for {
			resp, err := stream.Recv()
			select {
			case msgs <- recv{resp, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	last := ""
	end := func() {
		data, _ := json.Marshal(streamEnd{Reason: "timeout", LastEventID: last})
		fmt.Fprintf(w, "event: end\ndata: %s\n\n", data)
		_ = rc.Flush()
	}
	for {
		select {
		case m := <-msgs:
			if m.err != nil {
				if ctx.Err() != nil || status.Code(m.err) == codes.DeadlineExceeded || errors.Is(m.err, context.DeadlineExceeded) {
					if r.Context().Err() == nil {
						end()
					}
					return
				}
				e := fromRPC(callEvents, channel, cc, m.err)
				if e.Details == nil {
					e.Details = []Detail{}
				}
				data, _ := json.Marshal(e)
				fmt.Fprintf(w, "event: error\ndata: %s\n\n", data)
				_ = rc.Flush()
				return
			}
			for _, ev := range m.resp.GetEvents() {
				p := newResult(ev.Payload)
				out := chaincodeEvent{
					BlockNumber: m.resp.BlockNumber, TxID: ev.TxId, Chaincode: ev.ChaincodeId, EventName: ev.EventName,
					Payload: p.Result, PayloadBase64: p.ResultBase64, PayloadJSON: p.ResultJSON,
				}
				data, _ := json.Marshal(out)
				last = fmt.Sprintf("%d:%s", m.resp.BlockNumber, ev.TxId)
				fmt.Fprintf(w, "id: %s\ndata: %s\n\n", last, data)
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-tick.C:
			fmt.Fprint(w, ": heartbeat\n\n")
			if err := rc.Flush(); err != nil {
				return
			}
		case <-ctx.Done():
			if r.Context().Err() == nil {
				end()
			}
			return
		}
	}
}
