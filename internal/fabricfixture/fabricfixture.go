package fabricfixture

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"
)

// Dir is the absolute path of the fixture folder, testdata/fabric-2.5.16 at
// the repository root, found from this source file so that it works from any
// package's test directory.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("fabricfixture: cannot locate its own source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "fabric-2.5.16")
}

// Path joins parts below the fixture folder.
func Path(parts ...string) string {
	return filepath.Join(append([]string{Dir()}, parts...)...)
}

// BlockPath is the file of block n on mychannel as a Fabric peer delivered it.
func BlockPath(n uint64) string {
	return Path("blocks", fmt.Sprintf("block_%06d.pb", n))
}

// ReadFile returns the bytes of a fixture file, failing the test with the
// path when it cannot be read.
func ReadFile(t testing.TB, parts ...string) []byte {
	t.Helper()
	p := Path(parts...)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read Fabric v2.5.16 fixture %s: %v", p, err)
	}
	return raw
}

// Block returns block n on mychannel as a Fabric peer delivered it.
func Block(t testing.TB, n uint64) *cb.Block {
	t.Helper()
	return unmarshalBlock(t, BlockPath(n))
}

// GenesisBlock returns configtxgen's genesis block for mychannel.
func GenesisBlock(t testing.TB) *cb.Block {
	t.Helper()
	return unmarshalBlock(t, Path("mychannel-genesis.block"))
}

func unmarshalBlock(t testing.TB, path string) *cb.Block {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read Fabric v2.5.16 fixture %s: %v", path, err)
	}
	b := new(cb.Block)
	if err := proto.Unmarshal(raw, b); err != nil {
		t.Fatalf("fixture %s is not a common.Block: %v", path, err)
	}
	return b
}
