package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Three nodes on two channels, with different consenter ids per channel,
// exchange Raft messages over one stream per pair of nodes.
func TestCommExchangesMessagesOnTwoChannels(t *testing.T) {
	ca := newTestCA(t, "tlsca")
	a := startNode(t, ca, "orderer1", CommConfig{})
	b := startNode(t, ca, "orderer2", CommConfig{})
	c := startNode(t, ca, "orderer3", CommConfig{})

	// alpha: a=1, b=2, c=3. beta: a=7, b=9; c is not a consenter.
	alpha := []Member{a.member(1), b.member(2), c.member(3)}
	beta := []Member{a.member(7), b.member(9)}
	a.configure("alpha", 1, alpha...)
	b.configure("alpha", 2, alpha...)
	c.configure("alpha", 3, alpha...)
	a.configure("beta", 7, beta...)
	b.configure("beta", 9, beta...)

	nodes := map[string]*node{"alpha1": a, "alpha2": b, "alpha3": c, "beta7": a, "beta9": b}
	sends := []struct {
		channel  string
		from, to uint64
	}{
		{"alpha", 1, 2}, {"alpha", 1, 3}, {"alpha", 2, 1}, {"alpha", 2, 3}, {"alpha", 3, 1}, {"alpha", 3, 2},
		{"beta", 7, 9}, {"beta", 9, 7},
	}
	for i, s := range sends {
		sender := nodes[fmt.Sprintf("%s%d", s.channel, s.from)]
		sender.comm.Transport(s.channel).Send(s.channel, []*raftpb.Message{heartbeat(s.from, s.to, uint64(i+1))})
	}
	got := map[*node][]string{}
	want := map[*node][]string{}
	for i, s := range sends {
		dst := nodes[fmt.Sprintf("%s%d", s.channel, s.to)]
		want[dst] = append(want[dst], fmt.Sprintf("%s from %d to %d term %d", s.channel, s.from, s.to, i+1))
	}
	for dst, w := range want {
		for range w {
			r := dst.next()
			if r.from != r.m.GetFrom() {
				t.Errorf("handler got from=%d for a message from %d", r.from, r.m.GetFrom())
			}
			got[dst] = append(got[dst], fmt.Sprintf("%s from %d to %d term %d", r.channel, r.from, r.m.GetTo(), r.m.GetTerm()))
		}
		sort.Strings(got[dst])
		sort.Strings(w)
		if fmt.Sprint(got[dst]) != fmt.Sprint(w) {
			t.Errorf("node %s got %v, want %v", dst.name, got[dst], w)
		}
	}

	// a talks to b for two channels and to c for one: two streams in all.
	if n := a.remoteCount(); n != 2 {
		t.Errorf("orderer1 has %d outgoing streams, want 2 (one per remote node)", n)
	}
	a.waitReachable("alpha", 1, 2, 3)
	a.waitReachable("beta", 7, 9)
	if r := a.comm.Reachable("gamma"); r != nil {
		t.Errorf("Reachable(unknown channel) = %v, want nil", r)
	}
	if d := a.comm.Dropped(); d != 0 {
		t.Errorf("%d messages dropped, want 0", d)
	}
}

