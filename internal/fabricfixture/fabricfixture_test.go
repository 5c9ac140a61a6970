package fabricfixture

import (
	"os"
	"testing"
)

// The README's table lists these blocks; every one must be present and decode.
func TestBlocksPresent(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 171} {
		b := Block(t, n)
		if got := b.GetHeader().GetNumber(); got != n {
			t.Errorf("%s holds block %d", BlockPath(n), got)
		}
	}
	if g := GenesisBlock(t); g.GetHeader().GetNumber() != 0 {
		t.Errorf("genesis block number %d", g.GetHeader().GetNumber())
	}
	for _, f := range []string{"README.md", "configtx.yaml", "crypto-config.yaml", "organizations"} {
		if _, err := os.Stat(Path(f)); err != nil {
			t.Errorf("fixture %s missing: %v", f, err)
		}
	}
}
