package restgateway

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// invokeRequest is the body of evaluate, submit and prepare.
type invokeRequest struct {
	Function      string            `json:"function"`
	Args          []string          `json:"args"`
	Transient     map[string]string `json:"transient"`
	EndorsingOrgs []string          `json:"endorsingOrgs"`
	// Identity is only for prepare (the client's certificate).
	Identity *clientIdentity `json:"identity,omitempty"`
}

func (q *invokeRequest) check() *Error {
	if q.Function == "" {
		e := apiErr(CodeBadRequest, "field \"function\" is empty: name the chaincode function to call")
		e.Details = []Detail{{Field: "function"}}
		return e
	}
	return nil
}

func (q *invokeRequest) chaincodeArgs() [][]byte {
	args := [][]byte{[]byte(q.Function)}
	for _, a := range q.Args {
		args = append(args, []byte(a))
	}
	return args
}

func (q *invokeRequest) transientMap() map[string][]byte {
	if len(q.Transient) == 0 {
		return nil
	}
	m := make(map[string][]byte, len(q.Transient))
	for k, v := range q.Transient {
		m[k] = []byte(v)
	}
	return m
}

// Fabric's channel and chaincode name rules.
var (
	channelNameRE   = regexp.MustCompile(`^[a-z][a-z0-9.-]*$`)
	chaincodeNameRE = regexp.MustCompile(`^[a-zA-Z0-9]+([-_.][a-zA-Z0-9]+)*$`)
)

func pathChannel(r *http.Request) (string, *Error) {
	ch := r.PathValue("channel")
	if len(ch) > 249 || !channelNameRE.MatchString(ch) {
		e := apiErr(CodeBadRequest, "%q is not a valid channel name: lower-case letters, digits, '.' and '-', starting with a letter", ch)
		e.Details = []Detail{{Field: "channel"}}
		return "", e
	}
	return ch, nil
}

func pathChaincode(r *http.Request) (channel, chaincode string, e *Error) {
	if channel, e = pathChannel(r); e != nil {
		return "", "", e
	}
	cc := r.PathValue("chaincode")
	if !chaincodeNameRE.MatchString(cc) {
		e := apiErr(CodeBadRequest, "%q is not a valid chaincode name: letters and digits, separated by '-', '_' or '.'", cc)
		e.Details = []Detail{{Field: "chaincode"}}
		return "", "", e
	}
	return channel, cc, nil
}

func queryBool(r *http.Request, name string) (bool, *Error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		e := apiErr(CodeBadRequest, "query parameter %s=%q is not true or false", name, raw)
		e.Details = []Detail{{Field: name}}
		return false, e
	}
	return v, nil
}

func queryDuration(r *http.Request, name string, def, max time.Duration) (time.Duration, *Error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 0 {
		e := apiErr(CodeBadRequest, "query parameter %s=%q is not a duration such as 5s", name, raw)
		e.Details = []Detail{{Field: name}}
		return 0, e
	}
	return min(d, max), nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// evaluateResponse is the answer of evaluate.
type evaluateResponse struct {
	TxID string `json:"txId"`
	result
}

// walletCall is an evaluate or submit request, its proposal signed by the
// request's wallet identity.
type walletCall struct {
	channel, cc, txID string
	req               invokeRequest
	signer            *msp.SigningIdentity
	sp                *pb.SignedProposal
}

// newWalletCall reads and checks the body of evaluate or submit (op) and
// builds the proposal.
func (s *Server) newWalletCall(w http.ResponseWriter, r *http.Request, op string) (*walletCall, *Error) {
	c := &walletCall{}
	var e *Error
	if c.channel, c.cc, e = pathChaincode(r); e != nil {
		return nil, e
	}
	if e := s.decodeBody(w, r, &c.req); e != nil {
		return nil, e
	}
	if c.req.Identity != nil {
		return nil, apiErr(CodeBadJSON, "field \"identity\" belongs to prepare only; %s signs with a wallet identity (%s header)", op, IdentityHeader)
	}
	if e := c.req.check(); e != nil {
		return nil, e
	}
	if c.signer, e = s.signer(r); e != nil {
		return nil, e
	}
	var err error
	if c.sp, c.txID, err = protos.NewProposal(c.signer, c.channel, c.cc, c.req.chaincodeArgs(), c.req.transientMap()); err != nil {
		return nil, apiErr(CodeInternal, "build proposal: %v", err)
	}
	return c, nil
}

func (s *Server) handleEvaluate(w http.ResponseWriter, r *http.Request) {
	c, e := s.newWalletCall(w, r, "evaluate")
	if e != nil {
		writeError(w, e)
		return
	}
	channel, cc, txID, sp, req := c.channel, c.cc, c.txID, c.sp, c.req
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeouts.Evaluate)
	defer cancel()
	resp, err := s.gw.Evaluate(ctx, &gwpb.EvaluateRequest{TransactionId: txID, ChannelId: channel, ProposedTransaction: sp, TargetOrganizations: req.EndorsingOrgs})
	if err != nil {
		writeError(w, fromRPC(callEvaluate, channel, cc, err))
		return
	}
	if st := resp.GetResult().GetStatus(); st >= 400 {
		writeError(w, apiErr(CodeChaincodeError, "chaincode %s on channel %s answered status %d: %s", cc, channel, st, resp.GetResult().GetMessage()))
		return
	}
	writeJSON(w, http.StatusOK, evaluateResponse{TxID: txID, result: newResult(resp.GetResult().GetPayload())})
}

