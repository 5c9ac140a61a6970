package broadcast

import (
	"bytes"
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

// allowMSP is a fake policy: satisfied when the creator's MSP id is one of
// the allowed ones.
type allowMSP []string

func (a allowMSP) Evaluate(sd []protos.SignedData) error {
	sid := &mspproto.SerializedIdentity{}
	if err := protoUnmarshal(sd[0].Identity, sid); err == nil {
		for _, id := range a {
			if sid.Mspid == id {
				return nil
			}
		}
	}
	return fmt.Errorf("signature set did not satisfy policy: principal %s.member not satisfied", a)
}

type fakeChannel struct {
	mu      sync.Mutex
	max     uint32
	orderFn func([]byte) error
	ordered [][]byte
	// configFn turns a CONFIG_UPDATE into the orderer's CONFIG envelope.
	configFn func(*cb.Envelope) (*cb.Envelope, error)
	updates  []*cb.Envelope // CONFIG_UPDATEs handed to ProcessConfigUpdate
}

func (f *fakeChannel) Policy(path string) (Policy, error) {
	if path != WritersPolicy {
		return nil, fmt.Errorf("unexpected policy %s", path)
	}
	return allowMSP{"Org1MSP", "OrdererMSP"}, nil
}
func (f *fakeChannel) ProcessConfigUpdate(env *cb.Envelope) (*cb.Envelope, error) {
	f.mu.Lock()
	f.updates = append(f.updates, env)
	f.mu.Unlock()
	if f.configFn == nil {
		return nil, errors.New("no config updates on this channel")
	}
	return f.configFn(env)
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
	stale := &fakeChannel{max: 2000, orderFn: func([]byte) error { return fmt.Errorf("overtaken: %w", ErrRefused) }}
	h := NewHandler(channelMap{"ok": ok, "down": down, "limit": limit, "broken": broken, "stale": stale}, nil)

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
		{"config update refused", envelope(t, cb.HeaderType_CONFIG_UPDATE, "ok", org1, 10), cb.Status_BAD_REQUEST, "error applying config update to existing channel 'ok': no config updates on this channel"},
		{"config", envelope(t, cb.HeaderType_CONFIG, "ok", org1, 10), cb.Status_BAD_REQUEST, "envelopes of type CONFIG cannot be broadcast; send a CONFIG_UPDATE"},
		{"orderer transaction", envelope(t, cb.HeaderType_ORDERER_TRANSACTION, "ok", org1, 10), cb.Status_BAD_REQUEST, "ORDERER_TRANSACTION cannot be broadcast"},
		{"unknown channel", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "nope", org1, 10), cb.Status_NOT_FOUND, "channel nope does not exist"},
		{"too large", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "ok", org1, 3000), cb.Status_REQUEST_ENTITY_TOO_LARGE, "AbsoluteMaxBytes 2000"},
		{"writers policy", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "ok", org2, 10), cb.Status_FORBIDDEN, `Org2MSP "CN=User1@org2.example.com" does not satisfy policy /Channel/Writers`},
		{"no leader", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "down", org1, 10), cb.Status_SERVICE_UNAVAILABLE, "no leader"},
		{"chain size limit", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "limit", org1, 10), cb.Status_REQUEST_ENTITY_TOO_LARGE, "raft says"},
		{"internal", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "broken", org1, 10), cb.Status_INTERNAL_SERVER_ERROR, "disk on fire"},
		{"refused when ordered", envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "stale", org1, 10), cb.Status_BAD_REQUEST, "overtaken"},
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

