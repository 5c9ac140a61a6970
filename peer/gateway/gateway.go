package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	"github.com/weft-ledger/weft/discovery"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/acl"
	"github.com/weft-ledger/weft/protos"
)

// ErrChannelNotFound is wrapped by Channels lookups for a channel the peer has
// not joined.
var ErrChannelNotFound = errors.New("gateway: channel not found")

// Endorser is the local peer's endorser (peer/endorser satisfies it).
type Endorser interface {
	ProcessProposal(ctx context.Context, sp *pb.SignedProposal) (*pb.ProposalResponse, error)
}

// Policy evaluates signed data and verifies its signatures
// (channelconfig.Policy satisfies it).
type Policy interface {
	Evaluate(signed []protos.SignedData) error
}

// BlockReader is the part of a channel's block store the gateway reads
// (*ledger.BlockStore satisfies it).
type BlockReader interface {
	Height() uint64
	Block(n uint64) (*cb.Block, error)
	BlockByTxID(txID string) (*cb.Block, error)
}

// Org is one application organisation of a channel.
type Org struct {
	MSPID     string
	Endpoints []string       // its peers (anchor peers), host:port
	TLSRoots  *x509.CertPool // its TLS root and intermediate CAs
}

// Orderer is one ordering endpoint of a channel.
type Orderer struct {
	Address  string
	MSPID    string
	TLSRoots *x509.CertPool
}

// Channel is the gateway's view of one joined channel, rebuilt by the peer
// whenever the channel config changes.
type Channel struct {
	Ledger BlockReader
	// ACL returns the policy the channel's config assigns to a gateway
	// resource (acl.GatewayCommitStatus, acl.GatewayChaincodeEvents) and its
	// path; when nil, Readers guards both.
	ACL      func(resource string) (path string, p Policy, err error)
	Readers  Policy     // /Channel/Application/Readers
	Config   *cb.Config // resolves endorsement policy references (e.g. /Channel/Application/Endorsement)
	Orgs     []Org      // application organisations
	Orderers []Orderer

	// Peers lists the channel's peers as gossip knows them, this peer
	// included, each with its signed alive message and state info
	// (gossip.Service.ChannelPeers). When it is nil or lists no peer but this
	// one, discovery knows no peers and the gateway plans from the
	// chaincode's policy and the anchor peers of Orgs instead.
	Peers func() []discovery.Peer
	// Discovery is what service discovery reads of the channel (its config
	// bundle and committed chaincode definitions) to compute endorsers.
	Discovery discovery.Channel
	// Self is this peer's serialized identity, which tells it apart in Peers:
	// it endorses in process, not over the network.
	Self []byte
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

// Channels finds a joined channel, wrapping ErrChannelNotFound when the peer
// has not joined it.
type Channels interface {
	Channel(channelID string) (*Channel, error)
}

// ChannelsFunc adapts a function to Channels.
type ChannelsFunc func(channelID string) (*Channel, error)

// Channel calls f.
func (f ChannelsFunc) Channel(channelID string) (*Channel, error) { return f(channelID) }

// Chaincodes tells the endorsement policy of a chaincode defined on a channel
// (from its _lifecycle definition: a marshalled pb.ApplicationPolicy).
type Chaincodes interface {
	EndorsementPolicy(channelID, chaincode string) (*pb.ApplicationPolicy, error)
}

// ChaincodesFunc adapts a function to Chaincodes.
type ChaincodesFunc func(channelID, chaincode string) (*pb.ApplicationPolicy, error)

// EndorsementPolicy calls f.
func (f ChaincodesFunc) EndorsementPolicy(channelID, chaincode string) (*pb.ApplicationPolicy, error) {
	return f(channelID, chaincode)
}

// Config holds a Server's dependencies and settings.
type Config struct {
	MSPID      string   // the local peer's organisation
	Endpoint   string   // the local peer's address, reported in error details
	Endorser   Endorser // the local peer's endorser
	Channels   Channels
	Chaincodes Chaincodes
	Notifier   *CommitNotifier
	// ClientCert, if set, is presented to other peers and orderers (mutual TLS).
	ClientCert *tls.Certificate
	// EndorseTimeout bounds each remote endorsement, BroadcastTimeout each
	// orderer broadcast (defaults 30s and 30s).
	EndorseTimeout, BroadcastTimeout time.Duration
	Logger                           *slog.Logger
}

// Server implements gwpb.GatewayServer.
type Server struct {
	gwpb.UnimplementedGatewayServer
	cfg   Config
	log   *slog.Logger
	conns *connPool
	// beforeRemote, when set, runs in each organisation's endorsement
	// goroutine before it asks that organisation: a seam for tests.
	beforeRemote func(mspID string)
}

// New checks cfg and returns a gateway server. Close it to release its
// connections to other nodes.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.MSPID == "":
		return nil, fmt.Errorf("gateway: MSPID (the local organisation) is empty")
	case cfg.Endorser == nil:
		return nil, fmt.Errorf("gateway: Endorser (the local peer's endorser) is nil")
	case cfg.Channels == nil:
		return nil, fmt.Errorf("gateway: Channels is nil")
	case cfg.Chaincodes == nil:
		return nil, fmt.Errorf("gateway: Chaincodes is nil")
	case cfg.Notifier == nil:
		return nil, fmt.Errorf("gateway: Notifier is nil (the commit path must feed a CommitNotifier)")
	}
	if cfg.EndorseTimeout <= 0 {
		cfg.EndorseTimeout = 30 * time.Second
	}
	if cfg.BroadcastTimeout <= 0 {
		cfg.BroadcastTimeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log, conns: newConnPool(cfg.ClientCert)}, nil
}

