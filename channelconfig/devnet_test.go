package channelconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// devnet lays out a development network folder as `weft up` does: crypto in
// <dir>/organizations and sampleconfig/configtx.yaml copied to <dir>.
func devnet(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cc, err := msp.LoadCryptoConfig(filepath.Join(fixtureDir, "crypto-config.yaml"))
	if err != nil {
		t.Fatalf("fixture crypto-config: %v", err)
	}
	if err := msp.GenerateCrypto(cc, filepath.Join(dir, "organizations")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../sampleconfig/configtx.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "configtx.yaml"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func signer(t *testing.T, dir, org, who, mspID string) *msp.SigningIdentity {
	t.Helper()
	var mspDir string
	switch {
	case strings.HasPrefix(who, "peer"), strings.HasPrefix(who, "orderer"):
		kind := "peers"
		if strings.HasPrefix(who, "orderer") {
			kind = "orderers"
		}
		mspDir = filepath.Join(dir, "organizations", org, kind, who+"."+filepath.Base(org), "msp")
	default:
		mspDir = filepath.Join(dir, "organizations", org, "users", who+"@"+filepath.Base(org), "msp")
	}
	s, err := msp.LoadSigningIdentity(mspDir, mspID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sign(t *testing.T, msg []byte, signers ...*msp.SigningIdentity) []protos.SignedData {
	t.Helper()
	var out []protos.SignedData
	for _, s := range signers {
		sig, err := s.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, protos.SignedData{Data: msg, Identity: id, Signature: sig})
	}
	return out
}

func TestSampleConfigDevnet(t *testing.T) {
	dir := devnet(t)
	ctx, err := LoadConfigTx(filepath.Join(dir, "configtx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	block, err := GenesisBlock(ctx, "ChannelUsingRaft", "mychannel")
	if err != nil {
		t.Fatal(err)
	}
	b, err := BundleFromBlock(block)
	if err != nil {
		t.Fatal(err)
	}
	o, a := b.Orderer(), b.Application()
	if o.BatchTimeout != 200*time.Millisecond || o.MaxMessageCount != 500 || o.AbsoluteMaxBytes != 99<<20 || o.PreferredMaxBytes != 2<<20 {
		t.Errorf("batch = %v %d %d %d", o.BatchTimeout, o.MaxMessageCount, o.AbsoluteMaxBytes, o.PreferredMaxBytes)
	}
	if !reflect.DeepEqual(o.Endpoints, []string{"localhost:7050"}) {
		t.Errorf("endpoints = %v", o.Endpoints)
	}
	serverCrt, err := os.ReadFile(filepath.Join(dir, "organizations/ordererOrganizations/example.com/orderers/orderer.example.com/tls/server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Consenters) != 1 || o.Consenters[0].Host != "localhost" || o.Consenters[0].Port != 7050 ||
		!bytes.Equal(o.Consenters[0].ServerTlsCert, serverCrt) || !bytes.Equal(o.Consenters[0].ClientTlsCert, serverCrt) {
		t.Errorf("consenters = %v", o.Consenters)
	}
	if got := a.Orgs["Org1MSP"].AnchorPeers; !reflect.DeepEqual(got, []string{"localhost:7051"}) {
		t.Errorf("Org1 anchors = %v", got)
	}
	if got := a.Orgs["Org2MSP"].AnchorPeers; !reflect.DeepEqual(got, []string{"localhost:9051"}) {
		t.Errorf("Org2 anchors = %v", got)
	}
	if !reflect.DeepEqual(a.Capabilities, []string{"V2_5"}) || !reflect.DeepEqual(o.Capabilities, []string{"V2_0"}) {
		t.Errorf("capabilities = %v %v", a.Capabilities, o.Capabilities)
	}

	const org1, org2, ord = "peerOrganizations/org1.example.com", "peerOrganizations/org2.example.com", "ordererOrganizations/example.com"
	peer1 := signer(t, dir, org1, "peer0", "Org1MSP")
	peer2 := signer(t, dir, org2, "peer0", "Org2MSP")
	admin1 := signer(t, dir, org1, "Admin", "Org1MSP")
	admin2 := signer(t, dir, org2, "Admin", "Org2MSP")
	user1 := signer(t, dir, org1, "User1", "Org1MSP")
	orderer := signer(t, dir, ord, "orderer", "OrdererMSP")
	msg := []byte("payload")

	cases := []struct {
		policy  string
		signers []*msp.SigningIdentity
		ok      bool
		mention string
	}{
		{"/Channel/Application/Endorsement", []*msp.SigningIdentity{peer1, peer2}, true, ""},
		{"/Channel/Application/Endorsement", []*msp.SigningIdentity{peer2}, false, "Org1MSP"},
		{"/Channel/Application/LifecycleEndorsement", []*msp.SigningIdentity{peer1, peer2}, true, ""},
		{"/Channel/Application/Writers", []*msp.SigningIdentity{user1}, true, ""},
		{"/Channel/Application/Writers", []*msp.SigningIdentity{peer1}, false, "with role CLIENT"},
		{"/Channel/Application/Readers", []*msp.SigningIdentity{peer1}, true, ""},
		{"/Channel/Application/Admins", []*msp.SigningIdentity{admin1}, false, "Org2MSP"},
		{"/Channel/Application/Admins", []*msp.SigningIdentity{admin1, admin2}, true, ""},
		{"/Channel/Admins", []*msp.SigningIdentity{admin1, admin2}, false, "/Channel/Orderer/Admins"},
		{"/Channel/Orderer/BlockValidation", []*msp.SigningIdentity{orderer}, true, ""},
		{"/Channel/Orderer/BlockValidation", []*msp.SigningIdentity{peer1}, false, "OrdererMSP"},
		{"/Channel/Writers", []*msp.SigningIdentity{user1}, true, ""},
	}
	for _, c := range cases {
		err := mustPolicy(t, b, c.policy).Evaluate(sign(t, msg, c.signers...))
		if (err == nil) != c.ok {
			t.Errorf("%s signed by %d identities: err = %v, want ok=%v", c.policy, len(c.signers), err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: error does not mention %q: %v", c.policy, c.mention, err)
		}
	}

	// Identities of another network's Org1 (same MSP ID, other CA) are rejected.
	other := devnet(t)
	stranger := signer(t, other, org1, "peer0", "Org1MSP")
	err = mustPolicy(t, b, "/Channel/Application/Endorsement").Evaluate(sign(t, msg, stranger, peer2))
	if err == nil || !strings.Contains(err.Error(), "rejected: signature 0 from Org1MSP peer0.org1.example.com") {
		t.Errorf("foreign-CA identity: %v", err)
	}
}
