package restgateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Stable error codes of the API. Clients branch on these, never on messages.
const (
	CodeBadJSON           = "BAD_JSON"           // the body is not the expected JSON
	CodeBadRequest        = "BAD_REQUEST"        // a parameter or field is missing or malformed
	CodeBodyTooLarge      = "BODY_TOO_LARGE"     // the body exceeds restgateway.bodyLimit
	CodeUnknownChannel    = "UNKNOWN_CHANNEL"    // the peer has not joined the channel
	CodeUnknownChaincode  = "UNKNOWN_CHAINCODE"  // the chaincode is not defined on the channel
	CodeNoIdentity        = "NO_IDENTITY"        // the caller's credential is bound to no wallet identity
	CodeBadSignature      = "BAD_SIGNATURE"      // a client signature does not verify
	CodeForbidden         = "FORBIDDEN"          // an access policy refused the identity
	CodeNotFound          = "NOT_FOUND"          // no such block, transaction or route
	CodeMethodNotAllowed  = "METHOD_NOT_ALLOWED" // the route exists with another method
	CodeChaincodeError    = "CHAINCODE_ERROR"    // evaluate: the chaincode returned an error
	CodeEndorsementFailed = "ENDORSEMENT_FAILED" // submit: endorsement failed (details per organisation)
	CodeOrdererRejected   = "ORDERER_REJECTED"   // the ordering service refused the transaction
	CodeMVCCConflict      = "MVCC_CONFLICT"      // committed invalid: a key read changed before commit
	CodePolicyFailure     = "POLICY_FAILURE"     // committed invalid: endorsement policy not satisfied
	CodeDuplicateTxID     = "DUPLICATE_TXID"     // committed invalid: the TxID was used before
	CodeTxInvalid         = "TX_INVALID"         // committed invalid for another reason
	CodeTimeout           = "TIMEOUT"            // the peer did not answer in time
	CodeUnavailable       = "UNAVAILABLE"        // the peer or the ordering service cannot be reached
	CodeUpstreamError     = "UPSTREAM_ERROR"     // the peer failed in an unexpected way
	CodeInternal          = "INTERNAL"           // the REST gateway itself failed

	// Refusals of the REST gateway's own guards (see docs/restgateway.md).
	CodeUnauthenticated      = "UNAUTHENTICATED"        // no credential, or one the REST gateway does not know
	CodeIdentityNotAllowed   = "IDENTITY_NOT_ALLOWED"   // X-Weft-Identity names another identity than the credential's
	CodeOriginNotAllowed     = "ORIGIN_NOT_ALLOWED"     // a browser request from an origin not in restgateway.http.allowedOrigins
	CodeHostNotAllowed       = "HOST_NOT_ALLOWED"       // the Host header is not in restgateway.http.allowedHosts
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE" // a request body that is not Content-Type: application/json
	CodeTooManyStreams       = "TOO_MANY_STREAMS"       // restgateway.events.maxStreams (or the per-credential cap) reached
)

// codeStatus is the HTTP status of each error code.
var codeStatus = map[string]int{
	CodeBadJSON:           http.StatusBadRequest,
	CodeBadRequest:        http.StatusBadRequest,
	CodeBodyTooLarge:      http.StatusRequestEntityTooLarge,
	CodeUnknownChannel:    http.StatusNotFound,
	CodeUnknownChaincode:  http.StatusNotFound,
	CodeNoIdentity:        http.StatusBadRequest,
	CodeBadSignature:      http.StatusBadRequest,
	CodeForbidden:         http.StatusForbidden,
	CodeNotFound:          http.StatusNotFound,
	CodeMethodNotAllowed:  http.StatusMethodNotAllowed,
	CodeChaincodeError:    http.StatusUnprocessableEntity,
	CodeEndorsementFailed: http.StatusUnprocessableEntity,
	CodeOrdererRejected:   http.StatusUnprocessableEntity,
	CodeMVCCConflict:      http.StatusConflict,
	CodePolicyFailure:     http.StatusForbidden,
	CodeDuplicateTxID:     http.StatusConflict,
	CodeTxInvalid:         http.StatusUnprocessableEntity,
	CodeTimeout:           http.StatusGatewayTimeout,
	CodeUnavailable:       http.StatusServiceUnavailable,
	CodeUpstreamError:     http.StatusBadGateway,
	CodeInternal:          http.StatusInternalServerError,

	CodeUnauthenticated:      http.StatusUnauthorized,
	CodeIdentityNotAllowed:   http.StatusForbidden,
	CodeOriginNotAllowed:     http.StatusForbidden,
	CodeHostNotAllowed:       http.StatusMisdirectedRequest,
	CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	CodeTooManyStreams:       http.StatusServiceUnavailable,
}

// Detail is one element of an error's details: a peer or orderer that
// failed (address, mspId, message), a request field, or a committed
// transaction's outcome.
type Detail struct {
	Address        string  `json:"address,omitempty"`
	MSPID          string  `json:"mspId,omitempty"`
	Message        string  `json:"message,omitempty"`
	Field          string  `json:"field,omitempty"`
	TxID           string  `json:"txId,omitempty"`
	ValidationCode string  `json:"validationCode,omitempty"`
	BlockNumber    *uint64 `json:"blockNumber,omitempty"`

	// Why a committed transaction is invalid, best effort. MVCC_CONFLICT: the
	// key read (namespace, key, readVersion "block:tx", absent when the key
	// did not exist) and the valid transaction that wrote it first.
	Namespace        string  `json:"namespace,omitempty"`
	Key              string  `json:"key,omitempty"`
	ReadVersion      string  `json:"readVersion,omitempty"`
	ConflictingTxID  string  `json:"conflictingTxId,omitempty"`
	ConflictingBlock *uint64 `json:"conflictingBlock,omitempty"`
	// POLICY_FAILURE: the MSP IDs that endorsed and the chaincode's
	// endorsement policy (policy language, or a channel config policy path).
	Endorsers []string `json:"endorsers,omitempty"`
	Policy    string   `json:"policy,omitempty"`
}

