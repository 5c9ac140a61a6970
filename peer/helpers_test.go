package peer

import (
	"io"
	"log/slog"
	"os"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/protos"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixtureBlock loads blocks/block_NNNNNN.pb, skipping the test when the
// Fabric fixtures are absent.
func fixtureBlock(t testing.TB, n int) *cb.Block {
	t.Helper()
	return readBlockFile(t, fabricfixture.BlockPath(uint64(n)))
}

func readBlockFile(t testing.TB, path string) *cb.Block {
	t.Helper()
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		t.Fatalf("Fabric fixtures not present: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := protos.UnmarshalBlock(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// fixtureLedger opens a ledger in a temporary folder holding the fixture
// blocks 0..9 as a Fabric peer committed them.
func fixtureLedger(t *testing.T) (*ledger.Ledger, []*cb.Block) {
	t.Helper()
	l, err := ledger.OpenWithOptions(t.TempDir(), ledger.Options{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var blocks []*cb.Block
	for n := 0; n <= 9; n++ {
		b := fixtureBlock(t, n)
		blocks = append(blocks, b)
		if err := l.Commit(fixtureBlock(t, n), nil); err != nil {
			t.Fatalf("commit fixture block %d: %v", n, err)
		}
	}
	return l, blocks
}
