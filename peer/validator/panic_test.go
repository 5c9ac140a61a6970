package validator

import (
	"fmt"
	"strings"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// A transaction whose check panics in a worker gets INVALID_OTHER_REASON
// (PanicCode), named in its reason; the other transactions of the block are
// judged as usual, the block commits, and so do the blocks after it.
func TestPanickingTransactionIsInvalidAndBlocksCommit(t *testing.T) {
	n := newNetwork(t)
	n.deployBasic(t, "OR('Org1MSP.peer','Org2MSP.peer')")
	poisoned := n.l.Blocks().Height() // the next block
	n.v = New(Config{Workers: 3, BeforeTx: func(block uint64, idx int) {
		if block == poisoned && idx%2 == 1 {
			panic(fmt.Sprintf("injected fault in transaction %d", idx))
		}
	}})
	o1 := "Org1MSP"
	var txs []tx
	for i := range 4 {
		txs = append(txs, n.write(t, n.user[o1], fmt.Sprintf("k%d", i), "", nil, n.peer[o1]))
	}
	b, _ := n.block(txs...)
	vs := n.commit(t, b, nil, pb.TxValidationCode_VALID, PanicCode, pb.TxValidationCode_VALID, PanicCode)
	for _, i := range []int{1, 3} {
		if want := fmt.Sprintf("injected fault in transaction %d", i); !strings.Contains(vs[i].Reason, want) || !strings.Contains(vs[i].Reason, "panicked") {
			t.Errorf("tx %d reason = %q, want it to name the panic", i, vs[i].Reason)
		}
		if vs[i].TxID == "" {
			t.Errorf("tx %d: the verdict lost the transaction ID", i)
		}
	}
	for i, want := range []bool{true, false, true, false} {
		v, err := n.l.State().Get("basic", fmt.Sprintf("k%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if (v != nil) != want {
			t.Errorf("k%d written = %v, want %v", i, v != nil, want)
		}
	}
	// The next block is judged normally.
	b, _ = n.block(n.write(t, n.user[o1], "after", "", nil, n.peer[o1]))
	n.commit(t, b, nil, pb.TxValidationCode_VALID)
	if n.l.Blocks().Height() != poisoned+2 {
		t.Fatalf("height %d, want %d", n.l.Blocks().Height(), poisoned+2)
	}
}

// A panic is not an error: Validate never returns one for a panicking
// transaction, even when every transaction panics.
func TestEveryTransactionPanicking(t *testing.T) {
	n := newNetwork(t)
	n.deployBasic(t, "OR('Org1MSP.peer','Org2MSP.peer')")
	n.v = New(Config{Workers: 2, BeforeTx: func(uint64, int) { panic("always") }})
	o1 := "Org1MSP"
	b, _ := n.block(n.write(t, n.user[o1], "a", "", nil, n.peer[o1]), n.write(t, n.user[o1], "b", "", nil, n.peer[o1]))
	n.commit(t, b, nil, PanicCode, PanicCode)
}
