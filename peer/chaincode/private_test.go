package chaincode

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// testLedger is a real ledger (LevelDB state) that commits simulations as
// blocks of one transaction each.
type testLedger struct {
	t    *testing.T
	l    *ledger.Ledger
	prev *cb.Block
}

func newTestLedger(t *testing.T) *testLedger {
	t.Helper()
	l, err := ledger.OpenWithOptions(t.TempDir(), ledger.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &testLedger{t: t, l: l}
}

// commit puts sim's results in the next block and returns the transaction's
// validation code. The ledger never checks signatures, so the envelope
// carries only what it reads.
func (tl *testLedger) commit(sim *ledger.Simulator) pb.TxValidationCode {
	tl.t.Helper()
	pub, pvt, err := sim.Results()
	if err != nil {
		tl.t.Fatal(err)
	}
	sim.Done()
	num := uint64(0)
	var prevHash []byte
	if tl.prev != nil {
		num, prevHash = tl.prev.Header.Number+1, protos.BlockHeaderHash(tl.prev.Header)
	}
	txID := fmt.Sprintf("tx-%d", num)
	chdr := &cb.ChannelHeader{Type: int32(cb.HeaderType_ENDORSER_TRANSACTION), ChannelId: "mychannel", TxId: txID}
	shdr := &cb.SignatureHeader{Creator: []byte("creator"), Nonce: []byte(txID)}
	act := &pb.ChaincodeAction{Results: protos.Marshal(pub), ChaincodeId: &pb.ChaincodeID{Name: "testcc"}}
	prp := &pb.ProposalResponsePayload{ProposalHash: []byte("h"), Extension: protos.Marshal(act)}
	cap1 := &pb.ChaincodeActionPayload{Action: &pb.ChaincodeEndorsedAction{ProposalResponsePayload: protos.Marshal(prp)}}
	tx := &pb.Transaction{Actions: []*pb.TransactionAction{{Header: protos.Marshal(shdr), Payload: protos.Marshal(cap1)}}}
	payload := &cb.Payload{Header: &cb.Header{ChannelHeader: protos.Marshal(chdr), SignatureHeader: protos.Marshal(shdr)}, Data: protos.Marshal(tx)}
	env := protos.Marshal(&cb.Envelope{Payload: protos.Marshal(payload), Signature: []byte("sig")})
	b := protos.NewBlock(num, prevHash, [][]byte{env})
	var private map[uint64]*rwset.TxPvtReadWriteSet
	if pvt != nil {
		private = map[uint64]*rwset.TxPvtReadWriteSet{0: pvt}
	}
	if err := tl.l.Commit(b, private); err != nil {
		tl.t.Fatal(err)
	}
	tl.prev = b
	return pb.TxValidationCode(protos.TxFilter(b)[0])
}

// seed commits fn's writes.
func (tl *testLedger) seed(fn func(sim *ledger.Simulator) error) {
	tl.t.Helper()
	sim := tl.l.NewSimulator("seed")
	if err := fn(sim); err != nil {
		tl.t.Fatal(err)
	}
	if code := tl.commit(sim); code != pb.TxValidationCode_VALID {
		tl.t.Fatalf("seed transaction = %s", code)
	}
}

// execute runs args on the test chaincode with txc's channel capabilities.
func execute(t *testing.T, rt *Runtime, id string, sim TxSimulator, caps []string, args ...string) (*pb.Response, error) {
	t.Helper()
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "testcc", sim, nil, args...)
	txc.ApplicationCapabilities = caps
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, _, err := rt.Execute(ctx, id, txc, in)
	return resp, err
}

func compositeKey(parts ...string) string { return "\x00" + strings.Join(parts, "\x00") + "\x00" }

