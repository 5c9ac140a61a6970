package deliver

import (
	"crypto/tls"
	"net"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/protos"
)

// endorserTx builds an endorsed transaction envelope whose chaincode action
// carries an event (when eventName != "").
func endorserTx(t testing.TB, signer protos.Signer, channelID, cc, eventName string, eventPayload []byte) (*cb.Envelope, string) {
	t.Helper()
	sp, txID, err := protos.NewProposal(signer, channelID, cc, [][]byte{[]byte("invoke")}, map[string][]byte{"secret": []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	act := &pb.ChaincodeAction{
		Response:    &pb.Response{Status: 200, Payload: []byte("ok")},
		ChaincodeId: &pb.ChaincodeID{Name: cc, Version: "1"},
	}
	if eventName != "" {
		act.Events = protos.Marshal(&pb.ChaincodeEvent{ChaincodeId: cc, TxId: txID, EventName: eventName, Payload: eventPayload})
	}
	prp := protos.Marshal(&pb.ProposalResponsePayload{ProposalHash: prop.Hash(), Extension: protos.Marshal(act)})
	endorser, _ := signer.Serialize()
	sig, _ := signer.Sign(append(append([]byte{}, prp...), endorser...))
	resp := &pb.ProposalResponse{
		Response:    &pb.Response{Status: 200},
		Payload:     prp,
		Endorsement: &pb.Endorsement{Endorser: endorser, Signature: sig},
	}
	payload, err := protos.NewTransaction(prop, []*pb.ProposalResponse{resp})
	if err != nil {
		t.Fatal(err)
	}
	env, err := protos.SignEnvelope(payload, signer)
	if err != nil {
		t.Fatal(err)
	}
	return env, txID
}

// nextBlock returns the block after prev (block 0 when prev is nil) holding envs.
func nextBlock(prev *cb.Block, envs ...*cb.Envelope) *cb.Block {
	var raw [][]byte
	for _, e := range envs {
		raw = append(raw, protos.Marshal(e))
	}
	if prev == nil {
		return protos.NewBlock(0, nil, raw)
	}
	return protos.NewBlock(prev.Header.Number+1, protos.BlockHeaderHash(prev.Header), raw)
}

// serveTLS starts a gRPC server with TLS on 127.0.0.1:0.
func serveTLS(t *testing.T, cert tls.Certificate, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return testnet.ServeTLS(t, lis, cert, register)
}
