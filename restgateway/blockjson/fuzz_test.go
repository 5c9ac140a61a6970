package blockjson

import (
	"encoding/json"
	"fmt"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/protos"
)

// Seeds: Fabric's own blocks (block 9 left out: 2 MB of the same structure).
var seedBlocks = []int{0, 1, 3, 7, 8, 171}

func FuzzBlockBytes(f *testing.F) {
	f.Add([]byte{})
	for _, n := range seedBlocks {
		f.Add(fabricfixture.ReadFile(f, fmt.Sprintf("blocks/block_%06d.pb", n)))
	}
	f.Add(protos.Marshal(buildBlock([][]byte{buildEnvelope(f, txSpec{}), []byte("x")}, pb.TxValidationCode_VALID, pb.TxValidationCode_BAD_PAYLOAD)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := BlockBytes(raw)
		if err != nil {
			if b != nil {
				t.Fatal("BlockBytes returned a block with its error")
			}
			return
		}
		blk, _ := protos.UnmarshalBlock(raw)
		if len(b.Transactions) != len(blk.Data.Data) {
			t.Fatalf("%d transactions for %d envelopes", len(b.Transactions), len(blk.Data.Data))
		}
		flags := protos.TxFilter(blk)
		for i, tx := range b.Transactions {
			if tx.ValidationCode != pb.TxValidationCode(flags[i]).String() {
				t.Fatalf("tx %d: code %s, filter says %d", i, tx.ValidationCode, flags[i])
			}
			if tx.DecodeError != "" && flags[i] == 0 {
				t.Fatalf("tx %d is VALID yet has decodeError %q", i, tx.DecodeError)
			}
		}
		if _, err := json.Marshal(b); err != nil {
			t.Fatalf("JSON of a decoded block: %v", err)
		}
	})
}

func FuzzTransactionBytes(f *testing.F) {
	for _, n := range seedBlocks {
		blk := fixtureBlock(f, n)
		f.Add(blk.Data.Data[0], uint8(0))
	}
	f.Add(buildEnvelope(f, txSpec{args: [][]byte{[]byte("f"), {0xff}}}), uint8(11))
	f.Add([]byte{}, uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, code uint8) {
		c := pb.TxValidationCode(code)
		tx, err := TransactionBytes(raw, c, 5)
		if err != nil {
			if tx != nil {
				t.Fatal("TransactionBytes returned a transaction with its error")
			}
			return
		}
		if tx.ValidationCode != c.String() || tx.BlockNumber != 5 {
			t.Fatalf("code %s block %d, want %s and 5", tx.ValidationCode, tx.BlockNumber, c)
		}
		if c == pb.TxValidationCode_VALID && tx.DecodeError != "" {
			t.Fatalf("VALID transaction with decodeError %q", tx.DecodeError)
		}
		if _, err := json.Marshal(tx); err != nil {
			t.Fatalf("JSON of a decoded transaction: %v", err)
		}
	})
}
