package gossip_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip"
	"github.com/weft-ledger/weft/gossip/channel"
	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/privdata"
	"github.com/weft-ledger/weft/internal/testnet"
)

// store is a privdata.Store that records what it is handed.
type store struct {
	err   error                // Received's answer
	serve []*gp.PvtDataElement // Serve's answer

	mu       sync.Mutex
	received []*gp.PrivatePayload
	fromPush []comm.ConnInfo
	asked    [][]*gp.PvtDataDigest
	fromPull []comm.ConnInfo
}

func (s *store) Received(from comm.ConnInfo, p *gp.PrivatePayload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, p)
	s.fromPush = append(s.fromPush, from)
	return s.err
}

func (s *store) Serve(from comm.ConnInfo, digests []*gp.PvtDataDigest) []*gp.PvtDataElement {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, digests)
	s.fromPull = append(s.fromPull, from)
	return s.serve
}

func (s *store) pushes() ([]*gp.PrivatePayload, []comm.ConnInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*gp.PrivatePayload(nil), s.received...), append([]comm.ConnInfo(nil), s.fromPush...)
}

func (s *store) pulls() ([][]*gp.PvtDataDigest, []comm.ConnInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]*gp.PvtDataDigest(nil), s.asked...), append([]comm.ConnInfo(nil), s.fromPull...)
}

// joinPrivate joins the peer to mychannel with the organisations orgs and
// the private data store st (nil for none); it neither leads nor transfers
// state, so the channel stays quiet.
func (p *peer) joinPrivate(t *testing.T, n *testnet.Net, orgs []string, st privdata.Store) {
	t.Helper()
	deps := gossip.ChannelDeps{Committer: p.ledger, Policy: readers{n}}
	if st != nil {
		deps.Private = st
	}
	ch, err := p.svc.JoinChannel(channel.Config{
		ChannelID: channelID,
		Orgs:      func() []string { return orgs },
	}, deps)
	if err != nil {
		t.Fatal(err)
	}
	p.ch = ch
}

var bothOrgs = []string{"Org1MSP", "Org2MSP"}

// privatePeers starts the given hosts, each joined to mychannel with both
// organisations and a store of its own.
func privatePeers(t *testing.T, n *testnet.Net, hosts ...string) ([]*peer, []*store) {
	t.Helper()
	var peers []*peer
	var stores []*store
	for _, h := range hosts {
		p := startPeer(t, n, h, listen(t), nil, nil)
		s := &store{}
		p.joinPrivate(t, n, bothOrgs, s)
		peers = append(peers, p)
		stores = append(stores, s)
	}
	return peers, stores
}

func payload() *gp.PrivatePayload {
	return &gp.PrivatePayload{TxId: "tx1", Namespace: "asset", CollectionName: "Org1Org2Collection", PrivateRwset: []byte("kv write set"), PrivateSimHeight: 7}
}

