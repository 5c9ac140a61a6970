package msp

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/protos"
)

func fixturePath(t *testing.T, parts ...string) string {
	t.Helper()
	p := fabricfixture.Path(parts...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Fabric fixture not available: %v", err)
	}
	return p
}

// mspIDForDomain maps the fixture's organisations to their MSP IDs (configtx.yaml).
func mspIDForDomain(domain string) string {
	switch domain {
	case "org1.example.com":
		return "Org1MSP"
	case "org2.example.com":
		return "Org2MSP"
	case "example.com":
		return "OrdererMSP"
	}
	return ""
}

// orgMSPDir returns <root>/{peer,orderer}Organizations/<domain>/msp.
func orgMSPDir(root, domain string) string {
	kind := "peerOrganizations"
	if domain == "example.com" {
		kind = "ordererOrganizations"
	}
	return filepath.Join(root, kind, domain, "msp")
}

// genesisMSPs extracts every FabricMSPConfig of a config block.
func genesisMSPs(t *testing.T, path string) map[string]*mspproto.FabricMSPConfig {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, err := protos.UnmarshalBlock(raw)
	if err != nil {
		t.Fatal(err)
	}
	// configtxgen leaves the genesis envelope unsigned (no creator), so decode by hand.
	env := &cb.Envelope{}
	if err := proto.Unmarshal(block.Data.Data[0], env); err != nil {
		t.Fatal(err)
	}
	payload := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		t.Fatal(err)
	}
	ce := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(payload.Data, ce); err != nil {
		t.Fatal(err)
	}
	out := map[string]*mspproto.FabricMSPConfig{}
	for _, section := range []string{"Application", "Orderer"} {
		for name, g := range ce.Config.ChannelGroup.Groups[section].GetGroups() {
			v := g.Values["MSP"]
			if v == nil {
				t.Fatalf("%s/%s has no MSP value", section, name)
			}
			mc := &mspproto.MSPConfig{}
			if err := proto.Unmarshal(v.Value, mc); err != nil {
				t.Fatal(err)
			}
			fc := &mspproto.FabricMSPConfig{}
			if err := proto.Unmarshal(mc.Config, fc); err != nil {
				t.Fatal(err)
			}
			out[fc.Name] = fc
		}
	}
	return out
}

func genesisManager(t *testing.T) *Manager {
	t.Helper()
	confs := genesisMSPs(t, fixturePath(t, "mychannel-genesis.block"))
	var msps []*MSP
	for id, c := range confs {
		m, err := New(c)
		if err != nil {
			t.Fatalf("New(%s from genesis block): %v", id, err)
		}
		msps = append(msps, m)
	}
	return NewManager(msps...)
}

func folderManager(t *testing.T, root string) *Manager {
	t.Helper()
	var msps []*MSP
	for _, d := range []string{"org1.example.com", "org2.example.com", "example.com"} {
		conf, err := LoadMSPDir(orgMSPDir(root, d), mspIDForDomain(d))
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(conf)
		if err != nil {
			t.Fatalf("New(%s): %v", d, err)
		}
		msps = append(msps, m)
	}
	return NewManager(msps...)
}

func role(mspID string, r mspproto.MSPRole_MSPRoleType) *mspproto.MSPPrincipal {
	return &mspproto.MSPPrincipal{
		PrincipalClassification: mspproto.MSPPrincipal_ROLE,
		Principal:               protos.Marshal(&mspproto.MSPRole{MspIdentifier: mspID, Role: r}),
	}
}