// A client certificate that is no consenter's is refused at the stream; a
// consenter claiming another id, a message for an unknown channel, or one
// with no client certificate are refused too; submissions are answered with
// an error.
func TestServerRefusesUnauthenticatedMessages(t *testing.T) {
	ca := newTestCA(t, "tlsca")
	a := startNode(t, ca, "orderer1", CommConfig{})
	b := startNode(t, ca, "orderer2", CommConfig{})
	c := startNode(t, ca, "orderer3", CommConfig{})
	alpha := []Member{a.member(1), b.member(2), c.member(3)}
	a.configure("alpha", 1, alpha...)
	c.configure("alpha", 3, alpha...)

	t.Run("wrong client certificate", func(t *testing.T) {
		// rogue has a certificate from the same CA and claims to be consenter 2.
		rogue := newNode(t, ca, "rogue", CommConfig{}, "127.0.0.1:1")
		rogue.configure("alpha", 2, a.member(1), b.member(2))
		rogue.comm.Transport("alpha").Send("alpha", []*raftpb.Message{heartbeat(2, 1, 1)})
		a.logs.waitFor(t, "cluster stream refused: certificate is no consenter's ClientTLSCert on any channel of this orderer",
			map[string]string{"cert_subject": "CN=rogue"})
		a.none()
	})

	t.Run("spoofed from", func(t *testing.T) {
		// orderer3 is a consenter but claims to be 2, then sends as itself.
		tr := c.comm.Transport("alpha")
		tr.Send("alpha", []*raftpb.Message{heartbeat(2, 1, 5)})
		tr.Send("alpha", []*raftpb.Message{heartbeat(3, 1, 6)})
		r := a.next()
		if r.from != 3 || r.m.GetTerm() != 6 {
			t.Fatalf("handler got from=%d term=%d, want the genuine message from 3 (term 6)", r.from, r.m.GetTerm())
		}
		a.none() // the spoofed message was on the same stream, before it
		a.logs.waitFor(t, "cluster message refused", map[string]string{
			"channel": "alpha", "claimed_id": "2", "cert_subject": "CN=orderer3", "reason": "not consenter 2's ClientTLSCert",
		})
	})

	t.Run("unknown channel", func(t *testing.T) {
		c.configure("gamma", 3, a.member(1), c.member(3))
		c.comm.Transport("gamma").Send("gamma", []*raftpb.Message{heartbeat(3, 1, 1)})
		c.comm.Transport("alpha").Send("alpha", []*raftpb.Message{heartbeat(3, 1, 7)})
		if r := a.next(); r.channel != "alpha" || r.m.GetTerm() != 7 {
			t.Fatalf("handler got %s term %d, want alpha term 7", r.channel, r.m.GetTerm())
		}
		a.none()
		a.logs.waitFor(t, "cluster message refused", map[string]string{
			"channel": "gamma", "claimed_id": "3", "cert_subject": "CN=orderer3", "reason": "channel gamma is not configured",
		})
	})

	t.Run("no client certificate", func(t *testing.T) {
		stream := rawStream(t, a.addr, ca, nil)
		// Send may already see the stream closed (io.EOF); the status the
		// server ended it with comes from Recv either way.
		_ = stream.Send(consensusRequest(t, "alpha", heartbeat(3, 1, 1)))
		_, err := stream.Recv()
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "mutual TLS") {
			t.Fatalf("stream without client certificate: got %v, want Unauthenticated asking for mutual TLS", err)
		}
		a.none()
	})

	t.Run("submit request", func(t *testing.T) {
		stream := rawStream(t, a.addr, ca, &c.cert)
		if err := stream.Send(&ab.StepRequest{Payload: &ab.StepRequest_SubmitRequest{SubmitRequest: &ab.SubmitRequest{Channel: "alpha"}}}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		res := resp.GetSubmitRes()
		if res.GetStatus() != cb.Status_BAD_REQUEST || res.GetChannel() != "alpha" || !strings.Contains(res.GetInfo(), "forwards submissions through Raft") {
			t.Fatalf("submit answered %v, want BAD_REQUEST saying submissions go through Raft", res)
		}
	})
}

// The client side pins the consenter's server certificate.
func TestCommPinsServerCertificate(t *testing.T) {
	ca := newTestCA(t, "tlsca")
	a := startNode(t, ca, "orderer1", CommConfig{})
	b := startNode(t, ca, "orderer2", CommConfig{})
	_, otherPEM, _ := ca.issue(t, "orderer2-old")
	wrong := b.member(2)
	wrong.ServerTLSCert = otherPEM
	a.configure("alpha", 1, a.member(1), wrong)
	b.configure("alpha", 2, a.member(1), b.member(2))
	a.comm.Transport("alpha").Send("alpha", []*raftpb.Message{heartbeat(1, 2, 1)})
	a.logs.waitFor(t, "cluster stream broken; reconnecting", map[string]string{"error": "not the consenter's ServerTLSCert"})
	if r := a.comm.Reachable("alpha"); fmt.Sprint(r) != "[1]" {
		t.Errorf("Reachable = %v, want [1]: the server certificate is not the pinned one", r)
	}
	b.none()
}