func remote(p *peer) comm.RemotePeer {
	return comm.RemotePeer{Endpoint: p.addr, PKIID: p.svc.PKIID()}
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPushPrivateDataToTwoPeers(t *testing.T) {
	n := testnet.SampleNet(t)
	peers, stores := privatePeers(t, n, "peer0.org1.example.com", "peer1.org1.example.com", "peer0.org2.example.com")
	p0, p1, q0 := peers[0], peers[1], peers[2]

	acked, err := p0.svc.PushPrivateData(timeout(t, 10*time.Second), channelID, payload(), []comm.RemotePeer{remote(p1), remote(q0)}, 2)
	if err != nil || acked != 2 {
		t.Fatalf("PushPrivateData = %d, %v; want 2 acknowledgements", acked, err)
	}
	for i, s := range stores[1:] {
		got, from := s.pushes()
		if len(got) != 1 || !proto.Equal(got[0], payload()) {
			t.Fatalf("store %d received %v, want the payload once", i+1, got)
		}
		if from[0].MSPID != "Org1MSP" || string(from[0].PKIID) != string(p0.svc.PKIID()) {
			t.Fatalf("store %d was told the sender is %s (%s), want peer0.org1", i+1, from[0].PKIID, from[0].MSPID)
		}
	}
	if got, _ := stores[0].pushes(); len(got) != 0 {
		t.Fatal("the pushing peer's own store received its push")
	}
}

func TestPushPrivateDataReportsStoreError(t *testing.T) {
	n := testnet.SampleNet(t)
	peers, stores := privatePeers(t, n, "peer0.org1.example.com", "peer1.org1.example.com", "peer0.org2.example.com")
	stores[2].err = errors.New("Org2MSP is not a member of collection Org1Collection")

	acked, err := peers[0].svc.PushPrivateData(timeout(t, 10*time.Second), channelID, payload(), []comm.RemotePeer{remote(peers[1]), remote(peers[2])}, 2)
	if acked != 1 || err == nil || !strings.Contains(err.Error(), "Org2MSP is not a member of collection Org1Collection") || !strings.Contains(err.Error(), peers[2].addr) {
		t.Fatalf("PushPrivateData = %d, %v; want 1 and the error of peer0.org2's store naming it", acked, err)
	}
	if !strings.Contains(err.Error(), "1 of 2 peer(s) acknowledged, 2 required") || !strings.Contains(err.Error(), "transaction tx1, collection Org1Org2Collection of chaincode asset") {
		t.Fatalf("error %q does not say what was pushed and how many acknowledged", err)
	}
}

func TestPushPrivateDataNamesPeerDown(t *testing.T) {
	n := testnet.SampleNet(t)
	peers, stores := privatePeers(t, n, "peer0.org1.example.com", "peer1.org1.example.com")
	lis := listen(t)
	down := lis.Addr().String()
	lis.Close()

	acked, err := peers[0].svc.PushPrivateData(timeout(t, 10*time.Second), channelID, payload(), []comm.RemotePeer{remote(peers[1]), {Endpoint: down}}, 2)
	if acked != 1 || err == nil || !strings.Contains(err.Error(), "peer "+down) {
		t.Fatalf("PushPrivateData = %d, %v; want 1 and an error naming %s", acked, err, down)
	}
	if got, _ := stores[1].pushes(); len(got) != 1 {
		t.Fatalf("the peer up received %d pushes", len(got))
	}
}

func TestPushPrivateDataToPeerWithoutStore(t *testing.T) {
	n := testnet.SampleNet(t)
	p0 := startPeer(t, n, "peer0.org1.example.com", listen(t), nil, nil)
	p0.joinPrivate(t, n, bothOrgs, &store{})
	p1 := startPeer(t, n, "peer1.org1.example.com", listen(t), nil, nil)
	p1.joinPrivate(t, n, bothOrgs, nil)

	acked, err := p0.svc.PushPrivateData(timeout(t, 10*time.Second), channelID, payload(), []comm.RemotePeer{remote(p1)}, 1)
	if acked != 0 || err == nil || !strings.Contains(err.Error(), "does not take private data on channel mychannel") {
		t.Fatalf("PushPrivateData = %d, %v; want the refusal of a peer without a store", acked, err)
	}
}

func TestPullPrivateData(t *testing.T) {
	n := testnet.SampleNet(t)
	peers, stores := privatePeers(t, n, "peer0.org1.example.com", "peer1.org1.example.com", "peer0.org2.example.com")
	p0, p1, q0 := peers[0], peers[1], peers[2]
	d1 := &gp.PvtDataDigest{TxId: "tx1", Namespace: "asset", Collection: "Org1Org2Collection", BlockSeq: 4, SeqInBlock: 0}
	d2 := &gp.PvtDataDigest{Namespace: "asset", Collection: "Org1Org2Collection", BlockSeq: 5, SeqInBlock: 2}
	// peer1.org1 serves d1 only; peer0.org1 serves both, and an element not
	// asked for, which is dropped.
	stores[1].serve = []*gp.PvtDataElement{{Digest: d1, Payload: [][]byte{[]byte("one")}}, {Digest: d2}}
	stores[0].serve = []*gp.PvtDataElement{
		{Digest: d1, Payload: [][]byte{[]byte("one")}},
		{Digest: d2, Payload: [][]byte{[]byte("two"), []byte("two again")}},
		{Digest: &gp.PvtDataDigest{Namespace: "asset", Collection: "other", BlockSeq: 9}, Payload: [][]byte{[]byte("x")}},
	}

	got, err := q0.svc.PullPrivateData(timeout(t, 10*time.Second), channelID, []*gp.PvtDataDigest{d1, d2, d1}, []comm.RemotePeer{remote(p1), remote(p0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !proto.Equal(got[0].Digest, d1) || string(got[0].Payload[0]) != "one" ||
		!proto.Equal(got[1].Digest, d2) || len(got[1].Payload) != 2 {
		t.Fatalf("pulled %v, want d1 from peer1.org1 and d2 from peer0.org1", got)
	}
	asked1, from1 := stores[1].pulls()
	if len(asked1) != 1 || len(asked1[0]) != 2 || from1[0].MSPID != "Org2MSP" || string(from1[0].PKIID) != string(q0.svc.PKIID()) || len(from1[0].Identity) == 0 {
		t.Fatalf("peer1.org1's store was asked %v by %+v, want both digests by peer0.org2", asked1, from1)
	}
	asked0, _ := stores[0].pulls()
	if len(asked0) != 1 || len(asked0[0]) != 1 || !proto.Equal(asked0[0][0], d2) {
		t.Fatalf("peer0.org1's store was asked %v, want d2 alone (what peer1.org1 did not serve)", asked0)
	}
}

func TestPullPrivateDataFromOrganisationOutsideTheChannel(t *testing.T) {
	n := testnet.SampleNet(t)
	// peer0.org1's channel has Org1 alone: peer0.org2 is a stranger to it.
	p0 := startPeer(t, n, "peer0.org1.example.com", listen(t), nil, nil)
	s0 := &store{serve: []*gp.PvtDataElement{{Digest: &gp.PvtDataDigest{Namespace: "asset", Collection: "c", BlockSeq: 1}, Payload: [][]byte{[]byte("v")}}}}
	p0.joinPrivate(t, n, []string{"Org1MSP"}, s0)
	q0 := startPeer(t, n, "peer0.org2.example.com", listen(t), nil, nil)
	q0.joinPrivate(t, n, bothOrgs, &store{})

	got, err := q0.svc.PullPrivateData(timeout(t, 500*time.Millisecond), channelID, []*gp.PvtDataDigest{{Namespace: "asset", Collection: "c", BlockSeq: 1}}, []comm.RemotePeer{remote(p0)})
	if len(got) != 0 || err == nil || !strings.Contains(err.Error(), "1 of 1 digest(s) unanswered") {
		t.Fatalf("PullPrivateData = %v, %v; want nothing", got, err)
	}
	if asked, _ := s0.pulls(); len(asked) != 0 {
		t.Fatalf("peer0.org1's store was asked %v by a peer outside its channel", asked)
	}
	if !strings.Contains(p0.logs.String(), "private data message from a peer whose organisation is not in the channel dropped") {
		t.Fatal("peer0.org1 did not log why it dropped the request")
	}
	// Nor does a push from there reach the store.
	acked, err := q0.svc.PushPrivateData(timeout(t, 500*time.Millisecond), channelID, payload(), []comm.RemotePeer{remote(p0)}, 1)
	if acked != 0 || err == nil || !strings.Contains(err.Error(), "no acknowledgement") {
		t.Fatalf("push from outside the channel = %d, %v; want no acknowledgement", acked, err)
	}
	if got, _ := s0.pushes(); len(got) != 0 {
		t.Fatal("peer0.org1's store received a push from outside its channel")
	}
}

func TestPrivateDataOfChannelNotJoined(t *testing.T) {
	n := testnet.SampleNet(t)
	p0 := startPeer(t, n, "peer0.org1.example.com", listen(t), nil, nil)
	if _, err := p0.svc.PushPrivateData(context.Background(), "otherchannel", payload(), nil, 0); err == nil || !strings.Contains(err.Error(), "has not joined channel otherchannel") {
		t.Fatalf("push on a channel not joined: %v", err)
	}
	if _, err := p0.svc.PullPrivateData(context.Background(), "otherchannel", nil, nil); err == nil || !strings.Contains(err.Error(), "has not joined channel otherchannel") {
		t.Fatalf("pull on a channel not joined: %v", err)
	}
}
