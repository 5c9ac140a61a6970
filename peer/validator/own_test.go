package validator

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

func selfSigned(t *testing.T, cn string) *msp.SigningIdentity {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &msp.SigningIdentity{Identity: msp.NewIdentity("Org1MSP", cert), Key: key}
}

func TestOwnSignatures(t *testing.T) {
	me, other := selfSigned(t, "peer0"), selfSigned(t, "peer1")
	own := NewOwnSignatures(me.Serialized, 2)
	signer := own.Signer(me)
	if s := own.Signer(other); s != protos.Signer(other) {
		t.Fatal("a signer of another identity was wrapped")
	}
	msg := []byte("proposal response payload and endorser")
	sig, err := signer.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := me.Verify(msg, sig); err != nil {
		t.Fatalf("wrapped signer made a bad signature: %v", err)
	}
	sd := protos.SignedData{Data: msg, Identity: me.Serialized, Signature: sig}
	if !own.Made(sd) {
		t.Fatal("own signature not remembered")
	}
	for name, alt := range map[string]protos.SignedData{
		"other data":     {Data: []byte("something else"), Identity: me.Serialized, Signature: sig},
		"other identity": {Data: msg, Identity: other.Serialized, Signature: sig},
		"other sig":      {Data: msg, Identity: me.Serialized, Signature: append(bytes.Clone(sig), 0)},
	} {
		if own.Made(alt) {
			t.Errorf("%s: taken for an own signature", name)
		}
	}
	// The oldest signatures are forgotten past the capacity.
	for _, m := range []string{"a", "b"} {
		if _, err := signer.Sign([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if own.Made(sd) {
		t.Fatal("signature kept past the capacity")
	}
	var none *OwnSignatures
	if none.Made(sd) {
		t.Fatal("nil OwnSignatures made a signature")
	}
}

// TestOwnEndorsementsNotVerifiedAgain: an endorsement the validator's own
// peer signed over exactly those bytes is taken as verified; any other is
// verified. Recording a broken signature as "own" shows that it is not
// checked again.
func TestOwnEndorsementsNotVerifiedAgain(t *testing.T) {
	n := newNetwork(t)
	o1, o2 := "Org1MSP", "Org2MSP"
	def := approve("basic", 1, "AND('Org1MSP.peer','Org2MSP.peer')")
	b, pvt := n.block(n.lifecycleTx(t, o1, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, def, n.peer[o1]),
		n.lifecycleTx(t, o2, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, def, n.peer[o2]))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID, pb.TxValidationCode_VALID)
	b, pvt = n.block(n.lifecycleTx(t, o1, lifecycle.FuncCommitChaincodeDefinition, commitDef(def), n.peer[o1], n.peer[o2]))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID)

	sim := n.l.NewSimulator("sim")
	if err := sim.SetState("basic", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	pub, _, err := sim.Results()
	if err != nil {
		t.Fatal(err)
	}
	user := n.user[o1]
	env := endorse(t, user, []*msp.SigningIdentity{n.peer[o1], n.peer[o2]}, "mychannel", "basic", "1.0", [][]byte{[]byte("f")}, pub)
	// Break peer0.org1's endorsement signature; the client signs the result.
	payload, ptx, cap := &cb.Payload{}, &pb.Transaction{}, &pb.ChaincodeActionPayload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(payload.Data, ptx); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(ptx.Actions[0].Payload, cap); err != nil {
		t.Fatal(err)
	}
	end := cap.Action.Endorsements[0]
	end.Signature[len(end.Signature)-1] ^= 0x40
	data := append(bytes.Clone(cap.Action.ProposalResponsePayload), end.Endorser...)
	ptx.Actions[0].Payload = protos.Marshal(cap)
	payload.Data = protos.Marshal(ptx)
	if env, err = protos.SignEnvelope(payload, user); err != nil {
		t.Fatal(err)
	}
	b, _ = n.block(tx{env: env})

	validate := func(own *OwnSignatures) Verdict {
		t.Helper()
		vs, err := New(Config{Workers: 2, Own: own}).Validate(b, n.bundle, n.l.State(), n.l.Blocks().TxExists)
		if err != nil {
			t.Fatal(err)
		}
		return vs[0]
	}
	if vd := validate(nil); vd.Code != pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE || !strings.Contains(vd.Reason, "invalid") {
		t.Fatalf("broken endorsement: %s (%s)", vd.Code, vd.Reason)
	}
	other := NewOwnSignatures(end.Endorser, 16)
	other.Record(data, []byte("some other signature"))
	if vd := validate(other); vd.Code != pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
		t.Fatalf("broken endorsement, not one of ours: %s (%s)", vd.Code, vd.Reason)
	}
	wrongPeer := NewOwnSignatures(n.peer[o2].Serialized, 16)
	wrongPeer.Record(data, end.Signature)
	if vd := validate(wrongPeer); vd.Code != pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
		t.Fatalf("broken endorsement of another peer: %s (%s)", vd.Code, vd.Reason)
	}
	mine := NewOwnSignatures(end.Endorser, 16)
	mine.Record(data, end.Signature)
	if vd := validate(mine); vd.Code != pb.TxValidationCode_VALID {
		t.Fatalf("own endorsement verified again: %s (%s)", vd.Code, vd.Reason)
	}
}
