package validator

import (
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

// WritesNamespace tells from a verdict, without decoding the transaction
// again, whether a valid transaction writes a namespace: the commit path
// asks it of `_lifecycle` to know when chaincode definitions may change.
func TestVerdictWritesNamespace(t *testing.T) {
	nsKV := func(ns string, kv *kvrwset.KVRWSet, colls ...*rwset.CollectionHashedReadWriteSet) *rwset.NsReadWriteSet {
		return &rwset.NsReadWriteSet{Namespace: ns, Rwset: protos.Marshal(kv), CollectionHashedRwset: colls}
	}
	verdict := func(code pb.TxValidationCode, rws ...*rwset.NsReadWriteSet) Verdict {
		t.Helper()
		nss, err := decodeRWSet(protos.Marshal(&rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: rws}))
		if err != nil {
			t.Fatal(err)
		}
		return Verdict{Code: code, keys: writtenKeys(nss)}
	}
	valid := pb.TxValidationCode_VALID
	seqRead := &kvrwset.KVRWSet{Reads: []*kvrwset.KVRead{{Key: lifecycle.SequenceKey("basic"), Version: &kvrwset.Version{BlockNum: 3}}}}
	implicit := lifecycle.ImplicitCollection("Org1MSP")
	for _, tc := range []struct {
		name string
		v    Verdict
		want bool
	}{
		{"user transaction only reads _lifecycle", verdict(valid, nsKV(lifecycle.Namespace, seqRead),
			nsKV("basic", &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "k", Value: []byte("v")}}})), false},
		{"definition commit", verdict(valid, nsKV(lifecycle.Namespace, &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: lifecycle.SequenceKey("basic"), Value: []byte{8, 2}}}})), true},
		{"invalid definition commit", verdict(pb.TxValidationCode_MVCC_READ_CONFLICT,
			nsKV(lifecycle.Namespace, &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: lifecycle.SequenceKey("basic"), Value: []byte{8, 2}}}})), false},
		{"delete", verdict(valid, nsKV(lifecycle.Namespace, &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "k", IsDelete: true}}})), true},
		{"metadata write", verdict(valid, nsKV(lifecycle.Namespace, &kvrwset.KVRWSet{MetadataWrites: []*kvrwset.KVMetadataWrite{{Key: "k"}}})), true},
		{"approval in an implicit collection", verdict(valid, nsKV(lifecycle.Namespace, &kvrwset.KVRWSet{}, &rwset.CollectionHashedReadWriteSet{
			CollectionName: implicit,
			HashedRwset:    protos.Marshal(&kvrwset.HashedRWSet{HashedWrites: []*kvrwset.KVWriteHash{{KeyHash: []byte("h"), ValueHash: []byte("v")}}}),
		})), true},
		{"private read only", verdict(valid, nsKV(lifecycle.Namespace, &kvrwset.KVRWSet{}, &rwset.CollectionHashedReadWriteSet{
			CollectionName: implicit,
			HashedRwset:    protos.Marshal(&kvrwset.HashedRWSet{HashedReads: []*kvrwset.KVReadHash{{KeyHash: []byte("h")}}}),
		})), false},
		{"another namespace", verdict(valid, nsKV("_lifecycle2", &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "k"}}})), false},
		{"configuration transaction", Verdict{Code: valid}, false},
	} {
		if got := tc.v.WritesNamespace(lifecycle.Namespace); got != tc.want {
			t.Errorf("%s: WritesNamespace(_lifecycle) = %t, want %t", tc.name, got, tc.want)
		}
	}
}
