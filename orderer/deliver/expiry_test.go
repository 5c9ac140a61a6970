package deliver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"

	"github.com/weft-ledger/weft/protos"
)

// certSigner is a requester with a real certificate valid until notAfter.
type certSigner []byte

func (s certSigner) Sign([]byte) ([]byte, error) { return []byte("sig"), nil }
func (s certSigner) Serialize() ([]byte, error)  { return s, nil }

func newCertSigner(t *testing.T, mspID, cn string, notAfter time.Time) certSigner {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: cn},
		NotBefore: notAfter.Add(-24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return protos.Marshal(&mspproto.SerializedIdentity{Mspid: mspID, IdBytes: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})})
}

// recordingStream is a Stream for serve: it records the block numbers sent
// and calls onSend after each.
type recordingStream struct {
	sent   []uint64
	onSend func()
}

func (s *recordingStream) Context() context.Context    { return context.Background() }
func (s *recordingStream) Recv() (*cb.Envelope, error) { return nil, context.Canceled }
func (s *recordingStream) Send(r *ab.DeliverResponse) error {
	s.sent = append(s.sent, r.GetBlock().GetHeader().GetNumber())
	if s.onSend != nil {
		s.onSend()
	}
	return nil
}

// TestExpiredRequesterRefused: a Readers member whose certificate has
// expired gets FORBIDDEN and no block, the reason naming it and its
// NotAfter; a stream whose requester's certificate expires while blocks are
// being sent stops before the next block, as Fabric's deliver service does.
func TestExpiredRequesterRefused(t *testing.T) {
	ch := newMemChannel(3)
	h := NewHandler(channelMap{"mychannel": ch}, nil)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	h.now = func() time.Time { return time.Unix(0, clock.Load()) }
	all := &ab.SeekInfo{Start: oldest, Stop: newest}

	notAfter := time.Now().Add(-time.Minute).Truncate(time.Second)
	expired := newCertSigner(t, "Org1MSP", "Expired@org1.example.com", notAfter)
	env, err := protos.NewSignedEnvelope(cb.HeaderType_DELIVER_SEEK_INFO, "mychannel", expired, all)
	if err != nil {
		t.Fatal(err)
	}
	s := &recordingStream{}
	status, info, err := h.serve(s, env)
	if err != nil || status != cb.Status_FORBIDDEN || len(s.sent) != 0 {
		t.Fatalf("expired requester: %s %q %v, %d blocks sent; want FORBIDDEN and none", status, info, err, len(s.sent))
	}
	for _, want := range []string{"expired", "Expired@org1.example.com", "Org1MSP", notAfter.UTC().Format(time.RFC3339)} {
		if !strings.Contains(info, want) {
			t.Errorf("info %q does not mention %q", info, want)
		}
	}

	// Valid for another hour; the clock jumps past that once block 0 is sent.
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	expiring := newCertSigner(t, "Org1MSP", "Expiring@org1.example.com", later)
	env, err = protos.NewSignedEnvelope(cb.HeaderType_DELIVER_SEEK_INFO, "mychannel", expiring, all)
	if err != nil {
		t.Fatal(err)
	}
	s = &recordingStream{onSend: func() { clock.Store(later.Add(time.Second).UnixNano()) }}
	status, info, err = h.serve(s, env)
	if err != nil || status != cb.Status_FORBIDDEN || len(s.sent) != 1 {
		t.Fatalf("requester expiring mid-stream: %s %q %v, blocks %v sent; want FORBIDDEN after block 0", status, info, err, s.sent)
	}
	if !strings.Contains(info, "before block 1") || !strings.Contains(info, "Expiring@org1.example.com") {
		t.Errorf("info %q does not say the stream stopped before block 1 for the expiring requester", info)
	}
}
