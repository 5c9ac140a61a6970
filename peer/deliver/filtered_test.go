package deliver

import (
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/protos"
)

// eventBlock is a block of n endorser transactions, each with a chaincode
// event, every third one flagged invalid.
func eventBlock(tb testing.TB, n int) *cb.Block {
	tb.Helper()
	d := getDevnet(tb)
	user := d.User(tb, "User1", "Org1MSP")
	envs := make([]*cb.Envelope, n)
	flags := make([]byte, n)
	for i := range envs {
		envs[i], _ = endorserTx(tb, user, testChannel, "basic", "AssetCreated", []byte(`{"ID":"asset1","Owner":"Tomoko"}`))
		if i%3 == 2 {
			flags[i] = byte(pb.TxValidationCode_MVCC_READ_CONFLICT)
		}
	}
	b := nextBlock(d.genesis, envs...)
	protos.SetTxFilter(b, flags)
	return b
}

// BenchmarkFilterBlock prices building the filtered block DeliverFiltered
// sends, once per block and stream: Fabric's block 9 (500 asset
// transactions, no events) and a block of 500 transactions with events.
func BenchmarkFilterBlock(b *testing.B) {
	blocks := []struct {
		name  string
		block *cb.Block
	}{
		{"fixture500", fabricfixture.Block(b, 9)},
		{"events500", eventBlock(b, 500)},
	}
	for _, bc := range blocks {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if fb := FilterBlock(testChannel, bc.block); len(fb.FilteredTransactions) != len(bc.block.Data.Data) {
					b.Fatalf("%d filtered transactions, want %d", len(fb.FilteredTransactions), len(bc.block.Data.Data))
				}
			}
		})
	}
}

// TestFilterBlockInPlaceAgreesWithDecoder checks that the in-place reading
// takes every transaction of Fabric's fixture blocks and of an event block
// and filters it as decoding with proto.Unmarshal does.
func TestFilterBlockInPlaceAgreesWithDecoder(t *testing.T) {
	blocks := []*cb.Block{fabricfixture.GenesisBlock(t), eventBlock(t, 7)}
	for n := uint64(0); n <= 9; n++ {
		blocks = append(blocks, fabricfixture.Block(t, n))
	}
	events := 0
	for _, b := range blocks {
		for i, raw := range b.Data.Data {
			code := pb.TxValidationCode(i % 3)
			got, gotCh, ok := newTxFilter(1).inPlace(raw, code)
			if !ok {
				t.Fatalf("block %d tx %d: not read in place", b.Header.Number, i)
			}
			want, wantCh, ok := filterTxByProto(raw, code)
			if !ok {
				t.Fatalf("block %d tx %d: the decoder skips it", b.Header.Number, i)
			}
			if !proto.Equal(got, want) || string(gotCh) != wantCh {
				t.Fatalf("block %d tx %d: in place %v (channel %q), decoded %v (channel %q)", b.Header.Number, i, got, gotCh, want, wantCh)
			}
			events += len(got.GetTransactionActions().GetChaincodeActions())
		}
	}
	for _, b := range blocks {
		want := &pb.FilteredBlock{ChannelId: testChannel, Number: b.Header.Number}
		flags := protos.TxFilter(b)
		for i, raw := range b.Data.Data {
			ftx, ch, ok := filterTxByProto(raw, pb.TxValidationCode(flags[i]))
			if !ok {
				continue
			}
			if ch != "" {
				want.ChannelId = ch
			}
			want.FilteredTransactions = append(want.FilteredTransactions, ftx)
		}
		if got := FilterBlock(testChannel, b); !proto.Equal(got, want) {
			t.Fatalf("block %d: FilterBlock gives %v, decoding gives %v", b.Header.Number, got, want)
		}
	}
	if events != 7 {
		t.Fatalf("%d chaincode events filtered, want 7", events)
	}
}

// TestFilterBlockFallsBack checks transactions the in-place reading leaves
// to the decoder: FilterBlock still filters or skips them as the decoder
// does.
func TestFilterBlockFallsBack(t *testing.T) {
	good := eventBlock(t, 1).Data.Data[0]
	env := &cb.Envelope{}
	if err := proto.Unmarshal(good, env); err != nil {
		t.Fatal(err)
	}
	// An unknown field after the envelope's: proto.Unmarshal ignores it.
	unknown := protowire.AppendTag(append([]byte{}, good...), 9, protowire.BytesType)
	unknown = protowire.AppendBytes(unknown, []byte("x"))
	// The payload given twice: the last one wins.
	other := eventBlock(t, 1).Data.Data[0]
	twice := append(append([]byte{}, good...), other...)
	cases := []struct {
		name string
		raw  []byte
		want string // the TxID of the filtered transaction; "" when skipped
	}{
		{"unknown field", unknown, txIDOf(t, good)},
		{"fields repeated", twice, txIDOf(t, other)},
		{"truncated", good[:len(good)-3], ""},
		{"no header", protos.Marshal(&cb.Envelope{Payload: protos.Marshal(&cb.Payload{Data: []byte{1}}), Signature: []byte{1}}), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, ok := newTxFilter(1).inPlace(tc.raw, pb.TxValidationCode_VALID); ok {
				t.Fatal("read in place, want it left to the decoder")
			}
			b := protos.NewBlock(1, nil, [][]byte{tc.raw})
			fb := FilterBlock(testChannel, b)
			if tc.want == "" {
				if len(fb.FilteredTransactions) != 0 {
					t.Fatalf("filtered %v, want it skipped", fb.FilteredTransactions)
				}
				return
			}
			if len(fb.FilteredTransactions) != 1 || fb.FilteredTransactions[0].Txid != tc.want ||
				len(fb.FilteredTransactions[0].GetTransactionActions().GetChaincodeActions()) != 1 {
				t.Fatalf("filtered %v, want transaction %s with its event", fb.FilteredTransactions, tc.want)
			}
		})
	}
}

func txIDOf(t *testing.T, raw []byte) string {
	t.Helper()
	chdr, err := protos.EnvelopeChannelHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	return chdr.TxId
}

// FuzzFilterTx checks that whatever the in-place reading accepts, the
// decoder filters to the same transaction and channel.
func FuzzFilterTx(f *testing.F) {
	f.Add(fabricfixture.Block(f, 9).Data.Data[0])
	f.Add(fabricfixture.GenesisBlock(f).Data.Data[0])
	f.Add(eventBlock(f, 1).Data.Data[0])
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, gotCh, ok := newTxFilter(1).inPlace(raw, pb.TxValidationCode_VALID)
		want, wantCh, wantOK := filterTxByProto(raw, pb.TxValidationCode_VALID)
		if !ok {
			return
		}
		if !wantOK || !proto.Equal(got, want) || string(gotCh) != wantCh {
			t.Fatalf("in place %v (channel %q), decoded %v %v (channel %q)", got, gotCh, want, wantOK, wantCh)
		}
	})
}
