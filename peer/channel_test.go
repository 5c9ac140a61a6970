package peer

import (
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/protos"
)

func TestLastConfigIndexFabricBlocks(t *testing.T) {
	t.Parallel()
	// Block 0 is the only config block of the fixture channel.
	for _, n := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 171} {
		b := fixtureBlock(t, n)
		idx, err := lastConfigIndex(b)
		if err != nil || idx != 0 {
			t.Errorf("block %d: lastConfigIndex = %d, %v; want 0", n, idx, err)
		}
	}
	// configtxgen's genesis block, before an orderer added its metadata.
	bare := readBlockFile(t, fabricfixture.Path("mychannel-genesis.block"))
	if idx, err := lastConfigIndex(bare); err != nil || idx != 0 {
		t.Errorf("configtxgen genesis block: lastConfigIndex = %d, %v; want 0", idx, err)
	}
}

func TestLastConfigIndexMetadata(t *testing.T) {
	t.Parallel()
	signatures := func(idx uint64) []byte {
		return protos.Marshal(&cb.Metadata{Value: protos.Marshal(&cb.OrdererBlockMetadata{LastConfig: &cb.LastConfig{Index: idx}})})
	}
	legacy := func(idx uint64) []byte {
		return protos.Marshal(&cb.Metadata{Value: protos.Marshal(&cb.LastConfig{Index: idx})})
	}
	block := func(n uint64, sig, last []byte) *cb.Block {
		b := protos.NewBlock(n, []byte("prev"), nil)
		b.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES] = sig
		b.Metadata.Metadata[cb.BlockMetadataIndex_LAST_CONFIG] = last
		return b
	}
	tests := []struct {
		name    string
		block   *cb.Block
		want    uint64
		wantErr string
	}{
		{"orderer block metadata", block(12, signatures(7), nil), 7, ""},
		{"orderer block metadata wins over the legacy slot", block(12, signatures(7), legacy(3)), 7, ""},
		{"legacy LAST_CONFIG slot", block(12, nil, legacy(3)), 3, ""},
		{"signatures without last config fall back to the legacy slot", block(12, protos.Marshal(&cb.Metadata{Value: protos.Marshal(&cb.OrdererBlockMetadata{})}), legacy(4)), 4, ""},
		{"garbage signatures fall back to the legacy slot", block(12, []byte{0xff, 0xff}, legacy(5)), 5, ""},
		{"bare genesis block", block(0, nil, nil), 0, ""},
		{"no metadata at all", &cb.Block{Header: &cb.BlockHeader{Number: 0}, Data: &cb.BlockData{}}, 0, ""},
		{"later block without an index", block(12, nil, nil), 0, "block 12 carries no last-config index"},
		{"later block with garbage only", block(12, []byte{0xff}, []byte{0xff}), 0, "block 12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lastConfigIndex(tt.block)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("lastConfigIndex = %d, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("lastConfigIndex = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestLatestBundle(t *testing.T) {
	t.Parallel()
	l, _ := fixtureLedger(t)
	bundle, err := latestBundle(l)
	if err != nil {
		t.Fatalf("latestBundle over the fixture ledger: %v", err)
	}
	if bundle.ChannelID() != "mychannel" || bundle.Application() == nil {
		t.Fatalf("bundle of channel %q, application %v", bundle.ChannelID(), bundle.Application())
	}
	if _, err := bundle.Policy(readersPolicy); err != nil {
		t.Fatalf("bundle has no %s: %v", readersPolicy, err)
	}

	empty, err := ledger.OpenWithOptions(t.TempDir(), ledger.Options{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if _, err := latestBundle(empty); err == nil || !strings.Contains(err.Error(), "never joined") {
		t.Fatalf("latestBundle(empty ledger) = %v, want an error saying the channel was never joined", err)
	}
}

func TestIsConfigBlock(t *testing.T) {
	t.Parallel()
	if !isConfigBlock(fixtureBlock(t, 0)) {
		t.Error("fixture block 0 is not recognised as a config block")
	}
	for _, n := range []int{1, 9} {
		if isConfigBlock(fixtureBlock(t, n)) {
			t.Errorf("fixture block %d is taken for a config block", n)
		}
	}
	invalid := fixtureBlock(t, 0)
	protos.SetTxFilter(invalid, []byte{1})
	if isConfigBlock(invalid) {
		t.Error("a config block whose transaction is marked invalid is taken for a config block")
	}
	if isConfigBlock(&cb.Block{Header: &cb.BlockHeader{}, Data: &cb.BlockData{}}) {
		t.Error("an empty block is taken for a config block")
	}
}
