package endorser

import (
	"strings"
	"testing"

	"github.com/weft-ledger/weft/protos"
)

// txIDMatches accepts exactly the txid protos.ComputeTxID gives.
func TestTxIDMatchesComputeTxID(t *testing.T) {
	nonce, creator := []byte("nonce-1"), []byte("creator bytes")
	id := protos.ComputeTxID(nonce, creator)
	if !txIDMatches(id, nonce, creator) {
		t.Fatalf("txid %s of the nonce and creator refused", id)
	}
	flipped := []byte(id)
	flipped[10] ^= 1
	for _, bad := range []string{"", id[:63], id + "0", strings.ToUpper(id), string(flipped), protos.ComputeTxID([]byte("nonce-2"), creator)} {
		if bad != id && txIDMatches(bad, nonce, creator) {
			t.Errorf("txid %q accepted, want only %s", bad, id)
		}
	}
	if !txIDMatches(protos.ComputeTxID(nil, nil), nil, nil) {
		t.Error("txid of an empty nonce and creator refused")
	}
}