// Close closes the connections the gateway opened to other peers and orderers.
func (s *Server) Close() error {
	return s.conns.close()
}

// channel looks a channel up and maps failures to gRPC statuses.
func (s *Server) channel(channelID string) (*Channel, error) {
	if channelID == "" {
		return nil, status.Error(codes.InvalidArgument, "request names no channel")
	}
	ch, err := s.cfg.Channels.Channel(channelID)
	if errors.Is(err, ErrChannelNotFound) {
		return nil, status.Errorf(codes.NotFound, "channel %s is not joined by this peer (%s): %v", channelID, s.cfg.Endpoint, err)
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "channel %s: %v", channelID, err)
	}
	return ch, nil
}

// rpcError builds a status carrying one ErrorDetail per failed endpoint.
func rpcError(code codes.Code, msg string, details ...*gwpb.ErrorDetail) error {
	st := status.New(code, msg)
	if len(details) == 0 {
		return st.Err()
	}
	msgs := make([]protoadapt.MessageV1, 0, len(details))
	for _, d := range details {
		msgs = append(msgs, protoadapt.MessageV1Of(d))
	}
	if std, err := st.WithDetails(msgs...); err == nil {
		return std.Err()
	}
	return st.Err()
}

// checkSignedRequest verifies a CommitStatus / ChaincodeEvents request: the
// signature by the request's identity over the request bytes, then the
// channel's ACL for resource (gateway/CommitStatus, gateway/ChaincodeEvents,
// as Fabric's gateway checks; by default the channel's Readers).
func checkSignedRequest(ch *Channel, channelID, resource string, request, identity, signature []byte) error {
	if err := verifySignature(request, identity, signature); err != nil {
		return status.Errorf(codes.PermissionDenied, "request signature rejected: %v", err)
	}
	if err := msp.CheckExpiry(identity, time.Now()); err != nil {
		return status.Errorf(codes.PermissionDenied, "request refused: %v", err)
	}
	if err := authorize(ch.policy, channelID, resource, protos.SignedData{Data: request, Identity: identity, Signature: signature}); err != nil {
		return status.Error(codes.PermissionDenied, err.Error())
	}
	return nil
}

