package blockjson

import (
	"fmt"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/protos"
)

func fixtureBlock(t testing.TB, n int) *cb.Block {
	t.Helper()
	b, err := protos.UnmarshalBlock(fabricfixture.ReadFile(t, fmt.Sprintf("blocks/block_%06d.pb", n)))
	if err != nil {
		t.Fatalf("fixture block %d: %v", n, err)
	}
	return b
}

// serialized returns a serialized identity from the fixtures' public certificates.
func serialized(t testing.TB, mspID, certPath string) []byte {
	t.Helper()
	return protos.Marshal(&mspproto.SerializedIdentity{Mspid: mspID, IdBytes: fabricfixture.ReadFile(t, certPath)})
}

func user1(t testing.TB) []byte {
	return serialized(t, "Org1MSP", "organizations/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp/signcerts/User1@org1.example.com-cert.pem")
}

func peer0Org2(t testing.TB) []byte {
	return serialized(t, "Org2MSP", "organizations/peerOrganizations/org2.example.com/peers/peer0.org2.example.com/msp/signcerts/peer0.org2.example.com-cert.pem")
}

// txSpec describes a hand-built endorser transaction. Zero fields get
// defaults; the result is deterministic.
type txSpec struct {
	txID      string
	typ       cb.HeaderType
	creator   []byte
	endorser  []byte
	args      [][]byte
	response  *pb.Response
	event     *pb.ChaincodeEvent
	kv        *kvrwset.KVRWSet
	rawRwset  []byte // replaces kv's encoding when set
	rawTxData []byte // replaces the whole peer.Transaction when set
}

var fixedTime = time.Date(2025, 3, 4, 5, 6, 7, 890000000, time.UTC)

func buildEnvelope(t testing.TB, s txSpec) []byte {
	t.Helper()
	if s.typ == 0 {
		s.typ = cb.HeaderType_ENDORSER_TRANSACTION
	}
	if s.creator == nil {
		s.creator = user1(t)
	}
	if s.endorser == nil {
		s.endorser = peer0Org2(t)
	}
	if s.response == nil {
		s.response = &pb.Response{Status: 200}
	}
	if s.kv == nil {
		s.kv = &kvrwset.KVRWSet{}
	}
	rws := s.rawRwset
	if rws == nil {
		rws = protos.Marshal(&rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{
			{Namespace: "basic", Rwset: protos.Marshal(s.kv)},
		}})
	}
	var events []byte
	if s.event != nil {
		events = protos.Marshal(s.event)
	}
	act := &pb.ChaincodeAction{
		Results: rws, Events: events, Response: s.response,
		ChaincodeId: &pb.ChaincodeID{Name: "basic", Version: "1.0"},
	}
	cis := &pb.ChaincodeInvocationSpec{ChaincodeSpec: &pb.ChaincodeSpec{
		ChaincodeId: &pb.ChaincodeID{Name: "basic"}, Input: &pb.ChaincodeInput{Args: s.args},
	}}
	ap := &pb.ChaincodeActionPayload{
		ChaincodeProposalPayload: protos.Marshal(&pb.ChaincodeProposalPayload{Input: protos.Marshal(cis)}),
		Action: &pb.ChaincodeEndorsedAction{
			ProposalResponsePayload: protos.Marshal(&pb.ProposalResponsePayload{ProposalHash: []byte("hash"), Extension: protos.Marshal(act)}),
			Endorsements:            []*pb.Endorsement{{Endorser: s.endorser, Signature: []byte("sig")}},
		},
	}
	data := s.rawTxData
	if data == nil {
		data = protos.Marshal(&pb.Transaction{Actions: []*pb.TransactionAction{{Payload: protos.Marshal(ap)}}})
	}
	shdr := &cb.SignatureHeader{Creator: s.creator, Nonce: []byte("nonce")}
	if s.txID == "" {
		s.txID = protos.ComputeTxID(shdr.Nonce, shdr.Creator)
	}
	chdr := &cb.ChannelHeader{Type: int32(s.typ), ChannelId: "mychannel", TxId: s.txID, Timestamp: timestamppb.New(fixedTime)}
	payload := &cb.Payload{Header: &cb.Header{ChannelHeader: protos.Marshal(chdr), SignatureHeader: protos.Marshal(shdr)}, Data: data}
	return protos.Marshal(&cb.Envelope{Payload: protos.Marshal(payload), Signature: []byte("sig")})
}

// buildBlock makes block 12 of envelopes with the given validation codes (no
// TRANSACTIONS_FILTER when codes is nil).
func buildBlock(envs [][]byte, codes ...pb.TxValidationCode) *cb.Block {
	b := protos.NewBlock(12, []byte{0xab, 0xcd}, envs)
	if codes != nil {
		flags := make([]byte, len(codes))
		for i, c := range codes {
			flags[i] = byte(c)
		}
		protos.SetTxFilter(b, flags)
	}
	return b
}
