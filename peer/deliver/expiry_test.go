package deliver

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"

	"github.com/weft-ledger/weft/internal/testlog"
)

// TestDeliverRefusesExpiredRequester: a Readers member whose certificate has
// expired gets FORBIDDEN and no block; a stream whose requester's
// certificate expires while it waits for the next block ends with FORBIDDEN
// before sending it, as Fabric's deliver service does. The log names the
// requester and its NotAfter.
func TestDeliverRefusesExpiredRequester(t *testing.T) {
	logs := &testlog.Buffer{}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	f := newDeliverFixture(t, func(s *Server) {
		s.log = slog.New(slog.NewTextHandler(logs, nil))
		s.now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	d := getDevnet(t)

	notAfter := time.Now().Add(-time.Minute).Truncate(time.Second)
	expired := d.IssueUser(t, "Org1MSP", "Expired@org1.example.com", "client", notAfter)
	stream, err := f.client.Deliver(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(seekEnv(t, expired, testChannel, oldest, newest, ab.SeekInfo_BLOCK_UNTIL_READY)); err != nil {
		t.Fatal(err)
	}
	if got, st := collect(t, stream); st != cb.Status_FORBIDDEN || len(got) != 0 {
		t.Fatalf("expired requester: blocks %v, status %s; want none and FORBIDDEN", got, st)
	}
	for _, want := range []string{"expired", "Expired@org1.example.com", "Org1MSP", notAfter.UTC().Format(time.RFC3339)} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not mention %q:\n%s", want, logs)
		}
	}

	// Valid for another hour: blocks 0-2 are sent, then, while the stream
	// waits for block 3, the clock passes NotAfter.
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	expiring := d.IssueUser(t, "Org1MSP", "Expiring@org1.example.com", "client", later)
	stream, err = f.client.Deliver(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(seekEnv(t, expiring, testChannel, oldest, specified(5), ab.SeekInfo_BLOCK_UNTIL_READY)); err != nil {
		t.Fatal(err)
	}
	for want := uint64(0); want < 3; want++ {
		r, err := stream.Recv()
		if err != nil || r.GetBlock().GetHeader().GetNumber() != want {
			t.Fatalf("block %d: got %v, %v", want, r, err)
		}
	}
	clock.Store(later.Add(time.Second).UnixNano())
	e3, _ := endorserTx(t, f.user1, testChannel, "basic", "", nil)
	if err := f.store.Append(nextBlock(f.blocks[2], e3)); err != nil {
		t.Fatal(err)
	}
	if got, st := collect(t, stream); st != cb.Status_FORBIDDEN || len(got) != 0 {
		t.Fatalf("after the certificate expired: blocks %v, status %s; want none and FORBIDDEN", got, st)
	}
	if !strings.Contains(logs.String(), "Expiring@org1.example.com") || !strings.Contains(logs.String(), "block=3") {
		t.Errorf("log does not say the stream of Expiring@org1.example.com stopped at block 3:\n%s", logs)
	}
}