// authorize evaluates signed against the policy guarding resource; the
// error names the identity, the resource and the policy.
func authorize(policy func(string) (string, Policy, error), channelID, resource string, signed protos.SignedData) error {
	path, pol, err := policy(resource)
	if err == nil {
		err = pol.Evaluate([]protos.SignedData{signed})
	}
	if err != nil {
		return acl.Denied(channelID, resource, path, signed.Identity, err)
	}
	return nil
}

// verifySignature checks an ECDSA signature over SHA-256(msg) by the
// certificate in a serialized identity. It does not validate the certificate
// chain: the Readers policy does.
func verifySignature(msg, identity, signature []byte) error {
	id := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(identity, id); err != nil {
		return fmt.Errorf("decode msp.SerializedIdentity: %w", err)
	}
	blk, _ := pem.Decode(id.IdBytes)
	if blk == nil {
		return fmt.Errorf("identity of %s holds no PEM certificate", id.Mspid)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("parse certificate of %s identity: %w", id.Mspid, err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("certificate of %s identity %q has a %T key, want ECDSA", id.Mspid, cert.Subject.CommonName, cert.PublicKey)
	}
	digest := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(pub, digest[:], signature) {
		return fmt.Errorf("signature by %s identity %q does not verify", id.Mspid, cert.Subject.CommonName)
	}
	return nil
}

// proposalResult returns the chaincode's result as the client expects it: the
// response payload recorded in the endorsed chaincode action.
func proposalResult(pr *pb.ProposalResponse) *pb.Response {
	resp := proto.Clone(pr.GetResponse()).(*pb.Response)
	prp := &pb.ProposalResponsePayload{}
	if err := proto.Unmarshal(pr.GetPayload(), prp); err != nil {
		return resp
	}
	act := &pb.ChaincodeAction{}
	if err := proto.Unmarshal(prp.GetExtension(), act); err != nil || act.GetResponse() == nil {
		return resp
	}
	resp.Payload = act.GetResponse().GetPayload()
	return resp
}

// responseFailure describes a failed endorsement, or "" when pr succeeded.
func responseFailure(pr *pb.ProposalResponse, err error) string {
	if err != nil {
		if st, ok := status.FromError(err); ok {
			return st.Message()
		}
		return err.Error()
	}
	if pr.GetResponse() == nil {
		return "endorser returned no response"
	}
	if c := pr.GetResponse().GetStatus(); c < 200 || c >= 400 {
		return fmt.Sprintf("chaincode response %d, %s", c, pr.GetResponse().GetMessage())
	}
	return ""
}

// Evaluate runs the proposal on the local peer, or when gossip knows the
// channel's peers on the best peer that can answer (evaluateDiscovered), and
// returns the chaincode's response without ordering it.
func (s *Server) Evaluate(ctx context.Context, req *gwpb.EvaluateRequest) (*gwpb.EvaluateResponse, error) {
	prop, err := protos.ParseProposal(req.GetProposedTransaction())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "failed to unpack transaction proposal: %v", err)
	}
	ch, err := s.channel(prop.ChannelHeader.ChannelId)
	if err != nil {
		return nil, err
	}
	if v := s.view(ch); v != nil {
		log := s.log.With("channel", prop.ChannelHeader.ChannelId, "chaincode", prop.ChaincodeName(), "txid", prop.ChannelHeader.TxId)
		return s.evaluateDiscovered(ctx, v, prop, req.GetProposedTransaction(), req.GetTargetOrganizations(), log)
	}
	pr, err := s.cfg.Endorser.ProcessProposal(ctx, req.GetProposedTransaction())
	if msg := responseFailure(pr, err); msg != "" {
		s.log.Debug("evaluate failed", "channel", prop.ChannelHeader.ChannelId, "chaincode", prop.ChaincodeName(), "txid", prop.ChannelHeader.TxId, "reason", msg)
		return nil, rpcError(codes.Aborted, "evaluate call to endorser returned error: "+msg,
			&gwpb.ErrorDetail{Address: s.cfg.Endpoint, MspId: s.cfg.MSPID, Message: msg})
	}
	return &gwpb.EvaluateResponse{Result: proposalResult(pr)}, nil
}
