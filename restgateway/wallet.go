package restgateway

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/weft-ledger/weft/msp"
)

// Wallet holds the signing identities the REST gateway may use, by name.
type Wallet struct {
	ids map[string]*msp.SigningIdentity
}

// Identity returns the identity called name.
func (w *Wallet) Identity(name string) (*msp.SigningIdentity, bool) {
	if w == nil {
		return nil, false
	}
	id, ok := w.ids[name]
	return id, ok
}

// Names lists the identities, sorted.
func (w *Wallet) Names() []string {
	if w == nil {
		return nil
	}
	out := make([]string, 0, len(w.ids))
	for n := range w.ids {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NewWallet builds a wallet from identities already loaded, by name.
func NewWallet(ids map[string]*msp.SigningIdentity) *Wallet {
	w := &Wallet{ids: map[string]*msp.SigningIdentity{}}
	for n, id := range ids {
		w.ids[n] = id
	}
	return w
}

// LoadWallet reads every identity of a wallet folder. Each identity is either
//
//   - a subfolder <name>/ holding a file mspid (the MSP ID, one line; when
//     absent, defaultMSPID) and either an MSP folder msp/ (signcerts/ and
//     keystore/, cryptogen's layout) or the files cert.pem and key.pem — so
//     cryptogen's users/ folder of an organisation is a wallet; or
//   - a file <name>.id in the JSON format of Fabric's SDK file wallets:
//     {"type":"X.509","mspId":..,"credentials":{"certificate":PEM,"privateKey":PEM}}.
//
// Other files are ignored. The error names the identity that cannot be read.
func LoadWallet(dir, defaultMSPID string) (*Wallet, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read wallet folder: %w", err)
	}
	w := &Wallet{ids: map[string]*msp.SigningIdentity{}}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		var (
			name string
			id   *msp.SigningIdentity
		)
		switch {
		case e.IsDir() || e.Type()&os.ModeSymlink != 0:
			if st, err := os.Stat(path); err != nil || !st.IsDir() {
				continue
			}
			name = e.Name()
			id, err = loadIdentityFolder(path, defaultMSPID)
		case strings.HasSuffix(e.Name(), ".id"):
			name = strings.TrimSuffix(e.Name(), ".id")
			id, err = loadIdentityFile(path)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("wallet identity %q (%s): %w", name, path, err)
		}
		if _, dup := w.ids[name]; dup {
			return nil, fmt.Errorf("wallet identity %q is defined twice in %s (a folder and a .id file)", name, dir)
		}
		w.ids[name] = id
	}
	return w, nil
}

func loadIdentityFolder(dir, defaultMSPID string) (*msp.SigningIdentity, error) {
	mspID := defaultMSPID
	raw, err := os.ReadFile(filepath.Join(dir, "mspid"))
	switch {
	case err == nil:
		mspID = strings.TrimSpace(string(raw))
	case !os.IsNotExist(err):
		return nil, fmt.Errorf("read the MSP ID: %w", err)
	case mspID == "":
		return nil, fmt.Errorf("no file mspid: write the identity's MSP ID (e.g. Org1MSP) into %s, or set restgateway.wallet.mspId", filepath.Join(dir, "mspid"))
	}
	if mspID == "" {
		return nil, fmt.Errorf("file %s is empty: write the identity's MSP ID into it", filepath.Join(dir, "mspid"))
	}
	if st, err := os.Stat(filepath.Join(dir, "msp")); err == nil && st.IsDir() {
		return msp.LoadSigningIdentity(filepath.Join(dir, "msp"), mspID)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		return nil, fmt.Errorf("no msp/ folder and no cert.pem: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("no msp/ folder and no key.pem: %w", err)
	}
	return identityFromPEM(mspID, certPEM, keyPEM)
}

type walletIDFile struct {
	Type        string `json:"type"`
	MSPID       string `json:"mspId"`
	Credentials struct {
		Certificate string `json:"certificate"`
		PrivateKey  string `json:"privateKey"`
	} `json:"credentials"`
}

func loadIdentityFile(path string) (*msp.SigningIdentity, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f walletIDFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("not a wallet identity JSON file: %w", err)
	}
	if f.Type != "" && f.Type != "X.509" {
		return nil, fmt.Errorf("identity type %q is not supported, only X.509", f.Type)
	}
	if f.MSPID == "" {
		return nil, fmt.Errorf("mspId is empty")
	}
	return identityFromPEM(f.MSPID, []byte(f.Credentials.Certificate), []byte(f.Credentials.PrivateKey))
}

func identityFromPEM(mspID string, certPEM, keyPEM []byte) (*msp.SigningIdentity, error) {
	cert, err := parseCertificatePEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := msp.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !key.PublicKey.Equal(pub) {
		return nil, fmt.Errorf("the private key does not belong to the certificate %q", cert.Subject.String())
	}
	return &msp.SigningIdentity{Identity: msp.NewIdentity(mspID, cert), Key: key}, nil
}

func parseCertificatePEM(raw []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}
