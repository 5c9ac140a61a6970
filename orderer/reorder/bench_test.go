package reorder

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/internal/loadgen"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/protos"
)

// transfer is the envelope of basic's TransferValue(from, to) as a peer
// endorses it: it reads both accounts at the versions given and writes both.
// Endorsements and input are padded to the size of real ones (two
// certificates), so decoding costs what it does on a devnet.
func transfer(txID, from, to string, vFrom, vTo *kvrwset.Version) []byte {
	return endorsed(txID, from, to, &kvrwset.KVRWSet{
		Reads:  []*kvrwset.KVRead{{Key: from, Version: vFrom}, {Key: to, Version: vTo}},
		Writes: []*kvrwset.KVWrite{{Key: from, Value: []byte(`{"ID":"` + from + `","AppraisedValue":999999}`)}, {Key: to, Value: []byte(`{"ID":"` + to + `","AppraisedValue":1000001}`)}},
	})
}

// credit reads from and writes to only (a check of one account, then a
// blind update of another): the asymmetric pattern reordering helps most.
func credit(txID, from, to string, vFrom, _ *kvrwset.Version) []byte {
	return endorsed(txID, from, to, &kvrwset.KVRWSet{
		Reads:  []*kvrwset.KVRead{{Key: from, Version: vFrom}},
		Writes: []*kvrwset.KVWrite{{Key: to, Value: []byte(`{"ID":"` + to + `","AppraisedValue":1000001}`)}},
	})
}

func endorsed(txID, from, to string, kv *kvrwset.KVRWSet) []byte {
	rws := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{
		{Namespace: "_lifecycle", Rwset: protos.Marshal(&kvrwset.KVRWSet{Reads: []*kvrwset.KVRead{{Key: "namespaces/fields/basic/Sequence", Version: &kvrwset.Version{BlockNum: 0}}}})},
		{Namespace: "basic", Rwset: protos.Marshal(kv)},
	}}
	cert := make([]byte, 800)
	chdr := &cb.ChannelHeader{Type: int32(cb.HeaderType_ENDORSER_TRANSACTION), ChannelId: "mychannel", TxId: txID}
	shdr := &cb.SignatureHeader{Creator: cert, Nonce: []byte(txID[:24])}
	act := &pb.ChaincodeAction{Results: protos.Marshal(rws), ChaincodeId: &pb.ChaincodeID{Name: "basic", Version: "1.0"}, Response: &pb.Response{Status: 200}}
	prp := &pb.ProposalResponsePayload{ProposalHash: make([]byte, 32), Extension: protos.Marshal(act)}
	cap := &pb.ChaincodeActionPayload{
		ChaincodeProposalPayload: protos.Marshal(&pb.ChaincodeProposalPayload{Input: []byte("TransferValue " + from + " " + to + " 1")}),
		Action: &pb.ChaincodeEndorsedAction{
			ProposalResponsePayload: protos.Marshal(prp),
			Endorsements:            []*pb.Endorsement{{Endorser: cert, Signature: make([]byte, 72)}, {Endorser: cert, Signature: make([]byte, 72)}},
		},
	}
	trx := &pb.Transaction{Actions: []*pb.TransactionAction{{Header: protos.Marshal(shdr), Payload: protos.Marshal(cap)}}}
	payload := &cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(chdr), SignatureHeader: protos.Marshal(shdr)},
		Data:   protos.Marshal(trx),
	}
	return protos.Marshal(&cb.Envelope{Payload: protos.Marshal(payload), Signature: make([]byte, 72)})
}

// zipfBatch draws n transfers between accounts of keys under Zipf(s),
// reading the versions version returns.
func zipfBatch(z *loadgen.Zipf, n int, seq *int, version func(key string) *kvrwset.Version, mk func(txID, from, to string, vFrom, vTo *kvrwset.Version) []byte) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		a, b := z.Pair()
		from, to := loadgen.AccountKey("acct", a), loadgen.AccountKey("acct", b)
		*seq++
		out[i] = mk(fmt.Sprintf("%064x", *seq), from, to, version(from), version(to))
	}
	return out
}

// BenchmarkOrder500 orders blocks of 500 hot-key transfers (Zipf 1.0 over
// 1,000 accounts, every read current), the orderer's added work per block.
func BenchmarkOrder500(b *testing.B) {
	z, err := loadgen.NewZipf(1000, 1.0, 1)
	if err != nil {
		b.Fatal(err)
	}
	seq := 0
	v := &kvrwset.Version{BlockNum: 1}
	blocks := make([][][]byte, 8)
	for i := range blocks {
		blocks[i] = zipfBatch(z, 500, &seq, func(string) *kvrwset.Version { return v }, transfer)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		Order(blocks[i%len(blocks)])
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/500, "µs/tx")
}

