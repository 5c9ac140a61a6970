package reorder

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
)

// tx builds an ENDORSER_TRANSACTION envelope in namespace "cc" from a
// spec of space-separated items:
//
//	r:K@B.T   read K at version B.T     r:K     read K as absent
//	w:K       write K                   d:K     delete K
//	m:K       metadata write of K
//	q:A-B     range [A, B) read to its end
//	q:A-B!    range [A, B] the simulator stopped at B
//	pr:C/K@B.T, pr:C/K  read of private key K of collection C (by hash)
//	pw:C/K    write of private key K of collection C
//	id:X      TxID X (default: derived from the spec and n)
//
// Keys may name another namespace as ns:key (e.g. w:other:a).
func tx(t testing.TB, n int, spec string) []byte {
	t.Helper()
	txID := fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprint(n, spec))))
	sets := map[string]*kvrwset.KVRWSet{}
	hashed := map[string]map[string]*kvrwset.HashedRWSet{}
	var nsOrder []string
	ns := func(k string) (string, string) {
		name, key, ok := strings.Cut(k, ":")
		if !ok {
			name, key = "cc", k
		}
		if sets[name] == nil {
			sets[name] = &kvrwset.KVRWSet{}
			hashed[name] = map[string]*kvrwset.HashedRWSet{}
			nsOrder = append(nsOrder, name)
		}
		return name, key
	}
	coll := func(name, c string) *kvrwset.HashedRWSet {
		if hashed[name][c] == nil {
			hashed[name][c] = &kvrwset.HashedRWSet{}
		}
		return hashed[name][c]
	}
	for _, item := range strings.Fields(spec) {
		op, arg, _ := strings.Cut(item, ":")
		switch op {
		case "id":
			txID = arg
		case "r":
			k, v := splitVersion(t, arg)
			name, key := ns(k)
			sets[name].Reads = append(sets[name].Reads, &kvrwset.KVRead{Key: key, Version: v})
		case "w", "d":
			name, key := ns(arg)
			w := &kvrwset.KVWrite{Key: key, IsDelete: op == "d", Value: []byte("v")}
			if op == "d" {
				w.Value = nil
			}
			sets[name].Writes = append(sets[name].Writes, w)
		case "m":
			name, key := ns(arg)
			sets[name].MetadataWrites = append(sets[name].MetadataWrites, &kvrwset.KVMetadataWrite{Key: key, Entries: []*kvrwset.KVMetadataEntry{{Name: "VALIDATION_PARAMETER", Value: []byte("p")}}})
		case "q":
			name, rng := ns(arg)
			exhausted := !strings.HasSuffix(rng, "!")
			start, end, _ := strings.Cut(strings.TrimSuffix(rng, "!"), "-")
			sets[name].RangeQueriesInfo = append(sets[name].RangeQueriesInfo, &kvrwset.RangeQueryInfo{
				StartKey: start, EndKey: end, ItrExhausted: exhausted,
				ReadsInfo: &kvrwset.RangeQueryInfo_RawReads{RawReads: &kvrwset.QueryReads{}},
			})
		case "pr", "pw":
			ck, v := splitVersion(t, arg)
			name, rest := ns(ck)
			c, key, _ := strings.Cut(rest, "/")
			h := sha256.Sum256([]byte(key))
			if op == "pr" {
				coll(name, c).HashedReads = append(coll(name, c).HashedReads, &kvrwset.KVReadHash{KeyHash: h[:], Version: v})
			} else {
				vh := sha256.Sum256([]byte("v"))
				coll(name, c).HashedWrites = append(coll(name, c).HashedWrites, &kvrwset.KVWriteHash{KeyHash: h[:], ValueHash: vh[:]})
			}
		default:
			t.Fatalf("tx spec %q: unknown item %q", spec, item)
		}
	}
	rws := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV}
	for _, name := range nsOrder {
		n := &rwset.NsReadWriteSet{Namespace: name, Rwset: protos.Marshal(sets[name])}
		for c, h := range hashed[name] {
			n.CollectionHashedRwset = append(n.CollectionHashedRwset, &rwset.CollectionHashedReadWriteSet{CollectionName: c, HashedRwset: protos.Marshal(h)})
		}
		rws.NsRwset = append(rws.NsRwset, n)
	}
	return endorserEnvelope(txID, rws)
}

func splitVersion(t testing.TB, s string) (string, *kvrwset.Version) {
	k, v, ok := strings.Cut(s, "@")
	if !ok {
		return k, nil
	}
	b, n, _ := strings.Cut(v, ".")
	bn, err1 := strconv.ParseUint(b, 10, 64)
	tn, err2 := strconv.ParseUint(n, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad version in %q", s)
	}
	return k, &kvrwset.Version{BlockNum: bn, TxNum: tn}
}

// endorserEnvelope wraps rws the way a client's transaction does, with
// placeholder signatures (nothing here checks them).
func endorserEnvelope(txID string, rws *rwset.TxReadWriteSet) []byte {
	chdr := &cb.ChannelHeader{Type: int32(cb.HeaderType_ENDORSER_TRANSACTION), ChannelId: "testchannel", TxId: txID}
	shdr := &cb.SignatureHeader{Creator: []byte("creator"), Nonce: []byte("nonce-" + txID)}
	act := &pb.ChaincodeAction{Results: protos.Marshal(rws), ChaincodeId: &pb.ChaincodeID{Name: "cc"}}
	prp := &pb.ProposalResponsePayload{ProposalHash: []byte("h"), Extension: protos.Marshal(act)}
	cap := &pb.ChaincodeActionPayload{
		ChaincodeProposalPayload: protos.Marshal(&pb.ChaincodeProposalPayload{Input: []byte("input")}),
		Action: &pb.ChaincodeEndorsedAction{
			ProposalResponsePayload: protos.Marshal(prp),
			Endorsements:            []*pb.Endorsement{{Endorser: []byte("org1"), Signature: []byte("sig1")}, {Endorser: []byte("org2"), Signature: []byte("sig2")}},
		},
	}
	trx := &pb.Transaction{Actions: []*pb.TransactionAction{{Header: protos.Marshal(shdr), Payload: protos.Marshal(cap)}}}
	payload := &cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(chdr), SignatureHeader: protos.Marshal(shdr)},
		Data:   protos.Marshal(trx),
	}
	return protos.Marshal(&cb.Envelope{Payload: protos.Marshal(payload), Signature: []byte("sig")})
}

// configEnvelope is a CONFIG envelope (its contents do not matter here).
func configEnvelope() []byte {
	chdr := &cb.ChannelHeader{Type: int32(cb.HeaderType_CONFIG), ChannelId: "testchannel"}
	payload := &cb.Payload{Header: &cb.Header{ChannelHeader: protos.Marshal(chdr)}, Data: []byte("config")}
	return protos.Marshal(&cb.Envelope{Payload: protos.Marshal(payload)})
}

// txs builds one envelope per spec.
func txs(t testing.TB, specs ...string) [][]byte {
	t.Helper()
	out := make([][]byte, len(specs))
	for i, s := range specs {
		out[i] = tx(t, i, s)
	}
	return out
}
