package channelconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// TestConfigUpdateWithRevokedIntermediateRefused: Org1's admin adds an
// intermediate CA to Org1's MSP definition together with a CRL of Org1's root
// that revokes it. The resulting configuration does not load, so the update is
// refused, naming the intermediate; the same update without the CRL passes.
func TestConfigUpdateWithRevokedIntermediateRefused(t *testing.T) {
	n := newUpdateNet(t)
	caDir := filepath.Join(n.dir, "organizations", org1Dir, "ca")
	rootCert := readCertFile(t, filepath.Join(caDir, "ca.org1.example.com-cert.pem"))
	rawKey, err := os.ReadFile(filepath.Join(caDir, "priv_sk"))
	if err != nil {
		t.Fatal(err)
	}
	rootKey, err := msp.ParsePrivateKeyPEM(rawKey)
	if err != nil {
		t.Fatal(err)
	}
	ikey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(4242), Subject: pkix.Name{CommonName: "ica.org1.example.com"},
		NotBefore: rootCert.NotBefore, NotAfter: rootCert.NotAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, rootCert, &ikey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: tmpl.SerialNumber, RevocationTime: time.Now()}}}, rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	withIntermediate := func(crls ...[]byte) *cb.ConfigUpdate {
		return orgGroupUpdate(n.bundle, "Org1MSP", func(g *cb.ConfigGroup) {
			mc := &mspproto.MSPConfig{}
			if err := proto.Unmarshal(g.Values[MSPKey].Value, mc); err != nil {
				t.Fatal(err)
			}
			fc := &mspproto.FabricMSPConfig{}
			if err := proto.Unmarshal(mc.Config, fc); err != nil {
				t.Fatal(err)
			}
			fc.IntermediateCerts = append(fc.IntermediateCerts, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
			fc.RevocationList = crls
			mc.Config = protos.Marshal(fc)
			g.Values[MSPKey] = &cb.ConfigValue{Version: g.Values[MSPKey].Version + 1, ModPolicy: g.Values[MSPKey].ModPolicy, Value: protos.Marshal(mc)}
		})
	}
	_, err = n.bundle.ProposeConfigUpdate(updateEnv(t, "mychannel", withIntermediate(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl})), n.admin1))
	wantRefused(t, err, "Org1MSP", "ica.org1.example.com", "revoked")
	if _, err := n.bundle.ProposeConfigUpdate(updateEnv(t, "mychannel", withIntermediate(), n.admin1)); err != nil {
		t.Errorf("the intermediate without the CRL: %v", err)
	}
}

func readCertFile(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
