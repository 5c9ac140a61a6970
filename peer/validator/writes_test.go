package validator

import (
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

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

// RWSet hands the ledger the read/write set the validator decoded, so that
// the commit path need not decode it again: namespaces and collections in
// the transaction's order, with each collection's private write set hash.
func TestVerdictRWSet(t *testing.T) {
	kv := &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "k", Value: []byte("v")}}}
	hashed := &kvrwset.HashedRWSet{HashedWrites: []*kvrwset.KVWriteHash{{KeyHash: []byte("h"), ValueHash: []byte("v")}}}
	raw := protos.Marshal(&rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{
		{Namespace: "basic", Rwset: protos.Marshal(kv), CollectionHashedRwset: []*rwset.CollectionHashedReadWriteSet{
			{CollectionName: "c1", HashedRwset: protos.Marshal(hashed), PvtRwsetHash: []byte("pvt1")},
			{CollectionName: "c2", HashedRwset: protos.Marshal(&kvrwset.HashedRWSet{})},
		}},
		{Namespace: lifecycle.Namespace, Rwset: protos.Marshal(&kvrwset.KVRWSet{})},
	}})
	nss, err := decodeRWSet(raw)
	if err != nil {
		t.Fatal(err)
	}
	v := Verdict{TxID: "tx1", Code: pb.TxValidationCode_VALID, keys: writtenKeys(nss)}
	got := v.RWSet()
	if got == nil || got.TxID != "tx1" || len(got.Namespaces) != 2 {
		t.Fatalf("RWSet() = %+v, want tx1 with 2 namespaces", got)
	}
	basic, lc := got.Namespaces[0], got.Namespaces[1]
	if basic.Namespace != "basic" || !proto.Equal(basic.KV, kv) || len(basic.Hashed) != 2 {
		t.Fatalf("namespace 0 = %+v, want basic with its KVRWSet and 2 collections", basic)
	}
	if c := basic.Hashed[0]; c.Collection != "c1" || !proto.Equal(c.Set, hashed) || string(c.PvtHash) != "pvt1" {
		t.Errorf("collection 0 = %+v, want c1 with its hashed set and pvt hash", c)
	}
	if c := basic.Hashed[1]; c.Collection != "c2" || len(c.PvtHash) != 0 {
		t.Errorf("collection 1 = %+v, want c2 without pvt hash", c)
	}
	if lc.Namespace != lifecycle.Namespace || lc.KV == nil || len(lc.Hashed) != 0 {
		t.Errorf("namespace 1 = %+v, want _lifecycle with an empty KVRWSet", lc)
	}
	v.Code = pb.TxValidationCode_MVCC_READ_CONFLICT
	if v.RWSet() != nil {
		t.Error("RWSet() of an invalid transaction is not nil")
	}
	if (Verdict{Code: pb.TxValidationCode_VALID, Type: 1}).RWSet() != nil {
		t.Error("RWSet() of a configuration transaction is not nil")
	}
}