// GetPrivateDataByRange and GetPrivateDataByPartialCompositeKey of the
// official shim against a real ledger simulator.
func TestPrivateDataRangeQueries(t *testing.T) {
	rt, id := peerLaunched(t, Config{QueryBatchSize: 2})
	tl := newTestLedger(t)
	tl.seed(func(sim *ledger.Simulator) error {
		for _, k := range []string{"a", "b", "c", "d", "e", compositeKey("asset", "blue", "a1"), compositeKey("asset", "blue", "a2"), compositeKey("asset", "red", "a9")} {
			if err := sim.PutPrivateData("testcc", "collA", k, []byte("v-"+strings.ReplaceAll(k, "\x00", "."))); err != nil {
				return err
			}
		}
		if err := sim.PutPrivateData("testcc", "collB", "b", []byte("other collection")); err != nil {
			return err
		}
		if err := sim.PutPrivateData("othercc", "collA", "b", []byte("other chaincode")); err != nil {
			return err
		}
		return sim.SetState("testcc", "b", []byte("public"))
	})
	query := func(args ...string) []string {
		t.Helper()
		sim := tl.l.NewSimulator("q")
		defer sim.Done()
		resp := mustOK(t)(invoke(t, rt, id, sim, args...))
		var out []string
		decodeJSON(t, resp.Payload, &out)
		// Nothing is recorded for a private range query, as in Fabric.
		pub, pvt, err := sim.Results()
		if err != nil || len(pub.NsRwset) != 0 || pvt != nil {
			t.Fatalf("%v recorded %v / %v (%v); want an empty rwset", args, pub, pvt, err)
		}
		return out
	}

	// Five results over batches of two: three QueryResponses.
	if got := strings.Join(query("privrange", "collA", "a", "f"), ","); got != "testcc|a=v-a,testcc|b=v-b,testcc|c=v-c,testcc|d=v-d,testcc|e=v-e" {
		t.Fatalf("GetPrivateDataByRange(collA, a, f) = %s", got)
	}
	if got := strings.Join(query("privrange", "collA", "b", "d"), ","); got != "testcc|b=v-b,testcc|c=v-c" {
		t.Fatalf("GetPrivateDataByRange(collA, b, d) = %s", got)
	}
	// The shim starts an open range at \x01, so composite keys stay out.
	if got := query("privrange", "collA", "", ""); len(got) != 5 {
		t.Fatalf("GetPrivateDataByRange(collA, \"\", \"\") = %v, want the 5 simple keys", got)
	}
	if got := strings.Join(query("privcomposite", "collA", "asset", "blue"), ","); got != "testcc|\x00asset\x00blue\x00a1\x00=v-.asset.blue.a1.,testcc|\x00asset\x00blue\x00a2\x00=v-.asset.blue.a2." {
		t.Fatalf("GetPrivateDataByPartialCompositeKey(collA, asset, blue) = %q", got)
	}
	if got := query("privcomposite", "collA", "asset"); len(got) != 3 {
		t.Fatalf("GetPrivateDataByPartialCompositeKey(collA, asset) = %q, want 3 keys", got)
	}
	if got := query("privrange", "nosuchcoll", "a", "z"); len(got) != 0 {
		t.Fatalf("range of an empty collection = %v", got)
	}

	// As in Fabric, private range queries only in read-only transactions.
	for _, args := range [][]string{{"putthenprivrange", "k", "collA"}, {"privrangethenput", "collA", "k"}} {
		sim := tl.l.NewSimulator("tx-" + args[0])
		resp, _, err := invoke(t, rt, id, sim, args...)
		sim.Done()
		if err != nil || resp.Status != 500 || !strings.Contains(resp.Message, "private data range query") || !strings.Contains(resp.Message, "read-only") {
			t.Errorf("%s on a ledger simulator = %v, %v; want a refusal naming private data range queries and read-only transactions", args[0], resp, err)
		}
	}

	// A simulator without the capability: the old, clear refusal.
	resp, _, err := invoke(t, rt, id, newFakeSim(nil), "privrange", "collA", "a", "z")
	if err != nil || resp.Status != 500 || !strings.Contains(resp.Message, "GetPrivateDataByRange") || !strings.Contains(resp.Message, `"collA"`) {
		t.Fatalf("private range without the capability = %v, %v", resp, err)
	}
}

