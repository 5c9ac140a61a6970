package broadcast

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"

	"github.com/weft-ledger/weft/protos"
)

// allowMSP is a fake policy: satisfied when the creator's MSP id is allowed.
type allowMSP string

func (a allowMSP) Evaluate(sd []protos.SignedData) error {
	sid := &mspproto.SerializedIdentity{}
	if err := protoUnmarshal(sd[0].Identity, sid); err != nil || sid.Mspid != string(a) {
		return fmt.Errorf("signature set did not satisfy policy: principal %s.member not satisfied", a)
	}
	return nil
}

type fakeChannel struct {
	mu      sync.Mutex
	max     uint32
	orderFn func([]byte) error
	ordered [][]byte
}

func (f *fakeChannel) Policy(path string) (Policy, error) {
	if path != WritersPolicy {
		return nil, fmt.Errorf("unexpected policy %s", path)
	}
	return allowMSP("Org1MSP"), nil
}
func (f *fakeChannel) AbsoluteMaxBytes() uint32 { return f.max }
func (f *fakeChannel) Submit(_ context.Context, env []byte) (<-chan error, error) {
	f.mu.Lock()
	f.ordered = append(f.ordered, env)
	f.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		if f.orderFn != nil {
			done <- f.orderFn(env)
			return
		}
		done <- nil
	}()
	return done, nil
}

type channelMap map[string]Channel

func (m channelMap) Channel(name string) (Channel, bool) { c, ok := m[name]; return c, ok }

type testSigner struct {
	key *ecdsa.PrivateKey
	sid []byte
}

func (s testSigner) Sign(msg []byte) ([]byte, error) { return []byte("sig"), nil }
func (s testSigner) Serialize() ([]byte, error)      { return s.sid, nil }

func newTestSigner(t *testing.T, mspID, cn string) testSigner {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sid := protos.Marshal(&mspproto.SerializedIdentity{Mspid: mspID, IdBytes: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})})
	return testSigner{key: key, sid: sid}
}

func envelope(t *testing.T, typ cb.HeaderType, channel string, s testSigner, size int) *cb.Envelope {
	env, err := protos.NewSignedEnvelope(typ, channel, s, &cb.Envelope{Payload: make([]byte, size)})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestStatusMapping(t *testing.T) {
	org1 := newTestSigner(t, "Org1MSP", "User1@org1.example.com")
	org2 := newTestSigner(t, "Org2MSP", "User1@org2.example.com")
	ok := &fakeChannel{max: 2000}
	down := &fakeChannel{max: 2000, orderFn: func([]byte) error { return fmt.Errorf("no leader: %w", ErrUnavailable) }}
	limit := &fakeChannel{max: 2000, orderFn: func([]byte) error { return fmt.Errorf("raft says: %w", ErrTooLarge) }}
	broken := &fakeChannel{max: 2000, orderFn: func([]byte) error { return errors.New("disk on fire") }}
	h := NewHandler(channelMap{"ok": ok, "down": down, "limit": limit, "broken": broken}, nil)

	noHeader := &cb.Envelope{Payload: protos.Marshal(&cb.Payload{Data: []byte("x")})}
	noChannel := envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "", org1, 10)

	for _, tc := range []struct {
		name   string
		env    *cb.Envelope
		status cb.Status
		info   string // substring
	}{
		{"success", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "ok", org1, 10), cb.Status_SUCCESS, ""},
		{"nil payload", &cb.Envelope{}, cb.Status_BAD_REQUEST, "envelope has no payload"},
		{"garbage payload", &cb.Envelope{Payload: []byte{0xff, 0xff}}, cb.Status_BAD_REQUEST, "decode common.Payload"},
		{"no header", noHeader, cb.Status_BAD_REQUEST, "payload has no header"},
		{"no channel id", noChannel, cb.Status_BAD_REQUEST, "channel_id is empty"},
		{"config update", envelope(t, cb.HeaderType_CONFIG_UPDATE, "ok", org1, 10), cb.Status_BAD_REQUEST, "channel configuration updates are not supported yet"},
		{"config", envelope(t, cb.HeaderType_CONFIG, "ok", org1, 10), cb.Status_BAD_REQUEST, "CONFIG"},
		{"unknown channel", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "nope", org1, 10), cb.Status_NOT_FOUND, "channel nope does not exist"},
		{"too large", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "ok", org1, 3000), cb.Status_REQUEST_ENTITY_TOO_LARGE, "AbsoluteMaxBytes 2000"},
		{"writers policy", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "ok", org2, 10), cb.Status_FORBIDDEN, `Org2MSP "CN=User1@org2.example.com" does not satisfy policy /Channel/Writers`},
		{"no leader", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "down", org1, 10), cb.Status_SERVICE_UNAVAILABLE, "no leader"},
		{"chain size limit", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "limit", org1, 10), cb.Status_REQUEST_ENTITY_TOO_LARGE, "raft says"},
		{"internal", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "broken", org1, 10), cb.Status_INTERNAL_SERVER_ERROR, "disk on fire"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Process(context.Background(), tc.env)
			if r.Status != tc.status || !strings.Contains(r.Info, tc.info) {
				t.Fatalf("got %s %q, want %s containing %q", r.Status, r.Info, tc.status, tc.info)
			}
		})
	}
	if len(ok.ordered) != 1 {
		t.Fatalf("ordered %d envelopes on the good channel, want 1", len(ok.ordered))
	}
}

// fakeStream feeds envelopes and records responses.
type fakeStream struct {
	ctx  context.Context
	in   chan *cb.Envelope
	mu   sync.Mutex
	out  []*ab.BroadcastResponse
	sent chan struct{}
}

func (s *fakeStream) Context() context.Context { return s.ctx }
func (s *fakeStream) Recv() (*cb.Envelope, error) {
	e, ok := <-s.in
	if !ok {
		return nil, io.EOF
	}
	return e, nil
}
func (s *fakeStream) Send(r *ab.BroadcastResponse) error {
	s.mu.Lock()
	s.out = append(s.out, r)
	s.mu.Unlock()
	return nil
}

func TestStreamKeepsResponseOrder(t *testing.T) {
	org1 := newTestSigner(t, "Org1MSP", "User1")
	release := make(chan struct{})
	slow := &fakeChannel{max: 5000, orderFn: func(env []byte) error {
		<-release // the first envelope is held until the others were processed
		return nil
	}}
	h := NewHandler(channelMap{"slow": slow}, nil)
	s := &fakeStream{ctx: context.Background(), in: make(chan *cb.Envelope, 3)}
	s.in <- envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "slow", org1, 10)
	s.in <- envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "missing", org1, 10)
	s.in <- envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "missing", org1, 10)
	close(s.in)
	done := make(chan error)
	go func() { done <- h.Handle(s) }()
	time.AfterFunc(20*time.Millisecond, func() { close(release) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := []cb.Status{}
	for _, r := range s.out {
		got = append(got, r.Status)
	}
	want := []cb.Status{cb.Status_SUCCESS, cb.Status_NOT_FOUND, cb.Status_NOT_FOUND}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("responses %v, want %v", got, want)
	}
}
