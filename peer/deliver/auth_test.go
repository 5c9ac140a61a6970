package deliver

import (
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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testlog"
	"github.com/weft-ledger/weft/protos"
)

// seekAt is a seek request for blocks 0..1 whose channel header carries
// timestamp at and tls_cert_hash hash.
func seekAt(t *testing.T, signer protos.Signer, at time.Time, hash []byte) *cb.Envelope {
	t.Helper()
	shdr, err := protos.NewSignatureHeader(signer)
	if err != nil {
		t.Fatal(err)
	}
	chdr := protos.NewChannelHeader(cb.HeaderType_DELIVER_SEEK_INFO, testChannel, protos.ComputeTxID(shdr.Nonce, shdr.Creator))
	chdr.Timestamp = timestamppb.New(at)
	chdr.TlsCertHash = hash
	env, err := protos.SignEnvelope(&cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(chdr), SignatureHeader: protos.Marshal(shdr)},
		Data:   protos.Marshal(&ab.SeekInfo{Start: oldest, Stop: specified(1), Behavior: ab.SeekInfo_FAIL_IF_NOT_READY}),
	}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// deliverOnce sends env on a new Deliver stream of client and returns what came back.
func deliverOnce(t *testing.T, client pb.DeliverClient, env *cb.Envelope) ([]uint64, cb.Status) {
	t.Helper()
	stream, err := client.Deliver(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(env); err != nil {
		t.Fatal(err)
	}
	return collect(t, stream)
}

// A seek request is accepted only while its timestamp is within the time
// window of the server's clock (Fabric's peer.authentication.timewindow):
// a captured request replayed after the window is refused, and the log
// names both times and the window.
func TestDeliverTimeWindow(t *testing.T) {
	logs := &testlog.Buffer{}
	var skew atomic.Int64 // added to the server's clock
	f := newDeliverFixture(t, func(s *Server) {
		s.log = slog.New(slog.NewTextHandler(logs, nil))
		s.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		s.TimeWindow = 15 * time.Minute
	})
	now := time.Now()
	for _, tc := range []struct {
		name string
		at   time.Time
		want cb.Status
	}{
		{"now", now, cb.Status_SUCCESS},
		{"14 minutes ago", now.Add(-14 * time.Minute), cb.Status_SUCCESS},
		{"14 minutes ahead", now.Add(14 * time.Minute), cb.Status_SUCCESS},
		{"16 minutes ago", now.Add(-16 * time.Minute), cb.Status_BAD_REQUEST},
		{"16 minutes ahead", now.Add(16 * time.Minute), cb.Status_BAD_REQUEST},
	} {
		got, st := deliverOnce(t, f.client, seekAt(t, f.user1, tc.at, nil))
		if st != tc.want || (st == cb.Status_SUCCESS) != (fmt.Sprint(got) == "[0 1]") {
			t.Errorf("%s: blocks %v, status %s; want %s", tc.name, got, st, tc.want)
		}
	}
	old := now.Add(-16 * time.Minute).UTC().Format("2006-01-02T15:04:05")
	for _, want := range []string{"deliver request rejected", old, "time window of 15m0s", "peer.authentication.timewindow", "User1@org1.example.com"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not mention %q:\n%s", want, logs)
		}
	}

	// A request captured now is served now, and refused when replayed once
	// the window has passed.
	captured := seekAt(t, f.user1, now, nil)
	if got, st := deliverOnce(t, f.client, captured); st != cb.Status_SUCCESS || len(got) != 2 {
		t.Fatalf("fresh request: blocks %v, status %s", got, st)
	}
	skew.Store(int64(20 * time.Minute))
	if got, st := deliverOnce(t, f.client, captured); st != cb.Status_BAD_REQUEST || len(got) != 0 {
		t.Fatalf("request replayed 20 minutes later: blocks %v, status %s; want none and BAD_REQUEST", got, st)
	}
	if !strings.Contains(logs.String(), "away from this server's time") {
		t.Errorf("log does not explain the replay's refusal:\n%s", logs)
	}

	// A header without a timestamp is refused too.
	env := seekAt(t, f.user1, now, nil)
	penv, err := protos.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	penv.ChannelHeader.Timestamp = nil
	env, err = protos.SignEnvelope(&cb.Payload{Header: &cb.Header{ChannelHeader: protos.Marshal(penv.ChannelHeader),
		SignatureHeader: protos.Marshal(penv.SignatureHeader)}, Data: penv.Payload.Data}, f.user1)
	if err != nil {
		t.Fatal(err)
	}
	skew.Store(0)
	if _, st := deliverOnce(t, f.client, env); st != cb.Status_BAD_REQUEST || !strings.Contains(logs.String(), "carries no timestamp") {
		t.Fatalf("request without a timestamp: status %s; log:\n%s", st, logs)
	}
}

