package devnettest

import (
	"os"
	"testing"

	"github.com/weft-ledger/weft/internal/devnet"
)

// LogSince returns what the peer called name has logged past offset, and the
// log's current size: the offset to pass next time. An offset past the end
// (the log was replaced) reads the whole log.
func LogSince(t testing.TB, n *devnet.Network, name string, offset int64) (string, int64) {
	t.Helper()
	p, ok := n.AllPeers[name]
	if !ok {
		t.Fatalf("the network runs no peer %s", name)
	}
	raw, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if offset > int64(len(raw)) {
		offset = 0
	}
	return string(raw[offset:]), int64(len(raw))
}

// LogSize is the current size of the log of the peer called name.
func LogSize(t testing.TB, n *devnet.Network, name string) int64 {
	t.Helper()
	_, size := LogSince(t, n, name, 0)
	return size
}
