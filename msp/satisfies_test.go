package msp

import (
	"os"
	"path/filepath"
	"testing"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// principalCases are principals of every kind a policy may hold, well and
// badly encoded, for the MSP IDs of the fixture network and one unknown.
func principalCases(t *testing.T, ids []*Identity) []*mspproto.MSPPrincipal {
	t.Helper()
	var ps []*mspproto.MSPPrincipal
	roles := []mspproto.MSPRole_MSPRoleType{mspproto.MSPRole_MEMBER, mspproto.MSPRole_ADMIN, mspproto.MSPRole_CLIENT,
		mspproto.MSPRole_PEER, mspproto.MSPRole_ORDERER, mspproto.MSPRole_MSPRoleType(7)}
	for _, m := range []string{"Org1MSP", "Org2MSP", "OrdererMSP", "NoSuchMSP"} {
		for _, r := range roles {
			ps = append(ps, role(m, r))
		}
		raw := func(b []byte) *mspproto.MSPPrincipal {
			return &mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_ROLE, Principal: b}
		}
		member := protos.Marshal(&mspproto.MSPRole{MspIdentifier: m, Role: mspproto.MSPRole_MEMBER})
		peer := protos.Marshal(&mspproto.MSPRole{MspIdentifier: m, Role: mspproto.MSPRole_PEER})
		ps = append(ps,
			raw(append(append([]byte{}, member...), peer...)),                                                       // repeated fields: the last wins
			raw(protowire.AppendVarint(protowire.AppendTag(append([]byte{}, peer...), 9, protowire.VarintType), 1)), // unknown field
			raw(member[:len(member)-1]), // truncated
			raw(protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{3})),         // role with the wrong wire type
			raw(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{0xff, 'x'})), // not UTF-8
			raw(nil), // an empty role: MEMBER of ""
		)
		ps = append(ps, &mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_ORGANIZATION_UNIT,
			Principal: protos.Marshal(&mspproto.OrganizationUnit{MspIdentifier: m, OrganizationalUnitIdentifier: "peer"})})
	}
	for _, id := range ids {
		if id != nil {
			ps = append(ps, &mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_IDENTITY, Principal: id.Serialized})
		}
	}
	ps = append(ps, nil,
		&mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_ANONYMITY,
			Principal: protos.Marshal(&mspproto.MSPIdentityAnonymity{AnonymityType: mspproto.MSPIdentityAnonymity_NOMINAL})},
		&mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_COMBINED,
			Principal: protos.Marshal(&mspproto.CombinedPrincipal{Principals: []*mspproto.MSPPrincipal{role("Org1MSP", mspproto.MSPRole_MEMBER), role("Org1MSP", mspproto.MSPRole_PEER)}})})
	return ps
}

// Satisfies is the verdict of SatisfiesPrincipal for every identity and
// principal, valid or not, with NodeOUs and with admin certificates.
func TestSatisfiesAgreesWithSatisfiesPrincipal(t *testing.T) {
	check := func(t *testing.T, mgr *Manager, ids []*Identity) {
		t.Helper()
		yes, no := 0, 0
		for _, p := range principalCases(t, ids) {
			for _, id := range ids {
				// Twice: the second time through the identity's remembered validation.
				for range 2 {
					err := mgr.SatisfiesPrincipal(id, p)
					if got := mgr.Satisfies(id, p); got != (err == nil) {
						t.Fatalf("Satisfies(%s, %v) = %v, SatisfiesPrincipal says %v", id, p, got, err)
					}
					if err == nil {
						yes++
					} else {
						no++
					}
				}
			}
		}
		if yes == 0 || no == 0 {
			t.Fatalf("%d satisfied, %d not: the cases test nothing", yes, no)
		}
	}

	t.Run("NodeOUs", func(t *testing.T) {
		mgr := genesisManager(t)
		creators, endorsements := signedDataOfBlock(t, "block_000009.pb")
		var ids []*Identity
		for _, sd := range append(creators[:1], endorsements[:2]...) {
			id, err := mgr.DeserializeIdentity(sd.Identity)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			// The same certificate claimed by the other organisation is invalid there.
			other := "Org2MSP"
			if id.MSPID == other {
				other = "Org1MSP"
			}
			ids = append(ids, NewIdentity(other, id.Cert))
		}
		for _, d := range []string{"org1.example.com", "org2.example.com", "example.com"} {
			kind := "peerOrganizations"
			if d == "example.com" {
				kind = "ordererOrganizations"
			}
			raw, err := os.ReadFile(fixturePath(t, "organizations", kind, d, "users", "Admin@"+d, "msp", "signcerts", "Admin@"+d+"-cert.pem"))
			if err != nil {
				t.Fatal(err)
			}
			cert, err := parseCertPEM(raw)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, NewIdentity(mspIDForDomain(d), cert))
		}
		check(t, mgr, append(ids, nil, NewIdentity("NoSuchMSP", ids[0].Cert)))
	})

	t.Run("AdminCerts", func(t *testing.T) {
		cfgPath := filepath.Join(t.TempDir(), "crypto-config.yaml")
		if err := os.WriteFile(cfgPath, []byte("PeerOrgs:\n  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: false\n    Template: {Count: 1}\n    Users: {Count: 1}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		org := filepath.Join(generate(t, cfgPath), "peerOrganizations", "org1.example.com")
		conf, err := LoadMSPDir(filepath.Join(org, "msp"), "Org1MSP")
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(conf)
		if err != nil {
			t.Fatal(err)
		}
		var ids []*Identity
		for _, dir := range []string{"users/Admin@org1.example.com/msp", "users/User1@org1.example.com/msp", "peers/peer0.org1.example.com/msp"} {
			si, err := LoadSigningIdentity(filepath.Join(org, dir), "Org1MSP")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, si.Identity)
		}
		check(t, NewManager(m), ids)
	})
}

// decodeRole, when it reads a role at all, reads what proto.Unmarshal does.
func FuzzDecodeRole(f *testing.F) {
	f.Add(protos.Marshal(&mspproto.MSPRole{MspIdentifier: "Org1MSP", Role: mspproto.MSPRole_PEER}))
	f.Add(protos.Marshal(&mspproto.MSPRole{MspIdentifier: "Org1MSP"}))
	f.Add([]byte{})
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x0a, 0x01, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		mspID, r, ok := decodeRole(b)
		var want mspproto.MSPRole
		err := proto.Unmarshal(b, &want)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("decodeRole read %q/%v where proto.Unmarshal fails: %v", mspID, r, err)
		}
		if string(mspID) != want.MspIdentifier || r != want.Role {
			t.Fatalf("decodeRole read %q/%v, proto.Unmarshal %q/%v", mspID, r, want.MspIdentifier, want.Role)
		}
	})
}