// PurgePrivateData of the official shim: refused without the V2_5
// application capability; with it, recorded as Fabric records it and applied
// at commit.
func TestPurgePrivateData(t *testing.T) {
	rt, id := peerLaunched(t, Config{})
	tl := newTestLedger(t)
	tl.seed(func(sim *ledger.Simulator) error {
		for _, k := range []string{"secret", "keep"} {
			if err := sim.PutPrivateData("testcc", "collA", k, []byte("v-"+k)); err != nil {
				return err
			}
		}
		return nil
	})

	for _, caps := range [][]string{nil, {"V2_0"}} {
		sim := tl.l.NewSimulator("tx-nocap")
		resp, err := execute(t, rt, id, sim, caps, "purgepriv", "collA", "secret")
		sim.Done()
		if err != nil || resp.Status != 500 || !strings.Contains(resp.Message, "V2_5") || !strings.Contains(resp.Message, `"mychannel"`) || !strings.Contains(resp.Message, `"secret"`) {
			t.Fatalf("purge with capabilities %v = %v, %v; want a refusal naming V2_5, the channel and the key", caps, resp, err)
		}
	}
	if resp, err := execute(t, rt, id, newFakeSim(nil), []string{"V2_5"}, "purgepriv", "collA", "secret"); err != nil || resp.Status != 500 || !strings.Contains(resp.Message, "not supported") {
		t.Fatalf("purge on a simulator without the capability = %v, %v", resp, err)
	}

	sim := tl.l.NewSimulator("tx-purge")
	resp, err := execute(t, rt, id, sim, []string{"V1_4_2", "V2_5"}, "purgepriv", "collA", "secret")
	if err != nil || resp.Status != 200 {
		t.Fatalf("purge with V2_5 = %v, %v", resp, err)
	}
	pub, _, err := sim.Results()
	if err != nil {
		t.Fatal(err)
	}
	h := &kvrwset.HashedRWSet{}
	if err := proto.Unmarshal(pub.NsRwset[0].CollectionHashedRwset[0].HashedRwset, h); err != nil {
		t.Fatal(err)
	}
	if len(h.HashedWrites) != 1 || !h.HashedWrites[0].IsPurge || !h.HashedWrites[0].IsDelete {
		t.Fatalf("hashed writes of a purge = %v, want one with is_delete and is_purge", h.HashedWrites)
	}
	if code := tl.commit(sim); code != pb.TxValidationCode_VALID {
		t.Fatalf("purge transaction = %s", code)
	}
	if pv, _ := tl.l.State().Get(ledger.PrivateNamespace("testcc", "collA"), "secret"); pv != nil {
		t.Fatalf("purged value still in the private state: %q", pv.Value)
	}
	q := tl.l.NewSimulator("q")
	defer q.Done()
	resp = mustOK(t)(invoke(t, rt, id, q, "privrange", "collA", "", ""))
	if string(resp.Payload) != `["testcc|keep=v-keep"]` {
		t.Fatalf("private keys after the purge = %s", resp.Payload)
	}
}

