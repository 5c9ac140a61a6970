package blockjson

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// The golden files pin the JSON shape the REST API serves: a change of field
// name or encoding shows up here as a diff to review.
func TestGoldenJSON(t *testing.T) {
	handBuilt := buildBlock([][]byte{
		buildEnvelope(t, txSpec{
			args:  [][]byte{[]byte("TransferAsset"), []byte("asset1"), []byte("Max")},
			event: &pb.ChaincodeEvent{EventName: "TransferAsset", Payload: []byte(`{"ID":"asset1","Owner":"Max"}`)},
			kv: &kvrwset.KVRWSet{
				Reads:  []*kvrwset.KVRead{{Key: "asset1", Version: &kvrwset.Version{BlockNum: 9, TxNum: 4}}},
				Writes: []*kvrwset.KVWrite{{Key: "asset1", Value: []byte(`{"ID":"asset1","Owner":"Max"}`)}, {Key: "asset2", IsDelete: true}},
			},
		}),
		[]byte("garbage"),
	}, pb.TxValidationCode_MVCC_READ_CONFLICT, pb.TxValidationCode_BAD_PAYLOAD)
	for name, b := range map[string]*cb.Block{
		"fabric_block_000008": fixtureBlock(t, 8),
		"handbuilt_invalid":   handBuilt,
	} {
		t.Run(name, func(t *testing.T) {
			bj, err := Block(b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(bj, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			// protobuf puts a random no-break space in its error texts so that
			// nobody matches them; the golden file pins everything else.
			got = append(bytes.ReplaceAll(got, []byte("\u00a0"), []byte(" ")), '\n')
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenJSON -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("JSON of %s differs from %s (review, then go test -run TestGoldenJSON -update):\n%s", name, path, got)
			}
		})
	}
}
