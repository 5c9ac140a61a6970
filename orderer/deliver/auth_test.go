package deliver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testlog"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/protos"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

func testContext(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(context.Background(), 20*time.Second)
}

// bundleChannel is a memChannel whose Readers policy and sequence come from
// a real channel config, swapped by the test as the orderer swaps its
// config after writing a config block.
type bundleChannel struct {
	*memChannel
	bundle atomic.Pointer[channelconfig.Bundle]
}

func newBundleChannel(tn *testnet.Net) *bundleChannel {
	c := &bundleChannel{memChannel: &memChannel{grew: make(chan struct{}), errored: make(chan struct{})}}
	c.bundle.Store(tn.Bundle)
	c.add(tn.Genesis())
	return c
}

func (c *bundleChannel) Policy(path string) (Policy, error) { return c.bundle.Load().Policy(path) }
func (c *bundleChannel) Sequence() uint64                   { return c.bundle.Load().Sequence() }

// add appends b, or the next plain block when b is nil.
func (c *bundleChannel) add(b *cb.Block) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b == nil {
		last := c.blocks[len(c.blocks)-1]
		b = protos.NewBlock(last.Header.Number+1, protos.BlockHeaderHash(last.Header), [][]byte{[]byte("tx")})
	}
	c.blocks = append(c.blocks, b)
	close(c.grew)
	c.grew = make(chan struct{})
}

