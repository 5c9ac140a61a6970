package gateway

import (
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
)

func txEnvelope(t *testing.T, s protos.Signer) (*cb.Envelope, string) {
	t.Helper()
	env, err := protos.NewSignedEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, testChannel, s, &pb.Transaction{})
	if err != nil {
		t.Fatal(err)
	}
	penv, err := protos.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	return env, penv.ChannelHeader.TxId
}

// blockChain builds consecutive blocks and reports them to a notifier.
type blockChain struct{ prev *cb.Block }

func (c *blockChain) commit(n *CommitNotifier, channelID string, envs []*cb.Envelope, codes []pb.TxValidationCode) {
	var raw [][]byte
	flags := make([]byte, len(envs))
	for i, e := range envs {
		raw = append(raw, protos.Marshal(e))
		flags[i] = byte(codes[i])
	}
	b := protos.NewBlock(0, nil, raw)
	if c.prev != nil {
		b = protos.NewBlock(c.prev.Header.Number+1, protos.BlockHeaderHash(c.prev.Header), raw)
	}
	protos.SetTxFilter(b, flags)
	c.prev = b
	n.BlockCommitted(channelID, b)
}

func TestCommitNotifierTxWaiters(t *testing.T) {
	s := devnet(t).User(t, "User1", "Org1MSP")
	n := NewCommitNotifier()
	defer n.Close()
	store := &blockChain{}
	e1, id1 := txEnvelope(t, s)
	e2, id2 := txEnvelope(t, s)

	w1, cancel1 := n.WaitForTx(testChannel, id1)
	defer cancel1()
	w1b, cancel1b := n.WaitForTx(testChannel, id1)
	w2, cancel2 := n.WaitForTx(testChannel, id2)
	cancel2() // unsubscribed: must not be told
	cancel1b()
	wOther, cancelOther := n.WaitForTx("otherchannel", id1)
	defer cancelOther()

	store.commit(n, testChannel, []*cb.Envelope{e2, e1}, []pb.TxValidationCode{pb.TxValidationCode_VALID, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE})
	select {
	case st := <-w1:
		if st.TxID != id1 || st.BlockNumber != 0 || st.Code != pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
			t.Fatalf("status %+v", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not told")
	}
	for name, ch := range map[string]<-chan TxStatus{"cancelled": w2, "cancelled twin": w1b, "other channel": wOther} {
		select {
		case st := <-ch:
			t.Fatalf("%s waiter told %+v", name, st)
		default:
		}
	}
	cancelOther()
	if w, b := n.counts(); w != 0 || b != 0 {
		t.Fatalf("left %d waiters, %d subscriptions", w, b)
	}
}

func TestCommitNotifierBlockSubscriptionsCoalesceAndClose(t *testing.T) {
	s := devnet(t).User(t, "User1", "Org1MSP")
	n := NewCommitNotifier()
	store := &blockChain{}
	sub := n.SubscribeBlocks(testChannel)
	gone := n.SubscribeBlocks(testChannel)
	gone.Close()
	for i := 0; i < 3; i++ { // the commit path never blocks on a slow subscriber
		e, _ := txEnvelope(t, s)
		store.commit(n, testChannel, []*cb.Envelope{e}, []pb.TxValidationCode{pb.TxValidationCode_VALID})
	}
	select {
	case num := <-sub.Committed():
		if num != 2 {
			t.Fatalf("coalesced number %d, want latest 2", num)
		}
	default:
		t.Fatal("subscriber not told")
	}
	select {
	case <-gone.Committed():
		t.Fatal("closed subscription told")
	default:
	}
	w, cancel := n.WaitForTx(testChannel, "never")
	defer cancel()
	n.Close()
	if _, ok := <-w; ok {
		t.Fatal("closing the notifier must close tx waiters")
	}
	select {
	case <-sub.Done():
	default:
		t.Fatal("closing the notifier must end subscriptions")
	}
	sub.Close()
	if w, b := n.counts(); w != 0 || b != 0 {
		t.Fatalf("left %d waiters, %d subscriptions", w, b)
	}
}
