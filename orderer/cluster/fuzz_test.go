package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

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

// fuzzCert is a self-signed certificate, enough for Comm (which compares
// client certificates byte for byte; the TLS handshake, not run here,
// verifies chains).
func fuzzCert(tb testing.TB, cn string) (*x509.Certificate, []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// fuzzStream is the server side of a Step stream: Recv decodes the frames
// it was given as gRPC's codec would (an undecodable frame fails the
// stream, as gRPC fails it), Send records the answers.
type fuzzStream struct {
	grpc.ServerStream
	ctx    context.Context
	frames [][]byte
	sent   []*ab.StepResponse
}

var errFuzzDecode = status.Error(codes.Internal, "grpc: failed to unmarshal the received message")

func (s *fuzzStream) Context() context.Context { return s.ctx }

func (s *fuzzStream) Recv() (*ab.StepRequest, error) {
	if len(s.frames) == 0 {
		return nil, io.EOF
	}
	raw := s.frames[0]
	s.frames = s.frames[1:]
	req := &ab.StepRequest{}
	if err := proto.Unmarshal(raw, req); err != nil {
		return nil, errFuzzDecode
	}
	return req, nil
}

func (s *fuzzStream) Send(r *ab.StepResponse) error {
	s.sent = append(s.sent, r)
	return nil
}

// fuzzSink is the Handler: it records what Server hands on.
type fuzzSink struct {
	mu  sync.Mutex
	got []received
}

func (h *fuzzSink) Step(_ context.Context, channel string, from uint64, m *raftpb.Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, received{channel: channel, from: from, m: m})
	return errors.New("the fuzz sink takes no messages") // the server must carry on regardless
}

// fuzzFrames splits raw into frames, each prefixed by a 16-bit length; a
// short tail is the last frame. At most 16 frames.
func fuzzFrames(raw []byte) [][]byte {
	var out [][]byte
	for len(raw) > 0 && len(out) < 16 {
		if len(raw) < 2 {
			out = append(out, raw)
			break
		}
		n := int(binary.BigEndian.Uint16(raw))
		raw = raw[2:]
		if n > len(raw) {
			n = len(raw)
		}
		out = append(out, raw[:n])
		raw = raw[n:]
	}
	return out
}

// joinFrames is fuzzFrames' inverse, for seeds.
func joinFrames(frames ...[]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = binary.BigEndian.AppendUint16(out, uint16(len(f)))
		out = append(out, f...)
	}
	return out
}

