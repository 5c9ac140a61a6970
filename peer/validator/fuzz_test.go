package validator

import (
	"log/slog"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

type emptyState struct{}

func (emptyState) Get(string, string) (*statedb.VersionedValue, error) { return nil, nil }

// FuzzValidateEnvelope feeds arbitrary bytes as a block's transaction: the
// validator must give a verdict, never panic or fail the block.
func FuzzValidateEnvelope(f *testing.F) {
	genesis, _ := readFixture(f, 0)
	bundle, err := channelconfig.BundleFromBlock(genesis)
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{1, 3, 7, 171} {
		b, _ := readFixture(f, n)
		f.Add(b.Data.Data[0])
	}
	f.Add([]byte{})
	v := New(Config{Workers: 1, Logger: slog.New(slog.DiscardHandler)})
	noTx := func(string) (bool, error) { return false, nil }
	f.Fuzz(func(t *testing.T, env []byte) {
		b := protos.NewBlock(5, nil, [][]byte{env})
		vs, err := v.Validate(b, bundle, emptyState{}, noTx)
		if err != nil {
			t.Fatalf("block failed: %v", err)
		}
		if len(vs) != 1 || (vs[0].Code != pb.TxValidationCode_VALID && vs[0].Reason == "") {
			t.Fatalf("verdict %+v", vs)
		}
	})
}