// clientCA issues TLS client certificates for the binding tests.
type clientCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newClientCA(t *testing.T) *clientCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tls clients CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &clientCA{cert: cert, key: key, pool: pool}
}

// issue returns a client key pair and the SHA-256 of its certificate.
func (ca *clientCA) issue(t *testing.T, cn string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, sum[:]
}

// bindingServer serves the fixture's channel over TLS; with clients set it
// requires client certificates from them (mutual TLS) and tells the server.
func bindingServer(t *testing.T, clients *clientCA, logs *testlog.Buffer) (addr string, f *deliverFixture) {
	t.Helper()
	f = newDeliverFixture(t)
	d := getDevnet(t)
	srv := NewServer(ChannelsFunc(func(string) (*Channel, error) { return f.current.Load(), nil }), slog.New(slog.NewTextHandler(logs, nil)))
	tc := &tls.Config{Certificates: []tls.Certificate{d.TLSCert(t, "peer0.org1.example.com")}, MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequestClientCert}
	if clients != nil {
		tc.ClientAuth, tc.ClientCAs = tls.RequireAndVerifyClientCert, clients.pool
		srv.MutualTLS = true
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(tc)))
	pb.RegisterDeliverServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String(), f
}

// dialWith connects to addr presenting cert (none when nil).
func dialWith(t *testing.T, addr string, roots *x509.CertPool, cert *tls.Certificate) pb.DeliverClient {
	t.Helper()
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewDeliverClient(conn)
}

// Under mutual TLS a seek request must carry the SHA-256 of the client's TLS
// certificate (Fabric's binding): a request bound to another session, or to
// none, is refused, and the log names both hashes.
func TestDeliverTLSBindingUnderMutualTLS(t *testing.T) {
	logs := &testlog.Buffer{}
	ca := newClientCA(t)
	addr, f := bindingServer(t, ca, logs)
	roots := getDevnet(t).tlsRoots(t, "Org1MSP")
	mine, myHash := ca.issue(t, "client-a")
	_, otherHash := ca.issue(t, "client-b")
	client := dialWith(t, addr, roots, &mine)

	if got, st := deliverOnce(t, client, seekAt(t, f.user1, time.Now(), myHash)); st != cb.Status_SUCCESS || len(got) != 2 {
		t.Fatalf("request bound to this session: blocks %v, status %s; want [0 1] SUCCESS", got, st)
	}
	if got, st := deliverOnce(t, client, seekAt(t, f.user1, time.Now(), otherHash)); st != cb.Status_BAD_REQUEST || len(got) != 0 {
		t.Fatalf("request bound to another session: blocks %v, status %s; want none and BAD_REQUEST", got, st)
	}
	for _, want := range []string{fmt.Sprintf("tls_cert_hash %x is not the SHA-256 of the client's TLS certificate (%x)", otherHash, myHash), "User1@org1.example.com"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not mention %q:\n%s", want, logs)
		}
	}
	if got, st := deliverOnce(t, client, seekAt(t, f.user1, time.Now(), nil)); st != cb.Status_BAD_REQUEST || len(got) != 0 {
		t.Fatalf("request without tls_cert_hash: blocks %v, status %s; want none and BAD_REQUEST", got, st)
	}
	if want := fmt.Sprintf("carries no tls_cert_hash, but this server requires mutual TLS and binds each request to the client's TLS certificate (SHA-256 %x)", myHash); !strings.Contains(logs.String(), want) {
		t.Errorf("log does not mention %q:\n%s", want, logs)
	}
}

