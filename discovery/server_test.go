package discovery

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	discpb "github.com/hyperledger/fabric-protos-go-apiv2/discovery"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// fakeChannels serves one channel whose bundle a test may replace.
type fakeChannels struct {
	mu     sync.Mutex
	bundle *channelconfig.Bundle
	defs   map[string]*Definition
}

func (f *fakeChannels) Bundle(ch string) (*channelconfig.Bundle, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch != f.bundle.ChannelID() {
		return nil, false
	}
	return f.bundle, true
}

func (f *fakeChannels) Chaincode(ch, name string) (*Definition, error) {
	return f.defs[name], nil
}

func (f *fakeChannels) setBundle(b *channelconfig.Bundle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bundle = b
}

type fakeMembership struct{ channel, local []Peer }

func (f *fakeMembership) ChannelPeers(string) []Peer { return f.channel }
func (f *fakeMembership) LocalPeers() []Peer         { return f.local }

// fixture is a discovery server on loopback, behind TLS that requires
// client certificates of the sample organisations, for the peer0.org1 node.
type fixture struct {
	n        *testnet.Net
	channels *fakeChannels
	server   *Server
	checks   atomic.Int32 // uncached eligibility checks
	addr     string
	peers    []Peer
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	n := testnet.SampleNet(t)
	f := &fixture{n: n}
	f.channels = &fakeChannels{bundle: n.Bundle, defs: map[string]*Definition{
		"basic": {Name: "basic", Sequence: 1, EndorsementPolicy: policyReference("/Channel/Application/Endorsement")},
	}}
	both := map[string]string{"basic": "1"}
	f.peers = []Peer{
		gossipPeer(t, n.Signer(t, "peer0.org1.example.com"), "peer0.org1.example.com:7051", channelName, 7, both),
		gossipPeer(t, n.Signer(t, "peer0.org2.example.com"), "peer0.org2.example.com:9051", channelName, 6, both),
		// No external endpoint: never disclosed.
		gossipPeer(t, issuePeer(t, n, "Org1MSP", "peer9.org1.example.com"), "", channelName, 7, both),
	}
	local := make([]Peer, len(f.peers))
	for i, p := range f.peers {
		local[i] = Peer{MSPID: p.MSPID, Identity: p.Identity, Alive: p.Alive}
	}
	conf, err := msp.LoadMSPDir(filepath.Join(n.NodeDir(t, "peer0.org1.example.com"), "msp"), "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	localMSP, err := msp.New(conf)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Channels, cfg.Membership, cfg.LocalMSP = f.channels, &fakeMembership{channel: f.peers, local: local}, localMSP
	f.server = NewServer(cfg)
	inner := f.server.check
	f.server.check = func(ch string, sd protos.SignedData) error {
		f.checks.Add(1)
		return inner(ch, sd)
	}

	pool := x509.NewCertPool()
	for _, org := range []string{"org1.example.com", "org2.example.com"} {
		ca, err := os.ReadFile(n.Path("peerOrganizations", org, "tlsca", "tlsca."+org+"-cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(ca)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{n.TLSCert(t, "peer0.org1.example.com")}, MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))
	f.server.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	f.addr = lis.Addr().String()
	return f
}

// client is a user of an organisation with its TLS client certificate.
type client struct {
	signer  *msp.SigningIdentity
	conn    *grpc.ClientConn
	tlsHash []byte
}

func (f *fixture) client(t *testing.T, user, mspID, domain string) *client {
	t.Helper()
	signer := f.n.User(t, user, mspID)
	tlsDir := f.n.Path("peerOrganizations", domain, "users", user+"@"+domain, "tls")
	pair, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "client.crt"), filepath.Join(tlsDir, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	ca, err := os.ReadFile(f.n.TLS(t, "peer0.org1.example.com").CA)
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(ca)
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{pair}, ServerName: "peer0.org1.example.com", MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sum := sha256.Sum256(pair.Leaf.Raw)
	return &client{signer: signer, conn: conn, tlsHash: sum[:]}
}

func (c *client) signedRequest(t *testing.T, queries ...*discpb.Query) *discpb.SignedRequest {
	t.Helper()
	ser, err := c.signer.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	payload, err := proto.Marshal(&discpb.Request{Authentication: &discpb.AuthInfo{ClientIdentity: ser, ClientTlsCertHash: c.tlsHash}, Queries: queries})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := c.signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return &discpb.SignedRequest{Payload: payload, Signature: sig}
}

func (c *client) send(t *testing.T, sr *discpb.SignedRequest) (*discpb.Response, error) {
	t.Helper()
	return discpb.NewDiscoveryClient(c.conn).Discover(context.Background(), sr)
}

func (c *client) ask(t *testing.T, queries ...*discpb.Query) []*discpb.QueryResult {
	t.Helper()
	resp, err := c.send(t, c.signedRequest(t, queries...))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != len(queries) {
		t.Fatalf("%d results for %d queries", len(resp.Results), len(queries))
	}
	return resp.Results
}

func configQuery() *discpb.Query {
	return &discpb.Query{Channel: channelName, Query: &discpb.Query_ConfigQuery{ConfigQuery: &discpb.ConfigQuery{}}}
}

func peersQuery() *discpb.Query {
	return &discpb.Query{Channel: channelName, Query: &discpb.Query_PeerQuery{PeerQuery: &discpb.PeerMembershipQuery{}}}
}

func localQuery() *discpb.Query {
	return &discpb.Query{Query: &discpb.Query_LocalPeers{LocalPeers: &discpb.LocalPeerQuery{}}}
}

func ccQuery(calls ...*pb.ChaincodeCall) *discpb.Query {
	return &discpb.Query{Channel: channelName, Query: &discpb.Query_CcQuery{CcQuery: &discpb.ChaincodeQuery{
		Interests: []*pb.ChaincodeInterest{{Chaincodes: calls}}}}}
}

func wantDenied(t *testing.T, what string, r *discpb.QueryResult) {
	t.Helper()
	if r.GetError().GetContent() != "access denied" {
		t.Errorf("%s: got %v, want access denied", what, r)
	}
}

func TestDiscoverConfigMatchesChannelConfig(t *testing.T) {
	f := newFixture(t, Config{MutualTLS: true})
	res := f.client(t, "User1", "Org1MSP", "org1.example.com").ask(t, configQuery())[0].GetConfigResult()
	if res == nil {
		t.Fatal("no config result")
	}
	b := f.n.Bundle
	for _, id := range b.MSPs().IDs() {
		m, _ := b.MSPs().MSP(id)
		got := res.Msps[id]
		if got == nil || got.Name != id || !slices.EqualFunc(got.RootCerts, m.Config().RootCerts, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Errorf("MSP %s: got %v", id, got)
		}
	}
	if len(res.Msps) != len(b.MSPs().IDs()) {
		t.Errorf("%d MSPs, the channel has %v", len(res.Msps), b.MSPs().IDs())
	}
	var got []string
	for mspID, eps := range res.Orderers {
		if _, ok := b.Orderer().Orgs[mspID]; !ok {
			t.Errorf("orderers listed for %s, not an orderer organisation", mspID)
		}
		for _, e := range eps.Endpoint {
			got = append(got, net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))))
		}
	}
	if !slices.Equal(got, b.Orderer().Endpoints) || len(got) == 0 {
		t.Errorf("orderer endpoints %v, channel config has %v", got, b.Orderer().Endpoints)
	}
}

func TestDiscoverGlobalOrdererAddressesFallback(t *testing.T) {
	n := testnet.SampleNet(t)
	cfg := proto.Clone(n.Bundle.Config()).(*cb.Config)
	for _, g := range cfg.ChannelGroup.Groups[channelconfig.OrdererGroupKey].Groups {
		delete(g.Values, channelconfig.EndpointsKey)
	}
	raw, _ := proto.Marshal(&cb.OrdererAddresses{Addresses: []string{"orderer.example.com:7050", "orderer2.example.com:8050"}})
	cfg.ChannelGroup.Values[channelconfig.OrdererAddressesKey] = &cb.ConfigValue{Value: raw, ModPolicy: "/Channel/Orderer/Admins"}
	b, err := channelconfig.NewBundle(channelName, cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ConfigResult(b)
	if err != nil {
		t.Fatal(err)
	}
	eps := res.Orderers["OrdererMSP"].GetEndpoint()
	if len(eps) != 2 || eps[1].Host != "orderer2.example.com" || eps[1].Port != 8050 {
		t.Errorf("global fallback endpoints %v", eps)
	}
}

func TestDiscoverPeers(t *testing.T) {
	f := newFixture(t, Config{MutualTLS: true})
	user := f.client(t, "User1", "Org1MSP", "org1.example.com")
	members := user.ask(t, peersQuery())[0].GetMembers()
	if members == nil {
		t.Fatalf("no membership result")
	}
	want := map[string]string{"Org1MSP": "peer0.org1.example.com:7051", "Org2MSP": "peer0.org2.example.com:9051"}
	for org, ep := range want {
		ps := members.PeersByOrg[org].GetPeers()
		if len(ps) != 1 || endpointOf(ps[0].MembershipInfo) != ep {
			t.Fatalf("%s: %v, want only %s (the peer without an external endpoint must be left out)", org, ps, ep)
		}
		if ps[0].MembershipInfo.SecretEnvelope != nil {
			t.Errorf("%s: the secret envelope (internal endpoint) was disclosed", org)
		}
		si := gossipMessage(ps[0].StateInfo).GetStateInfo()
		if si.GetProperties().GetLedgerHeight() == 0 || len(si.GetProperties().GetChaincodes()) != 1 {
			t.Errorf("%s: state info %v", org, si)
		}
	}

	// The local query is for the peer's admins.
	wantDenied(t, "local peers query by a client", user.ask(t, localQuery())[0])
	admin := f.client(t, "Admin", "Org1MSP", "org1.example.com")
	local := admin.ask(t, localQuery())[0].GetMembers()
	if local == nil || len(local.PeersByOrg["Org1MSP"].GetPeers()) != 1 || len(local.PeersByOrg["Org2MSP"].GetPeers()) != 1 {
		t.Fatalf("local peers for an admin: %v", local)
	}
	if local.PeersByOrg["Org1MSP"].Peers[0].StateInfo != nil {
		t.Error("local peers carry state info")
	}
	// An admin of another organisation is not an admin of this peer.
	wantDenied(t, "local peers query by Org2's admin", f.client(t, "Admin", "Org2MSP", "org2.example.com").ask(t, localQuery())[0])

	// orgMembersAllowedAccess lets the organisation's clients in.
	g := newFixture(t, Config{MutualTLS: true, OrgMembersAllowedAccess: true})
	if g.client(t, "User1", "Org1MSP", "org1.example.com").ask(t, localQuery())[0].GetMembers() == nil {
		t.Error("orgMembersAllowedAccess: a client of the peer's organisation was refused")
	}
}

func TestDiscoverEndorsers(t *testing.T) {
	f := newFixture(t, Config{MutualTLS: true})
	c := f.client(t, "User1", "Org2MSP", "org2.example.com")
	res := c.ask(t, ccQuery(&pb.ChaincodeCall{Name: "basic"}), ccQuery(&pb.ChaincodeCall{Name: "nosuch"}))
	desc := res[0].GetCcQueryRes().GetContent()
	if len(desc) != 1 || desc[0].Chaincode != "basic" || len(desc[0].Layouts) != 1 || len(desc[0].Layouts[0].QuantitiesByGroup) != 2 {
		t.Fatalf("endorsers of basic (MAJORITY of two organisations): %v", res[0])
	}
	for g, ps := range desc[0].EndorsersByGroups {
		if len(ps.Peers) != 1 {
			t.Errorf("group %s: %d endorsers, want 1", g, len(ps.Peers))
		}
	}
	if e := res[1].GetError().GetContent(); e == "" || !strings.Contains(e, "failed constructing descriptor for") || !strings.Contains(e, "nosuch") {
		t.Errorf("undefined chaincode: %q", e)
	}
}

func TestDiscoverRefusesNonMember(t *testing.T) {
	f := newFixture(t, Config{})
	// A user of an organisation the channel does not know, on a connection
	// with a TLS certificate the peer accepts.
	dir, _ := org3(t)
	stranger := f.client(t, "User1", "Org1MSP", "org1.example.com")
	s, err := msp.LoadSigningIdentity(filepath.Join(dir, "users", "User1@org3.example.com", "msp"), "Org3MSP")
	if err != nil {
		t.Fatal(err)
	}
	stranger.signer = s
	res := stranger.ask(t, configQuery(), peersQuery(), ccQuery(&pb.ChaincodeCall{Name: "basic"}), localQuery())
	for i, r := range res {
		wantDenied(t, "query "+strconv.Itoa(i)+" by Org3's user", r)
	}
	// A channel this peer has not joined is refused the same way.
	q := configQuery()
	q.Channel = "otherchannel"
	wantDenied(t, "query of an unknown channel", f.client(t, "User1", "Org1MSP", "org1.example.com").ask(t, q)[0])
}

func TestDiscoverRefusesTamperedSignature(t *testing.T) {
	f := newFixture(t, Config{MutualTLS: true, AuthCacheEnabled: true})
	c := f.client(t, "User1", "Org1MSP", "org1.example.com")
	sr := c.signedRequest(t, configQuery())
	sr.Signature[len(sr.Signature)-3] ^= 0x40
	resp, err := c.send(t, sr)
	if err != nil {
		t.Fatal(err)
	}
	wantDenied(t, "tampered signature", resp.Results[0])
	// The payload changed after signing: refused too.
	sr = c.signedRequest(t, configQuery())
	req := &discpb.Request{}
	_ = proto.Unmarshal(sr.Payload, req)
	req.Queries = append(req.Queries, peersQuery())
	sr.Payload, _ = proto.Marshal(req)
	resp, err = c.send(t, sr)
	if err != nil {
		t.Fatal(err)
	}
	wantDenied(t, "payload changed after signing", resp.Results[0])
}

func TestDiscoverTLSBinding(t *testing.T) {
	f := newFixture(t, Config{MutualTLS: true})
	c := f.client(t, "User1", "Org1MSP", "org1.example.com")
	for name, hash := range map[string][]byte{"wrong hash": make([]byte, 32), "no hash": nil} {
		c.tlsHash = hash
		_, err := c.send(t, c.signedRequest(t, configQuery()))
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "client claimed TLS hash doesn't match computed TLS hash from gRPC stream") {
			t.Errorf("%s: %v, want the TLS hash refused", name, err)
		}
	}
	_, err := c.send(t, &discpb.SignedRequest{Payload: []byte{0xff, 0xff}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("garbage payload: %v", err)
	}
	// Fabric's discover CLI claims the SHA-256 of the certificate's PEM
	// file (cmd/common/comm): accepted, as Fabric's peer accepts it.
	pemFile, err := os.ReadFile(f.n.Path("peerOrganizations", "org1.example.com", "users", "User1@org1.example.com", "tls", "client.crt"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pemFile)
	c.tlsHash = sum[:]
	if resp, err := c.send(t, c.signedRequest(t, configQuery())); err != nil || resp.Results[0].GetConfigResult() == nil {
		t.Errorf("the PEM file's hash, as Fabric's discover CLI claims it: %v %v", resp, err)
	}
}

func TestDiscoverAuthCache(t *testing.T) {
	f := newFixture(t, Config{MutualTLS: true, AuthCacheEnabled: true})
	c := f.client(t, "User1", "Org1MSP", "org1.example.com")
	sr := c.signedRequest(t, configQuery())
	for range 3 {
		resp, err := c.send(t, sr)
		if err != nil || resp.Results[0].GetConfigResult() == nil {
			t.Fatalf("config query: %v %v", resp, err)
		}
	}
	if n := f.checks.Load(); n != 1 {
		t.Fatalf("the same signed request was checked %d times, want once", n)
	}
	// A new config sequence forgets the verdicts.
	cfg := proto.Clone(f.n.Bundle.Config()).(*cb.Config)
	cfg.Sequence++
	b, err := channelconfig.NewBundle(channelName, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.channels.setBundle(b)
	if _, err := c.send(t, sr); err != nil {
		t.Fatal(err)
	}
	if n := f.checks.Load(); n != 2 {
		t.Fatalf("after a config update: %d checks, want 2", n)
	}
	// A refusal is cached too, and stays a refusal.
	bad := c.signedRequest(t, configQuery())
	bad.Signature[10] ^= 1
	for range 2 {
		resp, err := c.send(t, bad)
		if err != nil {
			t.Fatal(err)
		}
		wantDenied(t, "tampered request, cached", resp.Results[0])
	}
	if n := f.checks.Load(); n != 3 {
		t.Fatalf("tampered request checked %d times in all, want 3", n)
	}
	// Without the cache every request is checked.
	g := newFixture(t, Config{MutualTLS: true})
	gc := g.client(t, "User1", "Org1MSP", "org1.example.com")
	sr = gc.signedRequest(t, configQuery())
	for range 2 {
		if _, err := gc.send(t, sr); err != nil {
			t.Fatal(err)
		}
	}
	if n := g.checks.Load(); n != 2 {
		t.Fatalf("cache disabled: %d checks, want 2", n)
	}
}

func TestAuthCachePurges(t *testing.T) {
	var calls int
	c := newAuthCache(4, 0.5, func(string, protos.SignedData) error { calls++; return nil }, func(string) uint64 { return 0 })
	for i := range 10 {
		_ = c.eligible("ch", protos.SignedData{Data: []byte{byte(i)}})
		if n := len(c.channels["ch"].verdicts); n > 4 {
			t.Fatalf("cache grew to %d entries, max 4", n)
		}
	}
	if calls != 10 {
		t.Fatalf("%d checks for 10 distinct requests", calls)
	}
}
