package broadcast

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
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"

	"github.com/weft-ledger/weft/protos"
)

// signerValidUntil is newTestSigner with a certificate valid until notAfter.
func signerValidUntil(t *testing.T, mspID, cn string, notAfter time.Time) testSigner {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: notAfter.Add(-24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sid := protos.Marshal(&mspproto.SerializedIdentity{Mspid: mspID, IdBytes: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})})
	return testSigner{key: key, sid: sid}
}

// TestExpiredCreatorRefused: an envelope, or a config update, whose creator
// satisfies /Channel/Writers but whose certificate has expired is refused
// with BAD_REQUEST (Fabric's status) before anything is ordered or any
// config update processed, naming the creator and its NotAfter.
func TestExpiredCreatorRefused(t *testing.T) {
	notAfter := time.Now().Add(-time.Minute).Truncate(time.Second)
	expired := signerValidUntil(t, "Org1MSP", "Expired@org1.example.com", notAfter)
	current := signerValidUntil(t, "Org1MSP", "Current@org1.example.com", time.Now().Add(time.Hour))
	ch := &fakeChannel{max: 2000}
	h := NewHandler(channelMap{"ok": ch}, nil)

	if r := h.Process(context.Background(), envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "ok", current, 10)); r.Status != cb.Status_SUCCESS {
		t.Fatalf("current certificate: %s %q", r.Status, r.Info)
	}
	for _, typ := range []cb.HeaderType{cb.HeaderType_ENDORSER_TRANSACTION, cb.HeaderType_CONFIG_UPDATE} {
		r := h.Process(context.Background(), envelope(t, typ, "ok", expired, 10))
		if r.Status != cb.Status_BAD_REQUEST {
			t.Errorf("%s from an expired creator: %s %q, want BAD_REQUEST", typ, r.Status, r.Info)
		}
		for _, want := range []string{"expired", "Expired@org1.example.com", "Org1MSP", notAfter.UTC().Format(time.RFC3339)} {
			if !strings.Contains(r.Info, want) {
				t.Errorf("%s: info %q does not mention %q", typ, r.Info, want)
			}
		}
	}
	if len(ch.ordered) != 1 || len(ch.updates) != 0 {
		t.Errorf("ordered %d envelopes and processed %d config updates, want 1 and 0", len(ch.ordered), len(ch.updates))
	}
}