func stepBytes(tb testing.TB, channel string, m *raftpb.Message) []byte {
	tb.Helper()
	payload, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := proto.Marshal(&ab.StepRequest{Payload: &ab.StepRequest_ConsensusRequest{ConsensusRequest: &ab.ConsensusRequest{Channel: channel, Payload: payload}}})
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// FuzzStep feeds a Step stream, as another orderer's TLS connection
// delivers it, to Server.Step: a sequence of StepRequest frames decoded as
// gRPC decodes them, from a caller presenting no certificate, a stranger's,
// or the ClientTLSCert of consenter 2 or 3 of channel "alpha" (this node is
// consenter 1). The server must hand on exactly the consensus messages
// that are for alpha, addressed to consenter 1 and sent under their
// sender's own certificate, each as its payload decodes; answer every
// submit request with BAD_REQUEST; and end the stream with the right
// status.
func FuzzStep(f *testing.F) {
	msgs := []*raftpb.Message{
		heartbeat(2, 1, 3),
		{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(2), LogTerm: proto.Uint64(1), Index: proto.Uint64(4), Commit: proto.Uint64(4),
			Entries: []*raftpb.Entry{{Term: proto.Uint64(2), Index: proto.Uint64(5), Data: []byte("envelope")}}},
		{Type: raftpb.MsgVote.Enum(), From: proto.Uint64(3), To: proto.Uint64(1), Term: proto.Uint64(9), LogTerm: proto.Uint64(8), Index: proto.Uint64(70)},
		{Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(4),
			Snapshot: &raftpb.Snapshot{Data: []byte("snap"), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(10), Term: proto.Uint64(3), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}},
		heartbeat(2, 7, 3), // addressed to another node
		heartbeat(3, 1, 3), // claims 3: passes only under 3's certificate
	}
	submit, _ := proto.Marshal(&ab.StepRequest{Payload: &ab.StepRequest_SubmitRequest{SubmitRequest: &ab.SubmitRequest{Channel: "alpha", Payload: &cb.Envelope{Payload: []byte("p")}}}})
	for i, m := range msgs {
		f.Add(joinFrames(stepBytes(f, "alpha", m)), uint8(i%4))
	}
	f.Add(joinFrames(stepBytes(f, "alpha", msgs[0]), submit, stepBytes(f, "beta", msgs[0]), stepBytes(f, "alpha", msgs[1])), uint8(2))
	f.Add(joinFrames([]byte{}, submit, []byte{0x12, 0x03, 0x0a, 0x01}), uint8(3))
	f.Add(joinFrames([]byte("\x0a\x05alpha\x12\x03\x08\xff\x01")), uint8(2))

	self, _ := fuzzCert(f, "orderer1")
	c2, pem2 := fuzzCert(f, "orderer2")
	c3, pem3 := fuzzCert(f, "orderer3")
	stranger, _ := fuzzCert(f, "stranger")
	_, pem1 := fuzzCert(f, "orderer1")
	comm, err := NewComm(CommConfig{
		Certificate: tls.Certificate{Certificate: [][]byte{self.Raw}},
		MinBackoff:  time.Hour, // the remotes are never dialled successfully; do not spin
		MaxBackoff:  time.Hour,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(comm.Close)
	members := []Member{
		{ID: 1, Endpoint: "127.0.0.1:1", ClientTLSCert: pem1},
		{ID: 2, Endpoint: "127.0.0.1:1", ClientTLSCert: pem2},
		{ID: 3, Endpoint: "127.0.0.1:1", ClientTLSCert: pem3},
	}
	if err := comm.Configure("alpha", 1, members); err != nil {
		f.Fatal(err)
	}
	callers := []*x509.Certificate{nil, stranger, c2, c3}

	f.Fuzz(func(t *testing.T, raw []byte, who uint8) {
		frames := fuzzFrames(raw)
		cert := callers[int(who)%len(callers)]
		ai := credentials.TLSInfo{}
		if cert != nil {
			ai.State.PeerCertificates = []*x509.Certificate{cert}
		}
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7050}, AuthInfo: ai})
		stream := &fuzzStream{ctx: ctx, frames: frames}
		sink := &fuzzSink{}
		srv := NewServer(comm, sink, slog.New(slog.DiscardHandler))
		err := srv.Step(stream)

		switch cert {
		case nil:
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("stream without a client certificate ended with %v, want Unauthenticated", err)
			}
		case stranger:
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("stream with a stranger's certificate ended with %v, want PermissionDenied", err)
			}
		}
		if cert == nil || cert == stranger {
			if len(sink.got) > 0 || len(stream.sent) > 0 {
				t.Fatalf("an unauthenticated stream got %d messages handed on and %d answers", len(sink.got), len(stream.sent))
			}
			return
		}
		sender := uint64(2)
		if cert == c3 {
			sender = 3
		}

		// What the server must have done, frame by frame.
		var want []*raftpb.Message
		submits := 0
		wantErr := error(nil)
		for _, fr := range frames {
			req := &ab.StepRequest{}
			if proto.Unmarshal(fr, req) != nil {
				wantErr = errFuzzDecode
				break
			}
			switch p := req.Payload.(type) {
			case *ab.StepRequest_SubmitRequest:
				submits++
			case *ab.StepRequest_ConsensusRequest:
				m := &raftpb.Message{}
				if proto.Unmarshal(p.ConsensusRequest.GetPayload(), m) != nil {
					continue
				}
				if p.ConsensusRequest.GetChannel() == "alpha" && m.GetFrom() == sender && m.GetTo() == 1 {
					want = append(want, m)
				}
			}
		}
		if !errors.Is(err, wantErr) {
			t.Fatalf("stream of %d frames ended with %v, want %v", len(frames), err, wantErr)
		}
		if len(sink.got) != len(want) {
			t.Fatalf("%d messages handed on, want %d (sender %d)", len(sink.got), len(want), sender)
		}
		for i, r := range sink.got {
			if r.channel != "alpha" || r.from != sender || !proto.Equal(r.m, want[i]) {
				t.Fatalf("message %d handed on as channel %q from %d: %v, want alpha from %d: %v", i, r.channel, r.from, r.m, sender, want[i])
			}
		}
		if len(stream.sent) != submits {
			t.Fatalf("%d answers for %d submit requests", len(stream.sent), submits)
		}
		for _, r := range stream.sent {
			if r.GetSubmitRes().GetStatus() != cb.Status_BAD_REQUEST {
				t.Fatalf("submit request answered %v, want BAD_REQUEST", r)
			}
		}
	})
}
