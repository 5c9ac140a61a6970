package orderer

import (
	"context"
	"testing"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/protos"
)

// A Deliver stream woken by an append finds the block in recent: it never
// has to read and decode it from the block file.
func TestRecordingStoreKeepsBlockBeforeHeightRises(t *testing.T) {
	store, err := ledger.OpenBlockStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rs := recordingStore{store, &recentBlocks{}}
	ch := deliverChannel{&channel{store: store, recent: rs.recent}}

	seen := make(chan bool)
	go func() {
		for n := uint64(0); n < 20; n++ {
			if err := store.WaitHeight(context.Background(), n+1); err != nil {
				t.Error(err)
				close(seen)
				return
			}
			seen <- ch.recent.get(n) != nil
		}
		close(seen)
	}()
	var prev []byte
	for n := uint64(0); n < 20; n++ {
		b := protos.NewBlock(n, prev, [][]byte{[]byte("env")})
		protos.EnsureMetadata(b)
		if err := rs.Append(b); err != nil {
			t.Fatal(err)
		}
		prev = protos.BlockHeaderHash(b.Header)
		if !<-seen {
			t.Fatalf("block %d was not in recent when the height passed it", n)
		}
	}
}

// A block the store refuses is not kept: Deliver cannot serve it.
func TestRecordingStoreDropsRefusedBlock(t *testing.T) {
	store, err := ledger.OpenBlockStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rs := recordingStore{store, &recentBlocks{}}
	b := protos.NewBlock(3, nil, [][]byte{[]byte("env")}) // the store expects block 0
	if err := rs.Append(b); err == nil {
		t.Fatal("the store appended block 3 at height 0")
	}
	if rs.recent.get(3) != nil {
		t.Fatal("the refused block 3 is still kept for Deliver")
	}
}
