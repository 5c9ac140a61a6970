package restgateway

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// The client-signed flow follows the offline signing of Fabric's
// fabric-gateway clients: prepare returns a serialized
// gateway.ProposedTransaction and the SHA-256 digest of its proposal bytes;
// the client signs the digest (ECDSA, DER, low-S) and posts both to endorse,
// which returns a serialized gateway.PreparedTransaction and the digest of its
// envelope payload; the client signs that and posts both to commit. The REST
// gateway verifies each signature against the certificate in the message
// before passing it on, and never sees a private key.

// clientIdentity is the client's X.509 identity in prepare.
type clientIdentity struct {
	MSPID       string `json:"mspId"`
	Certificate string `json:"certificate"` // PEM
}

// certOnly serializes a client's identity for a proposal the client signs
// later. Sign returns no signature: prepare hands the proposal out unsigned.
type certOnly struct{ serialized []byte }

func (c certOnly) Serialize() ([]byte, error)  { return c.serialized, nil }
func (c certOnly) Sign([]byte) ([]byte, error) { return nil, nil }

type prepareResponse struct {
	TxID       string `json:"txId"`
	Proposal   string `json:"proposal"` // base64 gateway.ProposedTransaction
	Digest     string `json:"digest"`   // base64 SHA-256 of the proposal bytes: sign this
	EndorseURL string `json:"endorseUrl"`
}

type signedRequest struct {
	Proposal    string `json:"proposal,omitempty"`
	Transaction string `json:"transaction,omitempty"`
	Signature   string `json:"signature"`
}

type endorseResponse struct {
	TxID        string `json:"txId"`
	Transaction string `json:"transaction"` // base64 gateway.PreparedTransaction
	Digest      string `json:"digest"`      // base64 SHA-256 of the envelope payload: sign this
	CommitURL   string `json:"commitUrl"`
	result
}

func txURL(channel, txID, op string) string {
	return "/v1/channels/" + url.PathEscape(channel) + "/transactions/" + url.PathEscape(txID) + "/" + op
}

func digest(b []byte) string {
	d := sha256.Sum256(b)
	return b64(d[:])
}

func (s *Server) handlePrepare(w http.ResponseWriter, r *http.Request) {
	channel, cc, e := pathChaincode(r)
	if e != nil {
		writeError(w, e)
		return
	}
	var req invokeRequest
	if e := s.decodeBody(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	if e := req.check(); e != nil {
		writeError(w, e)
		return
	}
	if req.Identity == nil || req.Identity.MSPID == "" || req.Identity.Certificate == "" {
		writeError(w, errorf(CodeBadRequest, "identity", "field \"identity\" needs mspId and certificate (the PEM certificate the client signs with)"))
		return
	}
	cert, err := parseCertificatePEM([]byte(req.Identity.Certificate))
	if err != nil {
		writeError(w, errorf(CodeBadRequest, "identity.certificate", "identity.certificate: %v", err))
		return
	}
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
		writeError(w, errorf(CodeBadRequest, "identity.certificate", "identity.certificate holds a %T key; only ECDSA is supported", cert.PublicKey))
		return
	}
	id := msp.NewIdentity(req.Identity.MSPID, cert)
	sp, txID, err := protos.NewProposal(certOnly{id.Serialized}, channel, cc, req.chaincodeArgs(), req.transientMap())
	if err != nil {
		writeError(w, apiErr(CodeInternal, "build proposal: %v", err))
		return
	}
	sp.Signature = nil
	pt := &gwpb.ProposedTransaction{TransactionId: txID, Proposal: sp, EndorsingOrganizations: req.EndorsingOrgs}
	writeJSON(w, http.StatusOK, prepareResponse{
		TxID: txID, Proposal: b64(protos.Marshal(pt)), Digest: digest(sp.ProposalBytes), EndorseURL: txURL(channel, txID, "endorse"),
	})
}

// decodeSigned reads the base64 message and signature of endorse and commit.
func decodeSigned(field, msgB64, sigB64 string) (msg, sig []byte, e *Error) {
	if msgB64 == "" {
		return nil, nil, errorf(CodeBadRequest, field, "field %q is empty: send the base64 bytes returned by the previous step", field)
	}
	msg, err := base64.StdEncoding.DecodeString(msgB64)
	if err != nil {
		return nil, nil, errorf(CodeBadRequest, field, "field %q is not standard base64: %v", field, err)
	}
	if sigB64 == "" {
		return nil, nil, errorf(CodeBadSignature, "signature", "field \"signature\" is empty: sign the digest with the private key of the certificate and send the DER signature in base64")
	}
	sig, err = base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return nil, nil, errorf(CodeBadRequest, "signature", "field \"signature\" is not standard base64: %v", err)
	}
	return msg, sig, nil
}

// verifyCreator checks sig over msg by the serialized identity creator.
func verifyCreator(creator, msg, sig []byte, what string) *Error {
	id, err := msp.ParseSerializedIdentity(creator)
	if err != nil {
		return apiErr(CodeBadRequest, "the %s's creator is not an X.509 identity: %v", what, err)
	}
	if err := id.Verify(msg, sig); err != nil {
		e := apiErr(CodeBadSignature, "the signature of the %s does not verify with the certificate of %s: %v; sign the digest returned by the previous step with that certificate's private key (ECDSA over SHA-256, DER, low-S)", what, id, err)
		e.Details = []Detail{{Field: "signature", MSPID: id.MSPID}}
		return e
	}
	return nil
}