// Without mutual TLS a request is served whether or not it carries a
// tls_cert_hash, as in Fabric, unless the hash names another certificate than
// the one the client presented.
func TestDeliverTLSBindingWithoutMutualTLS(t *testing.T) {
	logs := &testlog.Buffer{}
	addr, f := bindingServer(t, nil, logs)
	roots := getDevnet(t).tlsRoots(t, "Org1MSP")
	ca := newClientCA(t)
	mine, myHash := ca.issue(t, "client-a")
	_, otherHash := ca.issue(t, "client-b")

	anonymous := dialWith(t, addr, roots, nil)
	if got, st := deliverOnce(t, anonymous, seekAt(t, f.user1, time.Now(), nil)); st != cb.Status_SUCCESS || len(got) != 2 {
		t.Fatalf("unbound request: blocks %v, status %s; want [0 1] SUCCESS", got, st)
	}
	if got, st := deliverOnce(t, anonymous, seekAt(t, f.user1, time.Now(), myHash)); st != cb.Status_SUCCESS || len(got) != 2 {
		t.Fatalf("bound request on a session without a client certificate: blocks %v, status %s; want [0 1] SUCCESS as in Fabric", got, st)
	}
	withCert := dialWith(t, addr, roots, &mine)
	if got, st := deliverOnce(t, withCert, seekAt(t, f.user1, time.Now(), myHash)); st != cb.Status_SUCCESS || len(got) != 2 {
		t.Fatalf("request bound to this session: blocks %v, status %s", got, st)
	}
	if _, st := deliverOnce(t, withCert, seekAt(t, f.user1, time.Now(), otherHash)); st != cb.Status_BAD_REQUEST ||
		!strings.Contains(logs.String(), fmt.Sprintf("tls_cert_hash %x is not the SHA-256 of the client's TLS certificate (%x)", otherHash, myHash)) {
		t.Fatalf("request bound to another session: status %s, want BAD_REQUEST; log:\n%s", st, logs)
	}
}

