package cli

import (
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// `weft channel getinfo` prints what Fabric's `peer channel getinfo` does:
// the BlockchainInfo as JSON with base64 hashes, empty fields left out.
func TestChainInfoLineAsFabricPrintsIt(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		info *cb.BlockchainInfo
		want string
	}{
		{&cb.BlockchainInfo{Height: 1, CurrentBlockHash: []byte{0xfb, 0xff, 0x01}},
			`Blockchain info: {"height":1,"currentBlockHash":"+/8B"}`},
		{&cb.BlockchainInfo{Height: 8, CurrentBlockHash: []byte("current"), PreviousBlockHash: []byte("previous")},
			`Blockchain info: {"height":8,"currentBlockHash":"Y3VycmVudA==","previousBlockHash":"cHJldmlvdXM="}`},
		{&cb.BlockchainInfo{}, `Blockchain info: {}`},
	} {
		got, err := chainInfoLine(c.info)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}