// Transaction states in responses.
const (
	stateSubmitted = "SUBMITTED" // accepted by the ordering service, not known committed yet
	statePending   = "PENDING"   // not committed within the wait
	stateCommitted = "COMMITTED" // in a block, with its validation code
)

// txResponse is the answer of submit and commit.
type txResponse struct {
	TxID           string  `json:"txId"`
	Status         string  `json:"status"`
	ValidationCode string  `json:"validationCode,omitempty"`
	BlockNumber    *uint64 `json:"blockNumber,omitempty"`
	StatusURL      string  `json:"statusUrl"`
	*result
}

func statusURL(channel, txID string) string {
	return "/v1/channels/" + url.PathEscape(channel) + "/transactions/" + url.PathEscape(txID) + "/status"
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	async, e := queryBool(r, "async")
	if e != nil {
		writeError(w, e)
		return
	}
	c, e := s.newWalletCall(w, r, "submit")
	if e != nil {
		writeError(w, e)
		return
	}
	channel, cc, txID, sp, req, signer := c.channel, c.cc, c.txID, c.sp, c.req, c.signer
	env, e := s.endorse(r.Context(), channel, cc, txID, sp, req.EndorsingOrgs)
	if e != nil {
		writeError(w, e)
		return
	}
	res := newResult(envelopeResult(env))
	sig, err := signer.Sign(env.Payload)
	if err != nil {
		writeError(w, apiErr(CodeInternal, "sign transaction %s: %v", txID, err))
		return
	}
	env.Signature = sig
	if e := s.submit(r.Context(), channel, txID, env); e != nil {
		writeError(w, e)
		return
	}
	out := txResponse{TxID: txID, Status: stateSubmitted, StatusURL: statusURL(channel, txID), result: &res}
	if async {
		w.Header().Set("Location", out.StatusURL)
		writeJSON(w, http.StatusAccepted, out)
		return
	}
	s.finishCommit(w, r, signer, channel, &out)
}

// finishCommit waits for the transaction's commit and answers 200 with its
// validation code and block, or the error of an invalid transaction.
func (s *Server) finishCommit(w http.ResponseWriter, r *http.Request, signer protos.Signer, channel string, out *txResponse) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeouts.CommitStatus)
	defer cancel()
	st, err := s.commitStatus(ctx, signer, channel, out.TxID)
	if err != nil {
		e := fromRPC(callCommitStatus, channel, "", err)
		if e.Code == CodeTimeout || ctx.Err() != nil {
			e = apiErr(CodeTimeout, "transaction %s was accepted by the ordering service but not committed within %s (restgateway.timeouts.commitStatus); follow it at %s",
				out.TxID, s.opts.Timeouts.CommitStatus, out.StatusURL)
		}
		e.Details = append(e.Details, Detail{TxID: out.TxID})
		writeError(w, e)
		return
	}
	if e := validationError(out.TxID, st.Result, st.BlockNumber); e != nil {
		s.explain(r.Context(), signer, channel, out.TxID, st.Result, st.BlockNumber, e)
		writeError(w, e)
		return
	}
	n := st.BlockNumber
	out.Status, out.ValidationCode, out.BlockNumber = stateCommitted, st.Result.String(), &n
	writeJSON(w, http.StatusOK, out)
}