// After a consenter is removed, the stream to it is closed and its messages
// are refused; the remaining consenters are unaffected.
func TestCommRemovedMember(t *testing.T) {
	ca := newTestCA(t, "tlsca")
	a := startNode(t, ca, "orderer1", CommConfig{})
	b := startNode(t, ca, "orderer2", CommConfig{})
	c := startNode(t, ca, "orderer3", CommConfig{})
	alpha := []Member{a.member(1), b.member(2), c.member(3)}
	for i, n := range []*node{a, b, c} {
		n.configure("alpha", uint64(i+1), alpha...)
	}
	a.waitReachable("alpha", 1, 2, 3)
	c.comm.Transport("alpha").Send("alpha", []*raftpb.Message{heartbeat(3, 1, 1)})
	if r := a.next(); r.from != 3 {
		t.Fatalf("got a message from %d, want 3", r.from)
	}

	a.configure("alpha", 1, a.member(1), b.member(2))
	if n := a.remoteCount(); n != 1 {
		t.Errorf("orderer1 keeps %d outgoing streams after removing orderer3, want 1", n)
	}
	a.waitReachable("alpha", 1, 2)
	a.logs.waitFor(t, "cluster stream closed: no configured channel needs this node", map[string]string{"endpoint": c.addr})

	// orderer3 has not noticed; its messages are refused and its stream is closed.
	c.comm.Transport("alpha").Send("alpha", []*raftpb.Message{heartbeat(3, 1, 2)})
	a.logs.waitFor(t, "cluster message refused", map[string]string{"channel": "alpha", "claimed_id": "3", "cert_subject": "CN=orderer3"})
	a.logs.waitFor(t, "cluster stream closed: certificate is no longer a consenter's ClientTLSCert on any channel", map[string]string{"cert_subject": "CN=orderer3"})
	a.none()

	b.comm.Transport("alpha").Send("alpha", []*raftpb.Message{heartbeat(2, 1, 3)})
	if r := a.next(); r.from != 2 || r.m.GetTerm() != 3 {
		t.Fatalf("got from=%d term=%d, want the message from 2", r.from, r.m.GetTerm())
	}
}

// A full queue drops messages and Send returns at once; when the node comes
// up, the queued messages are delivered.
func TestCommQueueOverflowDropsWithoutBlocking(t *testing.T) {
	ca := newTestCA(t, "tlsca")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens until the end of the test

	a := startNode(t, ca, "orderer1", CommConfig{QueueSize: 4})
	b := newNode(t, ca, "orderer2", CommConfig{}, addr)
	alpha := []Member{a.member(1), b.member(2)}
	a.configure("alpha", 1, alpha...)
	b.configure("alpha", 2, alpha...)

	msgs := make([]*raftpb.Message, 50)
	for i := range msgs {
		msgs[i] = heartbeat(1, 2, uint64(i+1))
	}
	sent := make(chan struct{})
	go func() {
		a.comm.Transport("alpha").Send("alpha", msgs)
		close(sent)
	}()
	select {
	case <-sent:
	case <-time.After(2 * time.Second):
		t.Fatal("Send blocked on an unreachable node")
	}
	if d := a.comm.Dropped(); d != 46 {
		t.Errorf("Dropped = %d, want 46 (50 sent, queue of 4)", d)
	}
	a.logs.waitFor(t, "cluster send queue full: dropping messages to this orderer", map[string]string{"endpoint": addr})
	if r := a.comm.Reachable("alpha"); fmt.Sprint(r) != "[1]" {
		t.Errorf("Reachable = %v, want [1]", r)
	}

	lis, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	b.serve(lis)
	for i := 1; i <= 4; i++ {
		if r := b.next(); r.m.GetTerm() != uint64(i) {
			t.Fatalf("message %d has term %d, want %d: the queue keeps the first messages in order", i, r.m.GetTerm(), i)
		}
	}
	b.none()
}