// BenchmarkZipfTransfers commits blocks of hot-key transfers (Zipf 1.0 over
// 1,000 accounts, basic's TransferValue read/write sets) to a real ledger,
// as given and reordered, and reports the valid transactions per block.
// Each transaction reads the versions of the state lag blocks before its
// own block's parent, as a client whose proposals overlap that many blocks
// in flight: lag 0 leaves only the conflicts inside a block, which
// reordering can avoid; lag 1 adds the reads already stale at commit, which
// no order saves.
//
//	go test -run '^$' -bench ZipfTransfers -benchtime 20x ./orderer/reorder/
func BenchmarkZipfTransfers(b *testing.B) {
	for _, size := range []int{100, 500} {
		for _, lag := range []int{0, 1} {
			for _, on := range []bool{false, true} {
				b.Run(fmt.Sprintf("block=%d/lag=%d/reorder=%v", size, lag, on), func(b *testing.B) {
					benchZipf(b, size, lag, on, transfer)
				})
			}
		}
	}
}

// BenchmarkZipfCredits is BenchmarkZipfTransfers with transactions that
// read one account and write another (credit): readers can go before
// writers, so here reordering saves most of what the arrival order loses.
func BenchmarkZipfCredits(b *testing.B) {
	for _, size := range []int{100, 500} {
		for _, lag := range []int{0, 1} {
			for _, on := range []bool{false, true} {
				b.Run(fmt.Sprintf("block=%d/lag=%d/reorder=%v", size, lag, on), func(b *testing.B) {
					benchZipf(b, size, lag, on, credit)
				})
			}
		}
	}
}

func benchZipf(b *testing.B, size, lag int, reorder bool, mk func(txID, from, to string, vFrom, vTo *kvrwset.Version) []byte) {
	l, err := ledger.OpenWithOptions(b.TempDir(), ledger.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var create []*kvrwset.KVWrite
	for k := range 1000 {
		create = append(create, &kvrwset.KVWrite{Key: loadgen.AccountKey("acct", k), Value: []byte(`{"AppraisedValue":1000000}`)})
	}
	last := protos.NewBlock(0, nil, [][]byte{endorserEnvelope("create", &rwset.TxReadWriteSet{NsRwset: []*rwset.NsReadWriteSet{
		{Namespace: "_lifecycle", Rwset: protos.Marshal(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "namespaces/fields/basic/Sequence", Value: []byte{8, 1}}}})},
		{Namespace: "basic", Rwset: protos.Marshal(&kvrwset.KVRWSet{Writes: create})},
	}})})
	if err := l.Commit(last, nil); err != nil {
		b.Fatal(err)
	}
	z, err := loadgen.NewZipf(1000, 1.0, 7)
	if err != nil {
		b.Fatal(err)
	}
	seq := 0
	version := func(key string) *kvrwset.Version {
		vv, err := l.State().Get("basic", key)
		if err != nil || vv == nil {
			b.Fatalf("read %s: %v", key, err)
		}
		return &kvrwset.Version{BlockNum: vv.Version.BlockNum, TxNum: vv.Version.TxNum}
	}
	// Batches endorsed but not yet committed: the next block takes the oldest.
	var pipeline [][][]byte
	for range lag + 1 {
		pipeline = append(pipeline, zipfBatch(z, size, &seq, version, mk))
	}
	valid, total := 0, 0
	b.ResetTimer()
	for range b.N {
		envs := pipeline[0]
		pipeline = pipeline[1:]
		if reorder {
			envs = Order(envs)
		}
		blk := protos.NewBlock(last.Header.Number+1, protos.BlockHeaderHash(last.Header), envs)
		if err := l.Commit(blk, nil); err != nil {
			b.Fatal(err)
		}
		last = blk
		for _, f := range protos.TxFilter(blk) {
			if pb.TxValidationCode(f) == pb.TxValidationCode_VALID {
				valid++
			}
		}
		total += len(envs)
		pipeline = append(pipeline, zipfBatch(z, size, &seq, version, mk))
	}
	b.ReportMetric(float64(valid)/float64(b.N), "valid/block")
	b.ReportMetric(100*float64(valid)/float64(total), "valid%")
}
