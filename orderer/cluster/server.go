package cluster

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Server implements orderer.ClusterServer: it authenticates the Raft
// messages of each Step stream against the consenters a Comm knows and hands
// them to a Handler.
type Server struct {
	ab.UnimplementedClusterServer
	comm    *Comm
	handler Handler
	log     *slog.Logger
}

// NewServer returns a Server checking callers against comm's channels and
// delivering their messages to h (not nil). Register it with ab.RegisterClusterServer
// on a listener whose TLS config requests client certificates.
func NewServer(comm *Comm, h Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{comm: comm, handler: h, log: log}
}

// Step serves one stream from another orderer.
func (s *Server) Step(stream grpc.BidiStreamingServer[ab.StepRequest, ab.StepResponse]) error {
	ctx := stream.Context()
	cert, addr := clientCert(ctx)
	if cert == nil {
		s.log.Warn("cluster stream refused: no TLS client certificate", "remote_addr", addr)
		return status.Error(codes.Unauthenticated, "the cluster service needs mutual TLS: dial with this orderer's TLS client certificate (a consenter's ClientTLSCert)")
	}
	subject := cert.Subject.String()
	if !s.comm.knownClient(cert.Raw) {
		s.log.Warn("cluster stream refused: certificate is no consenter's ClientTLSCert on any channel of this orderer", "cert_subject", subject, "remote_addr", addr)
		return status.Errorf(codes.PermissionDenied, "TLS client certificate %q is not the ClientTLSCert of a consenter of any channel served here", subject)
	}
	logged := map[string]bool{} // refusals already logged at Warn on this stream
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch p := req.Payload.(type) {
		case *ab.StepRequest_ConsensusRequest:
			if err := s.consensus(stream, p.ConsensusRequest, cert, subject, logged); err != nil {
				return err
			}
		case *ab.StepRequest_SubmitRequest:
			ch := p.SubmitRequest.GetChannel()
			s.log.Info("cluster submit request refused", "channel", ch, "cert_subject", subject)
			if err := stream.Send(&ab.StepResponse{Payload: &ab.StepResponse_SubmitRes{SubmitRes: &ab.SubmitResponse{
				Channel: ch,
				Status:  cb.Status_BAD_REQUEST,
				Info:    fmt.Sprintf("channel %s: this orderer does not take submissions on the cluster service; Weft forwards submissions through Raft: broadcast the envelope to any orderer of the channel", ch),
			}}}); err != nil {
				return err
			}
		default:
			s.refuse(logged, "", 0, subject, "step request has neither a consensus nor a submit request")
		}
	}
}

// consensus checks one ConsensusRequest and hands it over; a non-nil error
// ends the stream.
func (s *Server) consensus(stream grpc.BidiStreamingServer[ab.StepRequest, ab.StepResponse], req *ab.ConsensusRequest, cert *x509.Certificate, subject string, logged map[string]bool) error {
	m := &raftpb.Message{}
	if err := proto.Unmarshal(req.GetPayload(), m); err != nil {
		s.refuse(logged, req.GetChannel(), 0, subject, "payload is not a raftpb.Message: "+err.Error())
		return nil
	}
	from := m.GetFrom()
	if err := s.comm.authorize(req.GetChannel(), from, m.GetTo(), cert.Raw); err != nil {
		s.refuse(logged, req.GetChannel(), from, subject, err.Error())
		if !s.comm.knownClient(cert.Raw) {
			s.log.Warn("cluster stream closed: certificate is no longer a consenter's ClientTLSCert on any channel", "cert_subject", subject)
			return status.Errorf(codes.PermissionDenied, "TLS client certificate %q is no longer the ClientTLSCert of a consenter of any channel served here", subject)
		}
		return nil
	}
	if err := s.handler.Step(stream.Context(), req.GetChannel(), from, m); err != nil {
		s.log.Debug("cluster message not taken by the chain", "channel", req.GetChannel(), "from", from, "error", err)
	}
	return nil
}

// refuse logs a dropped message: at Warn the first time per stream for the
// same channel, id and reason, then at Debug, so a misconfigured peer does
// not flood the log.
func (s *Server) refuse(logged map[string]bool, channel string, claimed uint64, subject, reason string) {
	key := fmt.Sprintf("%s|%d|%s", channel, claimed, reason)
	level := slog.LevelWarn
	if logged[key] {
		level = slog.LevelDebug
	} else if len(logged) < 64 {
		logged[key] = true
	}
	s.log.Log(context.Background(), level, "cluster message refused", "channel", channel, "claimed_id", claimed, "cert_subject", subject, "reason", reason)
}

// clientCert returns the caller's TLS client certificate, if any, and its
// address for logs.
func clientCert(ctx context.Context) (*x509.Certificate, string) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, ""
	}
	addr := ""
	if p.Addr != nil {
		addr = p.Addr.String()
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return nil, addr
	}
	return ti.State.PeerCertificates[0], addr
}