// endorse asks the peer's Gateway service to endorse a signed proposal and
// returns the prepared, unsigned envelope.
func (s *Server) endorse(ctx context.Context, channel, cc, txID string, sp *pb.SignedProposal, orgs []string) (*cb.Envelope, *Error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeouts.Endorse)
	defer cancel()
	resp, err := s.gw.Endorse(ctx, &gwpb.EndorseRequest{TransactionId: txID, ChannelId: channel, ProposedTransaction: sp, EndorsingOrganizations: orgs})
	if err != nil {
		return nil, fromRPC(callEndorse, channel, cc, err)
	}
	env := resp.GetPreparedTransaction()
	if env == nil || len(env.Payload) == 0 {
		return nil, apiErr(CodeUpstreamError, "the peer's Gateway service endorsed transaction %s but returned no prepared transaction", txID)
	}
	return env, nil
}

// submit sends a signed envelope to the ordering service through the peer.
func (s *Server) submit(ctx context.Context, channel, txID string, env *cb.Envelope) *Error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeouts.Submit)
	defer cancel()
	if _, err := s.gw.Submit(ctx, &gwpb.SubmitRequest{TransactionId: txID, ChannelId: channel, PreparedTransaction: env}); err != nil {
		e := fromRPC(callSubmit, channel, "", err)
		e.Details = append(e.Details, Detail{TxID: txID})
		return e
	}
	return nil
}

// commitStatus asks the peer's Gateway service, with a request signed by
// signer, for the outcome of txID; it waits until the transaction commits or
// ctx ends.
func (s *Server) commitStatus(ctx context.Context, signer protos.Signer, channel, txID string) (*gwpb.CommitStatusResponse, error) {
	creator, err := signer.Serialize()
	if err != nil {
		return nil, err
	}
	req := protos.Marshal(&gwpb.CommitStatusRequest{TransactionId: txID, ChannelId: channel, Identity: creator})
	sig, err := signer.Sign(req)
	if err != nil {
		return nil, err
	}
	return s.gw.CommitStatus(ctx, &gwpb.SignedCommitStatusRequest{Request: req, Signature: sig})
}

// envelopeResult digs the chaincode's response payload out of a prepared
// transaction (the endorsed ChaincodeAction), or nil.
func envelopeResult(env *cb.Envelope) []byte {
	payload := &cb.Payload{}
	if proto.Unmarshal(env.GetPayload(), payload) != nil {
		return nil
	}
	tx := &pb.Transaction{}
	if proto.Unmarshal(payload.GetData(), tx) != nil || len(tx.GetActions()) == 0 {
		return nil
	}
	cap := &pb.ChaincodeActionPayload{}
	if proto.Unmarshal(tx.Actions[0].GetPayload(), cap) != nil {
		return nil
	}
	prp := &pb.ProposalResponsePayload{}
	if proto.Unmarshal(cap.GetAction().GetProposalResponsePayload(), prp) != nil {
		return nil
	}
	act := &pb.ChaincodeAction{}
	if proto.Unmarshal(prp.GetExtension(), act) != nil {
		return nil
	}
	return act.GetResponse().GetPayload()
}

// statusResponse is the answer of the transaction status route.
type statusResponse struct {
	TxID           string  `json:"txId"`
	Status         string  `json:"status"`
	ValidationCode string  `json:"validationCode,omitempty"`
	BlockNumber    *uint64 `json:"blockNumber,omitempty"`
}

// minStatusWait keeps a wait of 0 long enough for the peer to look in its ledger.
const minStatusWait = 500 * time.Millisecond

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	channel, e := pathChannel(r)
	if e != nil {
		writeError(w, e)
		return
	}
	txID := r.PathValue("txId")
	wait, e := queryDuration(r, "wait", time.Second, s.opts.Timeouts.CommitStatus)
	if e != nil {
		writeError(w, e)
		return
	}
	signer, e := s.signer(r)
	if e != nil {
		writeError(w, e)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), max(wait, minStatusWait))
	defer cancel()
	st, err := s.commitStatus(ctx, signer, channel, txID)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
			writeJSON(w, http.StatusOK, statusResponse{TxID: txID, Status: statePending})
			return
		}
		writeError(w, fromRPC(callCommitStatus, channel, "", err))
		return
	}
	n := st.BlockNumber
	writeJSON(w, http.StatusOK, statusResponse{TxID: txID, Status: stateCommitted, ValidationCode: st.Result.String(), BlockNumber: &n})
}

func errorf(code string, field string, format string, args ...any) *Error {
	e := apiErr(code, format, args...)
	if field != "" {
		e.Details = []Detail{{Field: field}}
	}
	return e
}
