// Command weft is Weft's developer CLI: development network, crypto material,
// genesis blocks, channel and chaincode operations. See `weft -h`.
package main

import (
	"os"

	"github.com/weft-ledger/weft/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
