package protos

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"testing"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// verifyWithCreator checks an ECDSA signature by a serialized identity with
// the standard library only (protos must not depend on msp).
func verifyWithCreator(t *testing.T, creator, msg, sig []byte) bool {
	t.Helper()
	sid := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(creator, sid); err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(sid.IdBytes)
	if blk == nil {
		t.Fatal("creator holds no PEM certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(msg)
	return ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), digest[:], sig)
}