// GetStateByRange stops silently at Fabric's totalQueryLimit (100000): the
// chaincode sees that many keys and no error, and the range read recorded
// ends at the last key returned, not exhausted.
func TestRangeQueryStopsAtTotalQueryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100001 keys")
	}
	rt, id := peerLaunched(t, Config{QueryBatchSize: 1000})
	tl := newTestLedger(t)
	tl.seed(func(sim *ledger.Simulator) error {
		for i := 0; i <= totalQueryLimit; i++ {
			if err := sim.SetState("testcc", fmt.Sprintf("k%06d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	type count struct {
		Count int
		Last  string
	}
	run := func(start, end string) (count, *kvrwset.RangeQueryInfo) {
		t.Helper()
		sim := tl.l.NewSimulator("q")
		defer sim.Done()
		resp := mustOK(t)(invoke(t, rt, id, sim, "rangecount", start, end))
		var c count
		decodeJSON(t, resp.Payload, &c)
		pub, _, err := sim.Results()
		if err != nil {
			t.Fatal(err)
		}
		kv := &kvrwset.KVRWSet{}
		if err := proto.Unmarshal(pub.NsRwset[0].Rwset, kv); err != nil {
			t.Fatal(err)
		}
		if len(kv.RangeQueriesInfo) != 1 {
			t.Fatalf("range queries recorded = %v", kv.RangeQueriesInfo)
		}
		return c, kv.RangeQueriesInfo[0]
	}

	c, info := run("", "")
	if c.Count != totalQueryLimit || c.Last != fmt.Sprintf("k%06d", totalQueryLimit-1) {
		t.Fatalf("range over %d keys returned %+v, want %d keys ending at k%06d", totalQueryLimit+1, c, totalQueryLimit, totalQueryLimit-1)
	}
	if info.ItrExhausted || info.EndKey != c.Last || info.GetReadsMerkleHashes() == nil {
		t.Fatalf("recorded range = start %q end %q exhausted %v; want it to end at the last key returned, not exhausted", info.StartKey, info.EndKey, info.ItrExhausted)
	}
	// Below the limit nothing changes.
	c, info = run("k099990", "")
	if c.Count != 11 || c.Last != "k100000" || !info.ItrExhausted {
		t.Fatalf("range of the last 11 keys = %+v, exhausted %v", c, info.ItrExhausted)
	}
}

// The limit counts every result of one query across its batches, the read
// ahead for has_more included, and never asks the iterator for more.
func TestQueryLimitAcrossBatches(t *testing.T) {
	for _, tc := range []struct {
		keys, batch, limit int
		want               []int // results per response
	}{
		{keys: 10, batch: 2, limit: 5, want: []int{2, 2, 1}},
		{keys: 10, batch: 3, limit: 6, want: []int{3, 3}},
		{keys: 4, batch: 2, limit: 5, want: []int{2, 2}},
		{keys: 5, batch: 2, limit: 5, want: []int{2, 2, 1}},
	} {
		t.Run(fmt.Sprintf("%d keys batch %d limit %d", tc.keys, tc.batch, tc.limit), func(t *testing.T) {
			h := newHandler("cc", nil, tc.batch, testLogger(t))
			h.queryLimit = tc.limit
			tx := &txState{iters: map[string]*queryIter{}}
			var kvs []*statedb.KV
			for i := 0; i < tc.keys; i++ {
				kvs = append(kvs, &statedb.KV{Key: fmt.Sprintf("k%d", i)})
			}
			it := &countingIter{sliceIter: sliceIter{kvs: kvs}}
			raw, err := h.firstBatch(tx, kvResults{it})
			var got []int
			for {
				if err != nil {
					t.Fatal(err)
				}
				resp := &pb.QueryResponse{}
				if err := proto.Unmarshal(raw, resp); err != nil {
					t.Fatal(err)
				}
				got = append(got, len(resp.Results))
				if !resp.HasMore {
					break
				}
				tx.mu.Lock()
				qi := tx.iters[resp.Id]
				tx.mu.Unlock()
				raw, err = h.nextBatch(tx, resp.Id, qi)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("results per response = %v, want %v", got, tc.want)
			}
			if most := min(tc.keys, tc.limit); it.calls > most+1 || (tc.keys > tc.limit && it.calls != tc.limit) {
				t.Fatalf("iterator asked %d times for %d keys with limit %d", it.calls, tc.keys, tc.limit)
			}
			if len(tx.iters) != 0 || !it.closed {
				t.Fatal("query not closed at its end")
			}
		})
	}
}

type countingIter struct {
	sliceIter
	calls int
}

func (c *countingIter) Next() (*statedb.KV, error) {
	c.calls++
	return c.sliceIter.Next()
}