// withACLs is the fixture channel's config with the given ACLs and sequence.
func withACLs(t *testing.T, d *devnet, seq uint64, acls map[string]string) *channelconfig.Bundle {
	t.Helper()
	cfg := proto.Clone(d.bundle.Config()).(*cb.Config)
	cfg.Sequence = seq
	res := map[string]*pb.APIResource{}
	for r, p := range acls {
		res[r] = &pb.APIResource{PolicyRef: p}
	}
	cfg.ChannelGroup.Groups[channelconfig.ApplicationGroupKey].Values[channelconfig.ACLsKey] = &cb.ConfigValue{
		ModPolicy: channelconfig.AdminsPolicyKey, Value: protos.Marshal(&pb.ACLs{Acls: res})}
	b, err := channelconfig.NewBundle(testChannel, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Deliver and DeliverWithPrivateData are guarded by the channel's event/Block
// ACL, DeliverFiltered by event/FilteredBlock, each read from the config in
// force: pointing one at Org1's admins refuses Org1's User1 on that service
// only, the log naming the resource, the policy and the client; an open
// stream is judged again when the config changes.
func TestDeliverEventACLs(t *testing.T) {
	logs := &testlog.Buffer{}
	f := newDeliverFixture(t, func(s *Server) { s.log = slog.New(slog.NewTextHandler(logs, nil)) })
	d := getDevnet(t)
	admin := d.Admin(t, "Org1MSP")
	use := func(b *channelconfig.Bundle) {
		ch, err := ChannelFromBundle(b, f.store)
		if err != nil {
			t.Fatal(err)
		}
		f.current.Store(ch)
	}
	open := func(filtered bool) deliverStreamClient {
		t.Helper()
		var (
			s   deliverStreamClient
			err error
		)
		if filtered {
			s, err = f.client.DeliverFiltered(testCtx(t))
		} else {
			s, err = f.client.Deliver(testCtx(t))
		}
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	fetch := func(filtered bool, signer protos.Signer) cb.Status {
		t.Helper()
		s := open(filtered)
		if err := s.Send(seekEnv(t, signer, testChannel, oldest, specified(1), ab.SeekInfo_FAIL_IF_NOT_READY)); err != nil {
			t.Fatal(err)
		}
		_, st := collect(t, s)
		return st
	}

	use(withACLs(t, d, 1, map[string]string{"event/FilteredBlock": "/Channel/Application/Org1MSP/Admins"}))
	if st := fetch(false, f.user1); st != cb.Status_SUCCESS {
		t.Errorf("Deliver by User1 under event/Block = Readers: %s", st)
	}
	if st := fetch(true, f.user1); st != cb.Status_FORBIDDEN {
		t.Errorf("DeliverFiltered by User1 under event/FilteredBlock = Org1 admins: %s, want FORBIDDEN", st)
	}
	if st := fetch(true, admin); st != cb.Status_SUCCESS {
		t.Errorf("DeliverFiltered by Org1's Admin under event/FilteredBlock = Org1 admins: %s", st)
	}
	for _, want := range []string{"event/FilteredBlock", "requires policy /Channel/Application/Org1MSP/Admins", "User1@org1.example.com", "Org1MSP"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not mention %q:\n%s", want, logs)
		}
	}

	// An open Deliver stream waits for block 3; the config then points
	// event/Block at Org1's admins (a relative reference): the stream ends
	// FORBIDDEN before block 3.
	s := open(false)
	if err := s.Send(seekEnv(t, f.user1, testChannel, specified(2), specified(10), ab.SeekInfo_BLOCK_UNTIL_READY)); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Recv(); err != nil || r.GetBlock().GetHeader().GetNumber() != 2 {
		t.Fatalf("first response %v, %v; want block 2", r, err)
	}
	<-f.store.waiters
	use(withACLs(t, d, 2, map[string]string{"event/Block": "Org1MSP/Admins"}))
	e, _ := endorserTx(t, f.user1, testChannel, "basic", "", nil)
	if err := f.store.Append(nextBlock(f.blocks[2], e)); err != nil {
		t.Fatal(err)
	}
	if got, st := collect(t, s); st != cb.Status_FORBIDDEN || len(got) != 0 {
		t.Fatalf("after event/Block moved to Admins: blocks %v, status %s; want none and FORBIDDEN", got, st)
	}
	if !strings.Contains(logs.String(), "config sequence 2: access denied: event/Block on channel mychannel requires policy /Channel/Application/Org1MSP/Admins") {
		t.Errorf("log does not explain the stream's end:\n%s", logs)
	}
	if st := fetch(false, admin); st != cb.Status_SUCCESS {
		t.Errorf("Deliver by Org1's Admin under event/Block = Org1 admins: %s", st)
	}
}

// A stream opened by an organisation that a config update then removes from
// the channel ends with FORBIDDEN at the config block, which it does not
// receive, even while the channel still serves the old config; the other
// organisation's stream goes on.
func TestDeliverStopsAtConfigBlockRemovingTheOrg(t *testing.T) {
	logs := &testlog.Buffer{}
	f := newDeliverFixture(t, func(s *Server) { s.log = slog.New(slog.NewTextHandler(logs, nil)) })
	d := getDevnet(t)
	org2 := d.User(t, "User1", "Org2MSP")

	cfg := proto.Clone(d.bundle.Config()).(*cb.Config)
	cfg.Sequence = d.bundle.Sequence() + 1
	delete(cfg.ChannelGroup.Groups[channelconfig.ApplicationGroupKey].Groups, "Org2MSP")
	env, err := channelconfig.ConfigTxEnvelope(testChannel, &cb.ConfigEnvelope{Config: cfg}, d.Signer(t, "orderer.example.com"))
	if err != nil {
		t.Fatal(err)
	}

	streams := map[string]deliverStreamClient{}
	for name, signer := range map[string]protos.Signer{"Org1": f.user1, "Org2": org2} {
		s, err := f.client.Deliver(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(seekEnv(t, signer, testChannel, specified(2), specified(3), ab.SeekInfo_BLOCK_UNTIL_READY)); err != nil {
			t.Fatal(err)
		}
		if r, err := s.Recv(); err != nil || r.GetBlock().GetHeader().GetNumber() != 2 {
			t.Fatalf("%s: first response %v, %v; want block 2", name, r, err)
		}
		<-f.store.waiters
		streams[name] = s
	}
	if err := f.store.Append(nextBlock(f.blocks[2], env)); err != nil {
		t.Fatal(err)
	}
	if got, st := collect(t, streams["Org2"]); st != cb.Status_FORBIDDEN || len(got) != 0 {
		t.Fatalf("Org2's stream: blocks %v, status %s; want no config block and FORBIDDEN", got, st)
	}
	if got, st := collect(t, streams["Org1"]); st != cb.Status_SUCCESS || fmt.Sprint(got) != "[3]" {
		t.Fatalf("Org1's stream: blocks %v, status %s; want [3] SUCCESS", got, st)
	}
	for _, want := range []string{"config sequence 1 of block 3", "event/Block", "/Channel/Application/Readers", "User1@org2.example.com", "Org2MSP"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not mention %q:\n%s", want, logs)
		}
	}
}