// Error is the JSON body of every failed request.
type Error struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Details []Detail `json:"details"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// status is the HTTP status of e.
func (e *Error) status() int {
	if s, ok := codeStatus[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func apiErr(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.Details == nil {
		e.Details = []Detail{}
	}
	writeJSON(w, e.status(), e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// call names the Gateway service operation an RPC error came from; it decides how a
// chaincode failure is reported.
type call int

const (
	callEvaluate call = iota
	callEndorse
	callSubmit
	callCommitStatus
	callEvents
	callQuery // qscc
)

var (
	chaincodeStatusRE = regexp.MustCompile(`chaincode response (\d{3})`)
	// Messages by which Weft's and Fabric's peers say a chaincode is not
	// defined on a channel.
	unknownChaincodeMarks = []string{
		"is not defined on channel",
		"no endorsement policy for chaincode",
		"make sure the chaincode",
		"chaincode definition for",
		"could not find chaincode with name",
		// A gateway planning from service discovery (Fabric's, and Weft's
		// with gossip) says it this way.
		"no metadata was found for chaincode",
	}
)

// fromRPC turns a failed gRPC call to the peer's Gateway into an API error
// that keeps every gateway.ErrorDetail (which peer of which organisation
// failed and why).
func fromRPC(c call, channel, chaincode string, err error) *Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return apiErr(CodeTimeout, "the peer did not answer in time: %v", err)
	}
	st := status.Convert(err)
	var details []Detail
	var texts []string
	for _, d := range st.Details() {
		if ed, ok := d.(*gwpb.ErrorDetail); ok {
			details = append(details, Detail{Address: ed.Address, MSPID: ed.MspId, Message: ed.Message})
			texts = append(texts, ed.Message)
		}
	}
	msg := st.Message()
	if len(details) > 0 {
		var parts []string
		for _, d := range details {
			who := d.MSPID
			if d.Address != "" {
				who += " (" + d.Address + ")"
			}
			parts = append(parts, strings.TrimSpace(who)+": "+d.Message)
		}
		msg += ": " + strings.Join(parts, "; ")
	}
	all := strings.ToLower(msg + " " + strings.Join(texts, " "))
	e := &Error{Message: msg, Details: details}
	ccStatus := 0
	if m := chaincodeStatusRE.FindStringSubmatch(all); m != nil {
		ccStatus, _ = strconv.Atoi(m[1])
	}
	switch {
	case st.Code() == codes.NotFound && strings.Contains(all, "channel"),
		strings.Contains(all, "is not joined by this peer"),
		strings.Contains(all, "channel "+strings.ToLower(channel)+" not found"):
		e.Code = CodeUnknownChannel
	case c != callQuery && containsAny(all, unknownChaincodeMarks):
		e.Code = CodeUnknownChaincode
		e.Message = fmt.Sprintf("chaincode %s is not defined on channel %s: %s", chaincode, channel, msg)
	case st.Code() == codes.PermissionDenied && strings.Contains(all, "signature"):
		e.Code = CodeBadSignature
	case st.Code() == codes.PermissionDenied, strings.Contains(all, "access denied"), ccStatus == 403:
		e.Code = CodeForbidden
	case st.Code() == codes.DeadlineExceeded:
		e.Code = CodeTimeout
	case st.Code() == codes.Unavailable:
		e.Code = CodeUnavailable
	case st.Code() == codes.InvalidArgument:
		e.Code = CodeBadRequest
	case c == callQuery && (ccStatus == 404 || strings.Contains(all, "not found")):
		e.Code = CodeNotFound
	case c == callQuery && ccStatus == 400:
		e.Code = CodeBadRequest
	case c == callEvaluate && (st.Code() == codes.Aborted || st.Code() == codes.Unknown && len(details) > 0):
		e.Code = CodeChaincodeError
	case c == callEndorse && (st.Code() == codes.Aborted || st.Code() == codes.FailedPrecondition):
		e.Code = CodeEndorsementFailed
	case c == callSubmit && st.Code() == codes.Aborted:
		e.Code = CodeOrdererRejected
	default:
		e.Code = CodeUpstreamError
	}
	return e
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// validationError reports a transaction committed with a code other than
// VALID, or nil for VALID.
func validationError(txID string, code pb.TxValidationCode, block uint64) *Error {
	if code == pb.TxValidationCode_VALID {
		return nil
	}
	b := block
	d := Detail{TxID: txID, ValidationCode: code.String(), BlockNumber: &b}
	var apiCode, why string
	switch code {
	case pb.TxValidationCode_MVCC_READ_CONFLICT, pb.TxValidationCode_PHANTOM_READ_CONFLICT:
		apiCode, why = CodeMVCCConflict, "a key or range it read was changed by an earlier transaction before it committed; submit it again"
	case pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE:
		apiCode, why = CodePolicyFailure, "its endorsements do not satisfy the chaincode's endorsement policy; endorse with the organisations the policy names"
	case pb.TxValidationCode_DUPLICATE_TXID:
		apiCode, why = CodeDuplicateTxID, "a transaction with the same ID was committed before"
	default:
		apiCode, why = CodeTxInvalid, "the committing peer marked it invalid"
	}
	return &Error{
		Code:    apiCode,
		Message: fmt.Sprintf("transaction %s was committed in block %d with validation code %s: %s", txID, block, code, why),
		Details: []Detail{d},
	}
}
