package gossip_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip"
	"github.com/weft-ledger/weft/gossip/channel"
	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/gossiptest"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/membership"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

const channelID = "mychannel"

// readers checks the sample channel's Readers policy.
type readers struct{ n *testnet.Net }

func (r readers) Readers(id, data, sig []byte) error {
	p, err := r.n.Bundle.Policy("/Channel/Application/Readers")
	if err != nil {
		return err
	}
	return p.Evaluate([]protos.SignedData{{Data: data, Identity: id, Signature: sig}})
}

// peer is one Service served on 127.0.0.1 with TLS, as a peer serves it.
type peer struct {
	host   string
	addr   string
	svc    *gossip.Service
	ledger *gossiptest.Ledger
	ch     *channel.Channel
	logs   testWriter
	stop   func()
}

// startPeer serves a gossip Service for host on a listener it is given (so
// that every address is known before any peer starts) with fast timers.
func startPeer(t *testing.T, n *testnet.Net, host string, lis net.Listener, bootstrap []string, signer *msp.SigningIdentity) *peer {
	t.Helper()
	if signer == nil {
		signer = n.Signer(t, host)
	}
	cert := n.TLSCert(t, host)
	pool := x509.NewCertPool()
	for _, h := range []string{"peer0.org1.example.com", "peer0.org2.example.com"} {
		pem, err := os.ReadFile(n.TLS(t, h).CA)
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(pem)
	}
	mgr := n.Bundle.MSPs()
	addr := lis.Addr().String()
	logs := testWriter{t: t, mu: &sync.Mutex{}, buf: &bytes.Buffer{}}
	svc, err := gossip.New(gossip.Config{
		Signer:   signer,
		Verifier: identity.Managers(func() []*msp.Manager { return []*msp.Manager{mgr} }),
		TLSCert:  &cert,
		TLSRoots: func() *x509.CertPool { return pool },
		Membership: membership.Config{
			Endpoint: addr, ExternalEndpoint: addr, Bootstrap: bootstrap,
			AliveTimeInterval: 100 * time.Millisecond, AliveExpirationTimeout: 2 * time.Second,
			ReconnectInterval: 200 * time.Millisecond, PullInterval: 200 * time.Millisecond,
			DigestWaitTime: 50 * time.Millisecond, RequestWaitTime: 50 * time.Millisecond, ResponseWaitTime: 100 * time.Millisecond,
		},
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})).With("host", host),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12,
	})))
	svc.Register(srv)
	go func() { _ = srv.Serve(lis) }()
	ctx, cancel := context.WithCancel(context.Background())
	done := svc.Start(ctx)
	p := &peer{host: host, addr: addr, svc: svc, ledger: gossiptest.NewLedger(gossiptest.Chain(1)), logs: logs}
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			srv.Stop()
		})
	}
	t.Cleanup(p.stop)
	return p
}

// join joins the peer to mychannel; a static leader pulls from "the
// orderer" (the test), the others get blocks from gossip.
func (p *peer) join(t *testing.T, n *testnet.Net, anchors []string, leader bool) {
	t.Helper()
	ch, err := p.svc.JoinChannel(channel.Config{
		ChannelID:                channelID,
		Orgs:                     func() []string { return []string{"Org1MSP", "Org2MSP"} },
		AnchorPeers:              func() []string { return anchors },
		OrgLeader:                leader,
		PublishStateInfoInterval: 100 * time.Millisecond,
		RequestStateInfoInterval: 100 * time.Millisecond,
		PullInterval:             200 * time.Millisecond,
		StateTransfer:            true,
		StateCheckInterval:       200 * time.Millisecond,
		StateResponseTimeout:     time.Second,
	}, gossip.ChannelDeps{Committer: p.ledger, Policy: readers{n}})
	if err != nil {
		t.Fatal(err)
	}
	p.ch = ch
}

