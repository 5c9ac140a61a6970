package commitcheck

import (
	"context"
	"errors"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"
)

// chain is an in-memory chain of blocks with the given commit hashes
// ("" for none); it serves as both Local and Remote.
type chain struct {
	blocks []*cb.Block
	err    error
}

func newChain(dataTag string, hashes ...string) *chain {
	c := &chain{}
	for i, h := range hashes {
		b := &cb.Block{Header: &cb.BlockHeader{Number: uint64(i), DataHash: []byte(dataTag)},
			Metadata: &cb.BlockMetadata{Metadata: make([][]byte, 5)}}
		if h != "" {
			b.Metadata.Metadata[cb.BlockMetadataIndex_COMMIT_HASH], _ = proto.Marshal(&cb.Metadata{Value: []byte(h)})
		}
		c.blocks = append(c.blocks, b)
	}
	return c
}

func (c *chain) Height() uint64 { return uint64(len(c.blocks)) }
func (c *chain) Block(n uint64) (*cb.Block, error) {
	if n >= uint64(len(c.blocks)) {
		return nil, errors.New("no such block")
	}
	return c.blocks[n], nil
}

type remote struct{ *chain }

func (r remote) Height(context.Context) (uint64, error) {
	if r.err != nil {
		return 0, r.err
	}
	return r.chain.Height(), nil
}
func (r remote) Block(_ context.Context, n uint64) (*cb.Block, error) { return r.chain.Block(n) }

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name    string
		local   *chain
		remote  *chain
		want    Outcome
		block   uint64
		wantErr string
	}{
		{"same hashes", newChain("d", "", "a", "b"), newChain("d", "", "a", "b"), Match, 2, ""},
		{"remote ahead: the highest common block", newChain("d", "", "a"), newChain("d", "", "a", "b", "c"), Match, 1, ""},
		{"diverged", newChain("d", "", "a", "b"), newChain("d", "", "a", "x"), Mismatch, 2, ""},
		{"diverged earlier stays diverged", newChain("d", "", "x", "y"), newChain("d", "", "a", "b"), Mismatch, 2, ""},
		{"only a genesis block in common", newChain("d", ""), newChain("d", "", "a"), NotComparable, 0, ""},
		{"a ledger without commit hashes", newChain("d", "", "", ""), newChain("d", "", "a", "b"), NotComparable, 2, ""},
		{"another chain", newChain("d", "", "a"), newChain("other", "", "a"), 0, 0, "another chain"},
		{"remote unreachable", newChain("d", "", "a"), &chain{err: errors.New("connection refused")}, 0, 0, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Compare(context.Background(), tc.local, remote{tc.remote})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Compare = %+v, %v; want an error naming %q", res, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.want || (tc.want != NotComparable && res.Block != tc.block) {
				t.Fatalf("Compare = %s at block %d, want %s at block %d", res.Outcome, res.Block, tc.want, tc.block)
			}
		})
	}
}
