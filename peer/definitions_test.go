package peer

import (
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

type fakeSigner struct{}

func (fakeSigner) Sign([]byte) ([]byte, error) { return []byte("sig"), nil }
func (fakeSigner) Serialize() ([]byte, error)  { return []byte("creator"), nil }

// endorserTxWith returns an ENDORSER_TRANSACTION envelope whose read/write set is rws.
func endorserTxWith(t *testing.T, rws ...*rwset.NsReadWriteSet) []byte {
	t.Helper()
	sp, _, err := protos.NewProposal(fakeSigner{}, "mychannel", "basic", [][]byte{[]byte("f")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	act := &pb.ChaincodeAction{
		Results:     protos.Marshal(&rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: rws}),
		Response:    &pb.Response{Status: 200},
		ChaincodeId: &pb.ChaincodeID{Name: "basic", Version: "1.0"},
	}
	prp := protos.Marshal(&pb.ProposalResponsePayload{ProposalHash: p.Hash(), Extension: protos.Marshal(act)})
	payload, err := protos.NewTransaction(p, []*pb.ProposalResponse{{Version: 1, Response: act.Response, Payload: prp, Endorsement: &pb.Endorsement{Endorser: []byte("e"), Signature: []byte("s")}}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := protos.SignEnvelope(payload, fakeSigner{})
	if err != nil {
		t.Fatal(err)
	}
	return protos.Marshal(env)
}

func nsKV(ns string, kv *kvrwset.KVRWSet, colls ...*rwset.CollectionHashedReadWriteSet) *rwset.NsReadWriteSet {
	return &rwset.NsReadWriteSet{Namespace: ns, Rwset: protos.Marshal(kv), CollectionHashedRwset: colls}
}

func TestWritesLifecycle(t *testing.T) {
	seqRead := &kvrwset.KVRWSet{Reads: []*kvrwset.KVRead{{Key: lifecycle.SequenceKey("basic"), Version: &kvrwset.Version{BlockNum: 3}}}}
	userTx := endorserTxWith(t,
		nsKV(lifecycle.Namespace, seqRead),
		nsKV("basic", &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "k", Value: []byte("v")}}}))
	commitDef := endorserTxWith(t, nsKV(lifecycle.Namespace, &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: lifecycle.SequenceKey("basic"), Value: []byte{8, 2}}}}))
	metaWrite := endorserTxWith(t, nsKV(lifecycle.Namespace, &kvrwset.KVRWSet{MetadataWrites: []*kvrwset.KVMetadataWrite{{Key: "k"}}}))
	approve := endorserTxWith(t, nsKV(lifecycle.Namespace, &kvrwset.KVRWSet{}, &rwset.CollectionHashedReadWriteSet{
		CollectionName: lifecycle.ImplicitCollection("Org1MSP"),
		HashedRwset:    protos.Marshal(&kvrwset.HashedRWSet{HashedWrites: []*kvrwset.KVWriteHash{{KeyHash: []byte("h"), ValueHash: []byte("v")}}}),
	}))
	privRead := endorserTxWith(t, nsKV(lifecycle.Namespace, &kvrwset.KVRWSet{}, &rwset.CollectionHashedReadWriteSet{
		CollectionName: lifecycle.ImplicitCollection("Org1MSP"),
		HashedRwset:    protos.Marshal(&kvrwset.HashedRWSet{HashedReads: []*kvrwset.KVReadHash{{KeyHash: []byte("h")}}}),
	}))
	otherNS := endorserTxWith(t, nsKV("_lifecycle2", &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "k"}}}))
	config := protos.Marshal(&cb.Envelope{Payload: protos.Marshal(&cb.Payload{Header: &cb.Header{
		ChannelHeader: protos.Marshal(protos.NewChannelHeader(cb.HeaderType_CONFIG, "mychannel", "")),
	}})})
	const valid, invalid = byte(pb.TxValidationCode_VALID), byte(pb.TxValidationCode_MVCC_READ_CONFLICT)

	for _, tc := range []struct {
		name  string
		txs   [][]byte
		flags []byte
		want  bool
	}{
		{"user transactions only read _lifecycle", [][]byte{userTx, userTx}, []byte{valid, valid}, false},
		{"definition commit", [][]byte{userTx, commitDef}, []byte{valid, valid}, true},
		{"invalid definition commit", [][]byte{userTx, commitDef}, []byte{valid, invalid}, false},
		{"metadata write", [][]byte{metaWrite}, []byte{valid}, true},
		{"approval in an implicit collection", [][]byte{approve}, []byte{valid}, true},
		{"private read only", [][]byte{privRead}, []byte{valid}, false},
		{"another namespace", [][]byte{otherNS}, []byte{valid}, false},
		{"config transaction", [][]byte{config}, []byte{valid}, false},
		{"undecodable transaction", [][]byte{userTx, []byte("garbage")}, []byte{valid, valid}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := protos.NewBlock(5, nil, tc.txs)
			if got := writesLifecycle(b, tc.flags); got != tc.want {
				t.Fatalf("writesLifecycle = %t, want %t", got, tc.want)
			}
		})
	}
}