// signedDataOfBlock returns the creator and endorsement signatures of every
// transaction of a fixture block.
func signedDataOfBlock(t *testing.T, name string) (creators, endorsements []protos.SignedData) {
	t.Helper()
	raw, err := os.ReadFile(fixturePath(t, "blocks", name))
	if err != nil {
		t.Fatal(err)
	}
	block, err := protos.UnmarshalBlock(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range block.Data.Data {
		env, err := protos.UnmarshalEnvelope(d)
		if err != nil {
			t.Fatalf("tx %d: %v", i, err)
		}
		creators = append(creators, env.SignedData())
		tx, err := protos.ParseEndorserTx(env)
		if err != nil {
			t.Fatalf("tx %d: %v", i, err)
		}
		endorsements = append(endorsements, tx.Endorsements()...)
	}
	return creators, endorsements
}

func TestLoadMSPDirEveryFixtureFolder(t *testing.T) {
	root := fixturePath(t, "organizations")
	count := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() != "msp" {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		domain := strings.Split(rel, string(filepath.Separator))[1]
		mspID := mspIDForDomain(domain)
		conf, err := LoadMSPDir(path, mspID)
		if err != nil {
			t.Errorf("LoadMSPDir(%s): %v", rel, err)
			return nil
		}
		m, err := New(conf)
		if err != nil {
			t.Errorf("New(%s): %v", rel, err)
			return nil
		}
		count++
		if conf.FabricNodeOus == nil || !conf.FabricNodeOus.Enable || !m.NodeOUsEnabled() {
			t.Errorf("%s: NodeOUs not enabled", rel)
		}
		if m.TLSRootCAs() == nil || len(conf.TlsRootCerts) != 1 {
			t.Errorf("%s: want 1 TLS root, got %d", rel, len(conf.TlsRootCerts))
		}
		// A local MSP's own certificate validates in its own MSP with the role its OU says.
		files, err := readPEMDir(filepath.Join(path, "signcerts"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || len(files) != 1 {
			t.Fatalf("%s signcerts: %v (%d files)", rel, err, len(files))
		}
		cert, err := parseCertPEM(files[0].data)
		if err != nil {
			t.Fatal(err)
		}
		id := NewIdentity(mspID, cert)
		if err := m.Validate(id); err != nil {
			t.Errorf("%s: own certificate does not validate: %v", rel, err)
		}
		r, err := m.NodeRole(id)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if want := cert.Subject.OrganizationalUnit[0]; roleName(r) != want {
			t.Errorf("%s: role %s, want %s", rel, roleName(r), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 3 organisation MSPs, 3 nodes (orderer, two peers), 5 users (three admins, two User1).
	if count != 11 {
		t.Fatalf("loaded %d MSP folders, want 11", count)
	}
}

func TestLoadMSPDirMatchesConfigtxgen(t *testing.T) {
	genesis := genesisMSPs(t, fixturePath(t, "mychannel-genesis.block"))
	if len(genesis) != 3 {
		t.Fatalf("genesis block has %d MSPs, want 3", len(genesis))
	}
	root := fixturePath(t, "organizations")
	for _, d := range []string{"org1.example.com", "org2.example.com", "example.com"} {
		id := mspIDForDomain(d)
		got, err := LoadMSPDir(orgMSPDir(root, d), id)
		if err != nil {
			t.Fatal(err)
		}
		want := genesis[id]
		if want == nil {
			t.Fatalf("genesis block lacks %s", id)
		}
		// Field by field first, for a readable failure, then the whole message.
		if len(got.RootCerts) != 1 || string(got.RootCerts[0]) != string(want.RootCerts[0]) {
			t.Errorf("%s root certs differ", id)
		}
		if len(got.TlsRootCerts) != 1 || string(got.TlsRootCerts[0]) != string(want.TlsRootCerts[0]) {
			t.Errorf("%s TLS root certs differ", id)
		}
		if !proto.Equal(got.FabricNodeOus, want.FabricNodeOus) {
			t.Errorf("%s NodeOUs differ:\n got %v\nwant %v", id, got.FabricNodeOus, want.FabricNodeOus)
		}
		if !proto.Equal(got.CryptoConfig, want.CryptoConfig) {
			t.Errorf("%s crypto config: got %v want %v", id, got.CryptoConfig, want.CryptoConfig)
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: LoadMSPDir result differs from configtxgen's", id)
		}
	}
}

func TestFixtureSignaturesVerify(t *testing.T) {
	t.Parallel()
	creators, endorsements := signedDataOfBlock(t, "block_000009.pb")
	if len(creators) != 500 || len(endorsements) != 1000 {
		t.Fatalf("block 9: %d creators, %d endorsements; want 500 and 1000", len(creators), len(endorsements))
	}
	managers := map[string]*Manager{
		"genesis": genesisManager(t),
		"folders": folderManager(t, fixturePath(t, "organizations")),
	}
	all := append(append([]protos.SignedData(nil), creators...), endorsements...)
	for name, mgr := range managers {
		t.Run(name, func(t *testing.T) {
			for i, sd := range all {
				id, err := mgr.DeserializeIdentity(sd.Identity)
				if err != nil {
					t.Fatalf("signed data %d: %v", i, err)
				}
				// Verify does not depend on the MSP source: check every signature
				// once (genesis MSPs) and a sample with the folder MSPs.
				if name == "folders" && i%50 != 0 {
					continue
				}
				if err := id.Verify(sd.Data, sd.Signature); err != nil {
					t.Fatalf("signed data %d: %v", i, err)
				}
			}
		})
	}
	// Tampering with data or signature must fail.
	mgr := managers["genesis"]
	for _, sd := range []protos.SignedData{creators[0], endorsements[0], endorsements[1]} {
		id, err := mgr.DeserializeIdentity(sd.Identity)
		if err != nil {
			t.Fatal(err)
		}
		data := append([]byte(nil), sd.Data...)
		data[len(data)/2] ^= 0x01
		if err := id.Verify(data, sd.Signature); !errors.Is(err, ErrBadSignature) {
			t.Errorf("flipped data byte: got %v, want ErrBadSignature", err)
		}
		sig := append([]byte(nil), sd.Signature...)
		sig[len(sig)-3] ^= 0x01
		if err := id.Verify(sd.Data, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("flipped signature byte: got %v, want ErrBadSignature", err)
		}
		if err := id.Verify(sd.Data, sd.Signature[:len(sd.Signature)-4]); !errors.Is(err, ErrBadSignature) {
			t.Errorf("truncated signature: got %v, want ErrBadSignature", err)
		}
		// The same signature with S replaced by N-S is mathematically valid but must be refused.
		r, s, err := unmarshalECDSASignature(sd.Signature)
		if err != nil {
			t.Fatal(err)
		}
		pub := id.Cert.PublicKey.(*ecdsa.PublicKey)
		highS := new(ecdsaSignature)
		highS.R, highS.S = r, toHighS(pub, s)
		digest := sha256.Sum256(sd.Data)
		if !ecdsa.Verify(pub, digest[:], highS.R, highS.S) {
			t.Fatal("test bug: high-S variant is not a valid ECDSA signature")
		}
		hs, _ := marshalECDSASignature(highS.R, highS.S)
		err = id.Verify(sd.Data, hs)
		if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "high-S") {
			t.Errorf("high-S signature: got %v, want refusal naming high-S", err)
		}
	}
}

func toHighS(pub *ecdsa.PublicKey, s *big.Int) *big.Int {
	if !isLowS(pub.Curve, s) {
		return s
	}
	return new(big.Int).Sub(pub.Curve.Params().N, s)
}

func TestFixturePrincipals(t *testing.T) {
	mgr := genesisManager(t)
	creators, endorsements := signedDataOfBlock(t, "block_000009.pb")

	endorser := func(i int) *Identity {
		id, err := mgr.DeserializeIdentity(endorsements[i].Identity)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	seen := map[string]bool{}
	for i := range endorsements[:2] {
		id := endorser(i)
		seen[id.MSPID] = true
		for _, ok := range []mspproto.MSPRole_MSPRoleType{mspproto.MSPRole_PEER, mspproto.MSPRole_MEMBER} {
			if err := mgr.SatisfiesPrincipal(id, role(id.MSPID, ok)); err != nil {
				t.Errorf("endorser %s should be %s: %v", id, ok, err)
			}
		}
		for _, bad := range []mspproto.MSPRole_MSPRoleType{mspproto.MSPRole_ADMIN, mspproto.MSPRole_CLIENT, mspproto.MSPRole_ORDERER} {
			err := mgr.SatisfiesPrincipal(id, role(id.MSPID, bad))
			if !errors.Is(err, ErrPrincipalNotSatisfied) {
				t.Errorf("endorser %s must not be %s, got %v", id, bad, err)
			} else if !strings.Contains(err.Error(), id.Cert.Subject.CommonName) {
				t.Errorf("error does not name the identity: %v", err)
			}
		}
		other := "Org2MSP"
		if id.MSPID == other {
			other = "Org1MSP"
		}
		if err := mgr.SatisfiesPrincipal(id, role(other, mspproto.MSPRole_MEMBER)); !errors.Is(err, ErrPrincipalNotSatisfied) {
			t.Errorf("endorser %s must not be a member of %s, got %v", id, other, err)
		}
		// IDENTITY principal: itself yes, the other endorser no.
		self := &mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_IDENTITY, Principal: id.Serialized}
		if err := mgr.SatisfiesPrincipal(id, self); err != nil {
			t.Errorf("IDENTITY principal of itself: %v", err)
		}
		otherID := endorser(1 - i)
		if err := mgr.SatisfiesPrincipal(otherID, self); err == nil {
			t.Errorf("%s satisfied the IDENTITY principal of %s", otherID, id)
		}
		// ORGANIZATION_UNIT principal with the certifiers identifier of the org's root chain.
		m, _ := mgr.MSP(id.MSPID)
		ou := &mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_ORGANIZATION_UNIT,
			Principal: protos.Marshal(&mspproto.OrganizationUnit{MspIdentifier: id.MSPID, OrganizationalUnitIdentifier: "peer",
				CertifiersIdentifier: chainIdentifier(m.roots)})}
		if err := mgr.SatisfiesPrincipal(id, ou); err != nil {
			t.Errorf("OU principal peer: %v", err)
		}
		ouClient := &mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_ORGANIZATION_UNIT,
			Principal: protos.Marshal(&mspproto.OrganizationUnit{MspIdentifier: id.MSPID, OrganizationalUnitIdentifier: "client",
				CertifiersIdentifier: chainIdentifier(m.roots)})}
		if err := mgr.SatisfiesPrincipal(id, ouClient); !errors.Is(err, ErrPrincipalNotSatisfied) {
			t.Errorf("OU principal client for a peer: got %v", err)
		}
	}
	if !seen["Org1MSP"] || !seen["Org2MSP"] {
		t.Fatalf("expected endorsers of both orgs, saw %v", seen)
	}

	creator, err := mgr.DeserializeIdentity(creators[0].Identity)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := mustMSP(t, mgr, creator.MSPID).NodeRole(creator); err != nil || (r != mspproto.MSPRole_CLIENT && r != mspproto.MSPRole_ADMIN) {
		t.Errorf("creator %s role %v, %v", creator, r, err)
	}
	if err := mgr.SatisfiesPrincipal(creator, role(creator.MSPID, mspproto.MSPRole_PEER)); err == nil {
		t.Errorf("creator %s satisfied PEER", creator)
	}

	// Admin certificates of the fixture's users folders are ADMIN (via the admin OU), not CLIENT.
	for _, d := range []string{"org1.example.com", "org2.example.com", "example.com"} {
		kind := "peerOrganizations"
		if d == "example.com" {
			kind = "ordererOrganizations"
		}
		p := fixturePath(t, "organizations", kind, d, "users", "Admin@"+d, "msp", "signcerts", "Admin@"+d+"-cert.pem")
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := parseCertPEM(raw)
		if err != nil {
			t.Fatal(err)
		}
		admin := NewIdentity(mspIDForDomain(d), cert)
		if _, err := mgr.DeserializeIdentity(admin.Serialized); err != nil {
			t.Fatal(err)
		}
		if err := mgr.SatisfiesPrincipal(admin, role(admin.MSPID, mspproto.MSPRole_ADMIN)); err != nil {
			t.Errorf("%s is not ADMIN: %v", admin, err)
		}
		if err := mgr.SatisfiesPrincipal(admin, role(admin.MSPID, mspproto.MSPRole_MEMBER)); err != nil {
			t.Errorf("%s is not MEMBER: %v", admin, err)
		}
		if err := mgr.SatisfiesPrincipal(admin, role(admin.MSPID, mspproto.MSPRole_CLIENT)); err == nil {
			t.Errorf("%s satisfied CLIENT", admin)
		}
	}

	// The orderer's certificate is an ORDERER of OrdererMSP.
	raw, err := os.ReadFile(fixturePath(t, "organizations", "ordererOrganizations", "example.com", "orderers",
		"orderer.example.com", "msp", "signcerts", "orderer.example.com-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := parseCertPEM(raw)
	ord := NewIdentity("OrdererMSP", cert)
	if err := mgr.SatisfiesPrincipal(ord, role("OrdererMSP", mspproto.MSPRole_ORDERER)); err != nil {
		t.Errorf("orderer: %v", err)
	}
	if err := mgr.SatisfiesPrincipal(ord, role("OrdererMSP", mspproto.MSPRole_PEER)); err == nil {
		t.Error("orderer satisfied PEER")
	}
}

func TestFixtureIdentityOfOtherOrgRejected(t *testing.T) {
	mgr := genesisManager(t)
	_, endorsements := signedDataOfBlock(t, "block_000009.pb")
	var org2 *Identity
	for _, e := range endorsements[:2] {
		id, err := ParseSerializedIdentity(e.Identity)
		if err != nil {
			t.Fatal(err)
		}
		if id.MSPID == "Org2MSP" {
			org2 = id
		}
	}
	if org2 == nil {
		t.Fatal("no Org2 endorser in block 9")
	}
	// Org2's peer certificate presented as a member of Org1MSP.
	forged := NewIdentity("Org1MSP", org2.Cert)
	_, err := mgr.DeserializeIdentity(forged.Serialized)
	if !errors.Is(err, ErrInvalidIdentity) {
		t.Fatalf("Org2 cert claimed by Org1MSP: got %v, want ErrInvalidIdentity", err)
	}
	for _, want := range []string{"peer0.org2.example.com", "Org1MSP", "ca.org2.example.com"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// An MSP the channel does not know.
	_, err = mgr.DeserializeIdentity(NewIdentity("Org3MSP", org2.Cert).Serialized)
	if !errors.Is(err, ErrUnknownMSP) || !strings.Contains(err.Error(), "Org3MSP") {
		t.Fatalf("unknown MSP: got %v", err)
	}
	// Validate directly on the wrong MSP.
	m1 := mustMSP(t, mgr, "Org1MSP")
	if err := m1.Validate(org2); !errors.Is(err, ErrInvalidIdentity) {
		t.Fatalf("Org1MSP.Validate(Org2 identity): %v", err)
	}
	if _, err := m1.DeserializeIdentity(org2.Serialized); err == nil {
		t.Fatal("Org1MSP deserialized an Org2MSP identity")
	}
}

func mustMSP(t *testing.T, mgr *Manager, id string) *MSP {
	t.Helper()
	m, ok := mgr.MSP(id)
	if !ok {
		t.Fatalf("no MSP %s in %v", id, mgr.IDs())
	}
	return m
}