func (s *Server) handleEndorse(w http.ResponseWriter, r *http.Request) {
	channel, e := pathChannel(r)
	if e != nil {
		writeError(w, e)
		return
	}
	txID := r.PathValue("txId")
	var req signedRequest
	if e := s.decodeBody(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.Transaction != "" {
		writeError(w, errorf(CodeBadJSON, "transaction", "endorse takes \"proposal\" (from prepare); \"transaction\" belongs to commit"))
		return
	}
	raw, sig, e := decodeSigned("proposal", req.Proposal, req.Signature)
	if e != nil {
		writeError(w, e)
		return
	}
	pt := &gwpb.ProposedTransaction{}
	if err := proto.Unmarshal(raw, pt); err != nil || pt.Proposal == nil {
		writeError(w, errorf(CodeBadRequest, "proposal", "field \"proposal\" is not a serialized gateway.ProposedTransaction (as returned by prepare): %v", err))
		return
	}
	sp := pt.Proposal
	sp.Signature = sig
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		writeError(w, errorf(CodeBadRequest, "proposal", "the proposal cannot be decoded: %v", err))
		return
	}
	if e := checkTxIdentity(channel, txID, pt.TransactionId, prop.ChannelHeader); e != nil {
		writeError(w, e)
		return
	}
	if e := verifyCreator(prop.SignatureHeader.Creator, sp.ProposalBytes, sig, "proposal"); e != nil {
		writeError(w, e)
		return
	}
	env, e := s.endorse(r.Context(), channel, prop.ChaincodeName(), txID, sp, pt.EndorsingOrganizations)
	if e != nil {
		writeError(w, e)
		return
	}
	prepared := &gwpb.PreparedTransaction{TransactionId: txID, Envelope: env}
	writeJSON(w, http.StatusOK, endorseResponse{
		TxID: txID, Transaction: b64(protos.Marshal(prepared)), Digest: digest(env.Payload),
		CommitURL: txURL(channel, txID, "commit"), result: newResult(envelopeResult(env)),
	})
}

// checkTxIdentity makes sure a message belongs to the channel and the
// transaction of the URL.
func checkTxIdentity(channel, pathTxID, msgTxID string, chdr *cb.ChannelHeader) *Error {
	switch {
	case msgTxID != pathTxID:
		return errorf(CodeBadRequest, "txId", "the message is for transaction %q but the URL names %q", msgTxID, pathTxID)
	case chdr.TxId != pathTxID:
		return errorf(CodeBadRequest, "txId", "the message's channel header names transaction %q but the URL names %q", chdr.TxId, pathTxID)
	case chdr.ChannelId != channel:
		return errorf(CodeBadRequest, "channel", "the message is for channel %q but the URL names %q", chdr.ChannelId, channel)
	}
	return nil
}

func (s *Server) handleCommit(w http.ResponseWriter, r *http.Request) {
	channel, e := pathChannel(r)
	if e != nil {
		writeError(w, e)
		return
	}
	txID := r.PathValue("txId")
	async, e := queryBool(r, "async")
	if e != nil {
		writeError(w, e)
		return
	}
	var req signedRequest
	if e := s.decodeBody(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.Proposal != "" {
		writeError(w, errorf(CodeBadJSON, "proposal", "commit takes \"transaction\" (from endorse); \"proposal\" belongs to endorse"))
		return
	}
	raw, sig, e := decodeSigned("transaction", req.Transaction, req.Signature)
	if e != nil {
		writeError(w, e)
		return
	}
	prepared := &gwpb.PreparedTransaction{}
	if err := proto.Unmarshal(raw, prepared); err != nil || prepared.Envelope == nil {
		writeError(w, errorf(CodeBadRequest, "transaction", "field \"transaction\" is not a serialized gateway.PreparedTransaction (as returned by endorse): %v", err))
		return
	}
	env := prepared.Envelope
	env.Signature = sig
	parsed, err := protos.ParseEnvelope(env)
	if err != nil {
		writeError(w, errorf(CodeBadRequest, "transaction", "the prepared transaction's envelope cannot be decoded: %v", err))
		return
	}
	if e := checkTxIdentity(channel, txID, prepared.TransactionId, parsed.ChannelHeader); e != nil {
		writeError(w, e)
		return
	}
	if e := verifyCreator(parsed.SignatureHeader.Creator, env.Payload, sig, "transaction"); e != nil {
		writeError(w, e)
		return
	}
	// A synchronous commit signs its status request with a wallet identity:
	// find it before anything is submitted.
	var signer protos.Signer
	if !async {
		id, e := s.signer(r)
		if e != nil {
			e.Message += fmt.Sprintf("; waiting for the commit needs a wallet identity to sign the status request, or add ?async=true and follow %s", statusURL(channel, txID))
			writeError(w, e)
			return
		}
		signer = id
	}
	if e := s.submit(r.Context(), channel, txID, env); e != nil {
		writeError(w, e)
		return
	}
	res := newResult(envelopeResult(env))
	out := txResponse{TxID: txID, Status: stateSubmitted, StatusURL: statusURL(channel, txID), result: &res}
	if async {
		w.Header().Set("Location", out.StatusURL)
		writeJSON(w, http.StatusAccepted, out)
		return
	}
	s.finishCommit(w, r, signer, channel, &out)
}