// testWriter logs to the test and keeps what it wrote.
type testWriter struct {
	t   *testing.T
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w testWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// TestServiceSharesBlocksAndMembership runs three peers over real gRPC and
// TLS: peer0 and peer1 of Org1 (peer1 bootstraps from peer0) and peer0 of
// Org2, reached through the channel's anchor peers. Org1's peer0 is its
// static leader and is handed the blocks; peer1.org1 gets them by push from
// its organisation, peer0.org2 (no leader in its organisation) by state
// transfer. Service discovery's views list every peer with its state info.
func TestServiceSharesBlocksAndMembership(t *testing.T) {
	n := testnet.SampleNet(t)
	lis := map[string]net.Listener{}
	for _, h := range []string{"peer0.org1.example.com", "peer1.org1.example.com", "peer0.org2.example.com"} {
		lis[h] = listen(t)
	}
	addr := func(h string) string { return lis[h].Addr().String() }
	anchors := []string{addr("peer0.org1.example.com"), addr("peer0.org2.example.com")}
	p0 := startPeer(t, n, "peer0.org1.example.com", lis["peer0.org1.example.com"], nil, nil)
	p1 := startPeer(t, n, "peer1.org1.example.com", lis["peer1.org1.example.com"], []string{addr("peer0.org1.example.com")}, nil)
	q0 := startPeer(t, n, "peer0.org2.example.com", lis["peer0.org2.example.com"], nil, nil)
	p0.join(t, n, anchors, true)
	p1.join(t, n, anchors, false)
	q0.join(t, n, anchors, false)

	eventually.True(t, 30*time.Second, "every peer knows the two others", func() bool {
		return len(p0.svc.Alive()) == 2 && len(p1.svc.Alive()) == 2 && len(q0.svc.Alive()) == 2
	})

	blocks := gossiptest.Chain(8)
	for _, b := range blocks[1:] {
		if err := p0.ledger.Commit(b); err != nil {
			t.Fatal(err)
		}
		p0.ch.Gossip(b)
		p0.ch.UpdateHeight(p0.ledger.Height())
	}
	for _, p := range []*peer{p1, q0} {
		eventually.True(t, 30*time.Second, p.host+" has every block", func() bool { return p.ledger.Height() == 8 })
		for i, b := range blocks {
			got, _ := p.ledger.Block(uint64(i))
			if !proto.Equal(got.GetHeader(), b.Header) {
				t.Fatalf("%s holds another block %d", p.host, i)
			}
		}
	}

	eventually.True(t, 30*time.Second, "discovery's view of mychannel on peer0.org2 lists three peers at height 8", func() bool {
		peers := q0.svc.ChannelPeers(channelID)
		if len(peers) != 3 {
			return false
		}
		for _, dp := range peers {
			if dp.Alive == nil || dp.StateInfo == nil {
				return false
			}
			g := &gp.GossipMessage{}
			if err := proto.Unmarshal(dp.StateInfo.Payload, g); err != nil || g.GetStateInfo().GetProperties().GetLedgerHeight() != 8 {
				return false
			}
		}
		return true
	})
	local := p1.svc.LocalPeers()
	if len(local) != 3 || local[0].MSPID != "Org1MSP" || local[0].StateInfo != nil {
		t.Fatalf("local peers of peer1.org1 = %d, first %+v", len(local), local[0])
	}
	if got := q0.svc.ChannelPeers("otherchannel"); got != nil {
		t.Fatalf("peers of a channel not joined = %v", got)
	}
}

// TestServiceRefusesOrganisationOutsideTheChannels: a peer of an
// organisation no channel knows can reach the gossip port, but its
// handshake is refused and it never becomes a member.
func TestServiceRefusesOrganisationOutsideTheChannels(t *testing.T) {
	n := testnet.SampleNet(t)
	l0 := listen(t)
	p0 := startPeer(t, n, "peer0.org1.example.com", l0, nil, nil)

	// A peer claiming Org3MSP, which no channel of peer0.org1 has.
	stranger := testnet.IssueIdentity(t, n.OrgDir(t, "Org1MSP"), "Org3MSP", "peer0.org3.example.com", "peer", time.Now().Add(time.Hour))
	store, err := identity.NewStore(stranger.Serialized, gossiptest.TrustAll{})
	if err != nil {
		t.Fatal(err)
	}
	cert := n.TLSCert(t, "peer1.org1.example.com") // a TLS certificate the server's CA trusts
	pem, err := os.ReadFile(n.TLS(t, "peer0.org1.example.com").CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := comm.New(comm.Config{Signer: stranger, Identity: stranger.Serialized, Store: store, TLSCert: &cert, TLSRoots: func() *x509.CertPool { return pool }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The dialler's side of a handshake completes before the server's
	// verdict (each side sends first, as in Fabric): the refusal is the
	// server's, in its log, and the stranger never becomes a member.
	_, _ = c.Handshake(ctx, p0.addr)
	eventually.True(t, 10*time.Second, "peer0.org1 logs the refusal naming Org3MSP", func() bool {
		return strings.Contains(p0.logs.String(), "gossip handshake refused") && strings.Contains(p0.logs.String(), "(Org3MSP) is not valid for any organisation this peer knows")
	})
	if got := len(p0.svc.Alive()); got != 0 {
		t.Fatalf("peer0.org1 has %d members after a stranger's handshake", got)
	}
}