func TestConfigUpdate(t *testing.T) {
	admin1 := newTestSigner(t, "Org1MSP", "Admin@org1.example.com")
	admin2 := newTestSigner(t, "Org2MSP", "Admin@org2.example.com")
	orderer := newTestSigner(t, "OrdererMSP", "orderer.example.com")
	outsider := newTestSigner(t, "Org3MSP", "orderer.org3.example.com")
	// toConfig wraps the update's payload into a CONFIG envelope signed by s.
	toConfig := func(s testSigner, typ cb.HeaderType, size int) func(*cb.Envelope) (*cb.Envelope, error) {
		return func(update *cb.Envelope) (*cb.Envelope, error) {
			return protos.NewSignedEnvelope(typ, "cfg", s, &cb.ConfigEnvelope{Config: &cb.Config{Sequence: 1}, LastUpdate: &cb.Envelope{Payload: make([]byte, size)}})
		}
	}
	for _, tc := range []struct {
		name      string
		signer    testSigner
		configFn  func(*cb.Envelope) (*cb.Envelope, error)
		status    cb.Status
		info      string
		processed bool // ProcessConfigUpdate was called
		ordered   bool
	}{
		{"accepted", admin1, toConfig(orderer, cb.HeaderType_CONFIG, 10), cb.Status_SUCCESS, "", true, true},
		{"creator not a writer", admin2, toConfig(orderer, cb.HeaderType_CONFIG, 10), cb.Status_FORBIDDEN,
			`creator Org2MSP "CN=Admin@org2.example.com" does not satisfy policy /Channel/Writers of channel cfg`, false, false},
		{"mod_policy not satisfied", admin1, func(*cb.Envelope) (*cb.Envelope, error) {
			return nil, errors.New("changing value /Channel/Application/Org2MSP/AnchorPeers requires its mod_policy \"Admins\"")
		}, cb.Status_BAD_REQUEST, "error applying config update to existing channel 'cfg': changing value /Channel/Application/Org2MSP/AnchorPeers", true, false},
		{"result too large", admin1, toConfig(orderer, cb.HeaderType_CONFIG, 3000), cb.Status_REQUEST_ENTITY_TOO_LARGE,
			"config update for existing channel did not pass final checks: envelope of", true, false},
		{"orderer not a writer", admin1, toConfig(outsider, cb.HeaderType_CONFIG, 10), cb.Status_FORBIDDEN,
			"did not pass final checks: creator Org3MSP", true, false},
		{"result not CONFIG", admin1, toConfig(orderer, cb.HeaderType_ENDORSER_TRANSACTION, 10), cb.Status_INTERNAL_SERVER_ERROR,
			"produced an envelope of type ENDORSER_TRANSACTION", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := &fakeChannel{max: 2000, configFn: tc.configFn}
			h := NewHandler(channelMap{"cfg": ch}, nil)
			update := envelope(t, cb.HeaderType_CONFIG_UPDATE, "cfg", tc.signer, 10)
			r := h.Process(context.Background(), update)
			if r.Status != tc.status || !strings.Contains(r.Info, tc.info) {
				t.Fatalf("got %s %q, want %s containing %q", r.Status, r.Info, tc.status, tc.info)
			}
			if got := len(ch.updates) == 1; got != tc.processed {
				t.Errorf("ProcessConfigUpdate called %d times", len(ch.updates))
			}
			if !tc.ordered {
				if len(ch.ordered) != 0 {
					t.Errorf("ordered %d envelopes, want none", len(ch.ordered))
				}
				return
			}
			if len(ch.ordered) != 1 {
				t.Fatalf("ordered %d envelopes, want 1", len(ch.ordered))
			}
			got, err := protos.UnmarshalEnvelope(ch.ordered[0])
			if err != nil {
				t.Fatal(err)
			}
			if typ := cb.HeaderType(got.ChannelHeader.Type); typ != cb.HeaderType_CONFIG || !bytes.Equal(got.SignatureHeader.Creator, orderer.sid) {
				t.Errorf("ordered a %s envelope by %s, want the orderer's CONFIG envelope", typ, DescribeIdentity(got.SignatureHeader.Creator))
			}
		})
	}
}

// framingChannel is a fakeChannel that takes envelopes framed: after prefix
// free bytes.
type framingChannel struct {
	*fakeChannel
	prefix int
	framed [][]byte
}

func (f *framingChannel) FramePrefix() int { return f.prefix }
func (f *framingChannel) SubmitFramed(ctx context.Context, framed []byte) (<-chan error, error) {
	f.mu.Lock()
	f.framed = append(f.framed, framed)
	f.mu.Unlock()
	return f.fakeChannel.Submit(ctx, framed[f.prefix:])
}

// TestFramerGetsEnvelopeAfterPrefix: a Framer channel is handed the same
// envelope bytes as a plain one, after its prefix, through SubmitFramed,
// and the size limit applies to the envelope alone.
func TestFramerGetsEnvelopeAfterPrefix(t *testing.T) {
	org1 := newTestSigner(t, "Org1MSP", "User1")
	env := envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "framed", org1, 10)
	want := protos.Marshal(env)
	framer := &framingChannel{fakeChannel: &fakeChannel{max: uint32(len(want))}, prefix: 9}
	h := NewHandler(channelMap{"framed": framer}, nil)
	if r := h.Process(context.Background(), env); r.Status != cb.Status_SUCCESS {
		t.Fatalf("%v %s", r.Status, r.Info)
	}
	if len(framer.framed) != 1 || len(framer.framed[0]) != 9+len(want) || !bytes.Equal(framer.framed[0][9:], want) {
		t.Fatalf("framed %x, want 9 free bytes then %x", framer.framed, want)
	}
	if len(framer.ordered) != 1 || !bytes.Equal(framer.ordered[0], want) {
		t.Fatalf("ordered %x, want %x", framer.ordered, want)
	}
	framer.max = uint32(len(want) - 1)
	if r := h.Process(context.Background(), env); r.Status != cb.Status_REQUEST_ENTITY_TOO_LARGE ||
		r.Info != fmt.Sprintf("envelope of %d bytes exceeds channel framed Orderer.BatchSize.AbsoluteMaxBytes %d", len(want), len(want)-1) {
		t.Fatalf("over the limit: %v %s", r.Status, r.Info)
	}
}