// withoutOrg2 is the config of tn's channel with Org2 removed from the
// application group, one sequence later: the CONFIG block and its bundle.
func withoutOrg2(t *testing.T, tn *testnet.Net, prev *cb.Block) (*cb.Block, *channelconfig.Bundle) {
	t.Helper()
	cfg := proto.Clone(tn.Bundle.Config()).(*cb.Config)
	cfg.Sequence++
	delete(cfg.ChannelGroup.Groups[channelconfig.ApplicationGroupKey].Groups, "Org2MSP")
	env, err := channelconfig.ConfigTxEnvelope(testnet.Channel, &cb.ConfigEnvelope{Config: cfg}, tn.Signer(t, "orderer.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	b := protos.NewBlock(prev.Header.Number+1, protos.BlockHeaderHash(prev.Header), [][]byte{protos.Marshal(env)})
	bundle, err := channelconfig.NewBundle(testnet.Channel, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, bundle
}

// serveTLS serves h over TLS with the orderer's certificate; clients, when
// set, makes it mutual TLS with client certificates from that pool.
func serveTLS(t *testing.T, tn *testnet.Net, h *Handler, clients *x509.CertPool) string {
	t.Helper()
	tc := &tls.Config{Certificates: []tls.Certificate{tn.TLSCert(t, "orderer.example.com")}, MinVersion: tls.VersionTLS12}
	if clients != nil {
		tc.ClientAuth, tc.ClientCAs = tls.RequireAndVerifyClientCert, clients
		h.MutualTLS = true
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tc)))
	ab.RegisterAtomicBroadcastServer(srv, server{h: h})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// dialTLS connects to the orderer of tn, presenting cert when not nil.
func dialTLS(t *testing.T, tn *testnet.Net, addr string, cert *tls.Certificate) ab.AtomicBroadcastClient {
	t.Helper()
	m, ok := tn.Bundle.MSPs().MSP("OrdererMSP")
	if !ok {
		t.Fatal("no OrdererMSP")
	}
	tc := &tls.Config{RootCAs: m.TLSRootCAs(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return ab.NewAtomicBroadcastClient(conn)
}

// seekAt is a seek request from block start to stop whose channel header
// carries timestamp at and tls_cert_hash hash.
func seekAt(t *testing.T, signer protos.Signer, start, stop uint64, at time.Time, hash []byte) *cb.Envelope {
	t.Helper()
	shdr, err := protos.NewSignatureHeader(signer)
	if err != nil {
		t.Fatal(err)
	}
	chdr := protos.NewChannelHeader(cb.HeaderType_DELIVER_SEEK_INFO, testnet.Channel, protos.ComputeTxID(shdr.Nonce, shdr.Creator))
	chdr.Timestamp = timestamppb.New(at)
	chdr.TlsCertHash = hash
	env, err := protos.SignEnvelope(&cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(chdr), SignatureHeader: protos.Marshal(shdr)},
		Data:   protos.Marshal(&ab.SeekInfo{Start: specified(start), Stop: specified(stop)}),
	}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// deliverOnce sends env on a new stream and renders the answer ("0 SUCCESS").
func deliverOnce(t *testing.T, client ab.AtomicBroadcastClient, env *cb.Envelope) string {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	s, err := client.Deliver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(env); err != nil {
		t.Fatal(err)
	}
	return receive(t, s)
}

// A seek request is accepted only while its timestamp is within
// General.Authentication.TimeWindow of the orderer's clock: a captured
// request replayed after the window is refused with BAD_REQUEST, and the
// reason names both times and the window.
func TestDeliverTimeWindow(t *testing.T) {
	tn := testnet.SampleNet(t)
	ch := newBundleChannel(tn)
	logs := &testlog.Buffer{}
	h := NewHandler(channelMap{testnet.Channel: ch}, slog.New(slog.NewTextHandler(logs, nil)))
	h.TimeWindow = 10 * time.Minute
	var skew atomic.Int64
	h.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	client := dialTLS(t, tn, serveTLS(t, tn, h, nil), nil)
	user := tn.User(t, "User1", "Org1MSP")

	now := time.Now()
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"now", now, "0 SUCCESS"},
		{"9 minutes ago", now.Add(-9 * time.Minute), "0 SUCCESS"},
		{"9 minutes ahead", now.Add(9 * time.Minute), "0 SUCCESS"},
		{"11 minutes ago", now.Add(-11 * time.Minute), "BAD_REQUEST"},
		{"11 minutes ahead", now.Add(11 * time.Minute), "BAD_REQUEST"},
	} {
		if got := deliverOnce(t, client, seekAt(t, user, 0, 0, tc.at, nil)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, want := range []string{now.Add(-11 * time.Minute).UTC().Format("2006-01-02T15:04:05"), "time window of 10m0s",
		"General.Authentication.TimeWindow", "User1@org1.example.com"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not mention %q:\n%s", want, logs)
		}
	}

	captured := seekAt(t, user, 0, 0, now, nil)
	if got := deliverOnce(t, client, captured); got != "0 SUCCESS" {
		t.Fatalf("fresh request: %q", got)
	}
	skew.Store(int64(time.Hour))
	if got := deliverOnce(t, client, captured); got != "BAD_REQUEST" {
		t.Fatalf("request replayed an hour later: %q, want BAD_REQUEST", got)
	}
}

// issueClientCert returns a TLS client key pair issued by a throwaway CA,
// the CA's pool and the SHA-256 of the certificate.
func issueClientCert(t *testing.T, pool *x509.CertPool, cn string) (tls.Certificate, []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(ca)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, sum[:]
}

// Under mutual TLS (General.TLS.ClientAuthRequired) a request must carry the
// SHA-256 of the client's TLS certificate: one made for another session, or
// without a hash, is refused with BAD_REQUEST naming the hashes.
func TestDeliverTLSBinding(t *testing.T) {
	tn := testnet.SampleNet(t)
	ch := newBundleChannel(tn)
	logs := &testlog.Buffer{}
	h := NewHandler(channelMap{testnet.Channel: ch}, slog.New(slog.NewTextHandler(logs, nil)))
	pool := x509.NewCertPool()
	mine, myHash := issueClientCert(t, pool, "client-a")
	other, otherHash := issueClientCert(t, pool, "client-b")
	addr := serveTLS(t, tn, h, pool)
	user := tn.User(t, "User1", "Org1MSP")

	a := dialTLS(t, tn, addr, &mine)
	if got := deliverOnce(t, a, seekAt(t, user, 0, 0, time.Now(), myHash)); got != "0 SUCCESS" {
		t.Fatalf("request bound to this session: %q", got)
	}
	// A request made on client-b's session, replayed on client-a's.
	if got := deliverOnce(t, a, seekAt(t, user, 0, 0, time.Now(), otherHash)); got != "BAD_REQUEST" {
		t.Fatalf("request bound to another session: %q, want BAD_REQUEST", got)
	}
	if want := fmt.Sprintf("tls_cert_hash %x is not the SHA-256 of the client's TLS certificate (%x)", otherHash, myHash); !strings.Contains(logs.String(), want) {
		t.Errorf("log does not mention %q:\n%s", want, logs)
	}
	if got := deliverOnce(t, a, seekAt(t, user, 0, 0, time.Now(), nil)); got != "BAD_REQUEST" {
		t.Fatalf("request without tls_cert_hash: %q, want BAD_REQUEST", got)
	}
	if !strings.Contains(logs.String(), "carries no tls_cert_hash, but this server requires mutual TLS") {
		t.Errorf("log does not explain the unbound request's refusal:\n%s", logs)
	}
	b := dialTLS(t, tn, addr, &other)
	if got := deliverOnce(t, b, seekAt(t, user, 0, 0, time.Now(), otherHash)); got != "0 SUCCESS" {
		t.Fatalf("client-b's own request: %q", got)
	}
}

// A stream is judged again by /Channel/Readers whenever the config changes,
// as Fabric's deliver service does at each config sequence: an organisation
// removed by a config update does not receive the config block that removes
// it, even before the orderer adopts the new config, and its stream ends
// with FORBIDDEN naming the requester and the policy; a config change seen
// only through the channel's sequence ends it before the next block.
func TestDeliverRechecksReadersWhenTheConfigChanges(t *testing.T) {
	tn := testnet.SampleNet(t)
	logs := &testlog.Buffer{}
	org1, org2 := tn.User(t, "User1", "Org1MSP"), tn.User(t, "User1", "Org2MSP")

	for _, via := range []string{"config block", "channel sequence"} {
		t.Run(via, func(t *testing.T) {
			ch := newBundleChannel(tn)
			ch.add(nil) // block 1
			h := NewHandler(channelMap{testnet.Channel: ch}, slog.New(slog.NewTextHandler(logs, nil)))
			client := dialTLS(t, tn, serveTLS(t, tn, h, nil), nil)
			ctx, cancel := testContext(t)
			defer cancel()
			streams := map[string]ab.AtomicBroadcast_DeliverClient{}
			for name, signer := range map[string]protos.Signer{"Org1": org1, "Org2": org2} {
				s, err := client.Deliver(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Send(seekAt(t, signer, 1, 2, time.Now(), nil)); err != nil {
					t.Fatal(err)
				}
				if r, err := s.Recv(); err != nil || r.GetBlock().GetHeader().GetNumber() != 1 {
					t.Fatalf("%s: first response %v, %v; want block 1", name, r, err)
				}
				streams[name] = s
			}
			ch.mu.Lock()
			prev := ch.blocks[1]
			ch.mu.Unlock()
			cfgBlock, bundle := withoutOrg2(t, tn, prev)
			want1 := "2 SUCCESS"
			if via == "config block" {
				ch.add(cfgBlock) // the orderer adopts the config only after writing it
			} else {
				ch.bundle.Store(bundle)
				ch.add(nil)
			}
			if got := receive(t, streams["Org2"]); got != "FORBIDDEN" {
				t.Fatalf("Org2's stream: %q, want FORBIDDEN and no block 2", got)
			}
			if got := receive(t, streams["Org1"]); got != want1 {
				t.Fatalf("Org1's stream: %q, want %q", got, want1)
			}
			for _, want := range []string{"config sequence 1", "stopped before block 2", "User1@org2.example.com", "/Channel/Readers"} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log does not mention %q:\n%s", want, logs)
				}
			}
		})
	}
}