// When a node's server restarts, the stream to it is re-opened.
func TestCommReconnectsAfterServerRestart(t *testing.T) {
	ca := newTestCA(t, "tlsca")
	a := startNode(t, ca, "orderer1", CommConfig{})
	b := startNode(t, ca, "orderer2", CommConfig{})
	alpha := []Member{a.member(1), b.member(2)}
	a.configure("alpha", 1, alpha...)
	b.configure("alpha", 2, alpha...)
	tr := a.comm.Transport("alpha")
	tr.Send("alpha", []*raftpb.Message{heartbeat(1, 2, 1)})
	if r := b.next(); r.m.GetTerm() != 1 {
		t.Fatalf("got term %d, want 1", r.m.GetTerm())
	}

	b.stop()
	a.waitReachable("alpha", 1)
	lis, err := net.Listen("tcp", b.addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", b.addr, err)
	}
	b.serve(lis)
	a.waitReachable("alpha", 1, 2)
	tr.Send("alpha", []*raftpb.Message{heartbeat(1, 2, 2)})
	if r := b.next(); r.m.GetTerm() != 2 {
		t.Fatalf("got term %d after the restart, want 2", r.m.GetTerm())
	}
}

func TestConfigureRejectsBadMembers(t *testing.T) {
	ca := newTestCA(t, "tlsca")
	a := newNode(t, ca, "orderer1", CommConfig{}, "127.0.0.1:1")
	good := a.member(1)
	for _, tc := range []struct {
		name    string
		members []Member
		want    string
	}{
		{"zero id", []Member{{Endpoint: "x:1", ClientTLSCert: a.certPEM}}, "consenter id must be > 0"},
		{"no endpoint", []Member{{ID: 2, ClientTLSCert: a.certPEM}}, "no endpoint"},
		{"bad client cert", []Member{{ID: 2, Endpoint: "x:1", ClientTLSCert: []byte("junk")}}, "ClientTLSCert: not a PEM CERTIFICATE"},
		{"duplicate id", []Member{good, good}, "appears twice"},
	} {
		err := a.comm.Configure("alpha", 1, tc.members)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "channel alpha") {
			t.Errorf("%s: got %v, want an error naming channel alpha and %q", tc.name, err, tc.want)
		}
	}
	a.comm.Close()
	if err := a.comm.Configure("alpha", 1, []Member{good}); err != ErrClosed {
		t.Errorf("Configure after Close: got %v, want ErrClosed", err)
	}
}

// rawStream opens a Step stream to addr with the given client certificate
// (none if nil).
func rawStream(t *testing.T, addr string, ca *testCA, cert *tls.Certificate) grpc.BidiStreamingClient[ab.StepRequest, ab.StepResponse] {
	t.Helper()
	tc := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	stream, err := ab.NewClusterClient(conn).Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func consensusRequest(t *testing.T, channel string, m *raftpb.Message) *ab.StepRequest {
	t.Helper()
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return &ab.StepRequest{Payload: &ab.StepRequest_ConsensusRequest{ConsensusRequest: &ab.ConsensusRequest{Channel: channel, Payload: payload}}}
}

// A consenter whose TLS CA this node does not trust is unreachable until
// SetRootCAs brings that CA (a config update added a new orderer
// organization); no restart is needed.
func TestCommSetRootCAsTrustsANewOrdererOrganization(t *testing.T) {
	ca1 := newTestCA(t, "tlsca-one")
	ca2 := newTestCA(t, "tlsca-two")
	a := startNode(t, ca1, "orderer1", CommConfig{})
	b := startNode(t, ca2, "orderer2", CommConfig{})
	a.configure("alpha", 1, a.member(1), b.member(2))
	b.configure("alpha", 2, a.member(1), b.member(2))
	a.comm.Transport("alpha").Send("alpha", []*raftpb.Message{heartbeat(1, 2, 1)})
	a.logs.waitFor(t, "cluster stream broken; reconnecting", map[string]string{"error": "certificate signed by unknown authority"})
	if r := a.comm.Reachable("alpha"); fmt.Sprint(r) != "[1]" {
		t.Fatalf("Reachable = %v before the new CA is trusted, want [1]", r)
	}
	both := ca1.pool.Clone()
	both.AddCert(ca2.cert)
	a.comm.SetRootCAs(both)
	a.waitReachable("alpha", 1, 2)
	a.comm.Transport("alpha").Send("alpha", []*raftpb.Message{heartbeat(1, 2, 1)})
	if r := b.next(); r.from != 1 {
		t.Fatalf("orderer2 got a message from %d, want 1", r.from)
	}
}
