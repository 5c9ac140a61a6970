package gateway

import (
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// TxStatus is the outcome of one committed transaction.
type TxStatus struct {
	TxID        string
	BlockNumber uint64
	Code        pb.TxValidationCode
}

// CommitNotifier tells waiting gateway requests about committed blocks. The
// peer's commit path calls BlockCommitted after each block is durably
// committed (so the block store already holds it). Waiters never block the
// commit path: transaction waiters get one buffered status; block subscribers
// get the latest committed block number, coalesced.
type CommitNotifier struct {
	mu     sync.Mutex // guards everything below
	closed bool
	txs    map[txKey]map[*txWaiter]struct{}
	blocks map[string]map[*BlockSubscription]struct{}
}

type txKey struct{ channel, txID string }

type txWaiter struct{ ch chan TxStatus }

// NewCommitNotifier returns a notifier with no subscribers.
func NewCommitNotifier() *CommitNotifier {
	return &CommitNotifier{txs: map[txKey]map[*txWaiter]struct{}{}, blocks: map[string]map[*BlockSubscription]struct{}{}}
}

// BlockCommitted reports that block b of channelID has been committed with
// its final TRANSACTIONS_FILTER.
func (n *CommitNotifier) BlockCommitted(channelID string, b *cb.Block) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	num := b.GetHeader().GetNumber()
	if len(n.txs) > 0 {
		flags := protos.TxFilter(b)
		for i, raw := range b.GetData().GetData() {
			txID := envelopeTxID(raw)
			if txID == "" {
				continue
			}
			waiters := n.txs[txKey{channelID, txID}]
			if len(waiters) == 0 {
				continue
			}
			st := TxStatus{TxID: txID, BlockNumber: num, Code: pb.TxValidationCode(flags[i])}
			for w := range waiters {
				w.ch <- st // buffered 1 and sent once: never blocks
			}
			delete(n.txs, txKey{channelID, txID})
		}
	}
	for sub := range n.blocks[channelID] {
		sub.offer(num)
	}
}

// envelopeTxID returns the TxID in a raw envelope's channel header, or "".
func envelopeTxID(raw []byte) string {
	env := &cb.Envelope{}
	if proto.Unmarshal(raw, env) != nil {
		return ""
	}
	payload := &cb.Payload{}
	if proto.Unmarshal(env.Payload, payload) != nil {
		return ""
	}
	chdr := &cb.ChannelHeader{}
	if proto.Unmarshal(payload.GetHeader().GetChannelHeader(), chdr) != nil {
		return ""
	}
	return chdr.TxId
}

// WaitForTx returns a channel that receives the status of txID once a block
// containing it commits on channelID; call cancel when no longer interested.
// The channel is closed without a value if the notifier is closed first.
func (n *CommitNotifier) WaitForTx(channelID, txID string) (<-chan TxStatus, func()) {
	w := &txWaiter{ch: make(chan TxStatus, 1)}
	key := txKey{channelID, txID}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		close(w.ch)
		return w.ch, func() {}
	}
	if n.txs[key] == nil {
		n.txs[key] = map[*txWaiter]struct{}{}
	}
	n.txs[key][w] = struct{}{}
	return w.ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if ws := n.txs[key]; ws != nil {
			delete(ws, w)
			if len(ws) == 0 {
				delete(n.txs, key)
			}
		}
	}
}

// BlockSubscription receives the numbers of blocks committed on one channel.
type BlockSubscription struct {
	n       *CommitNotifier
	channel string
	ch      chan uint64 // capacity 1: holds the latest committed block number not yet read
	done    chan struct{}
	once    sync.Once
}

// SubscribeBlocks subscribes to blocks committed on channelID. Close the
// subscription when done.
func (n *CommitNotifier) SubscribeBlocks(channelID string) *BlockSubscription {
	sub := &BlockSubscription{n: n, channel: channelID, ch: make(chan uint64, 1), done: make(chan struct{})}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		sub.once.Do(func() { close(sub.done) })
		return sub
	}
	if n.blocks[channelID] == nil {
		n.blocks[channelID] = map[*BlockSubscription]struct{}{}
	}
	n.blocks[channelID][sub] = struct{}{}
	return sub
}

// Committed yields the number of the latest committed block each time one or
// more blocks were committed since the last receive.
func (s *BlockSubscription) Committed() <-chan uint64 { return s.ch }

// Done is closed when the subscription or the notifier is closed.
func (s *BlockSubscription) Done() <-chan struct{} { return s.done }

// offer replaces any unread number with num. Called with n.mu held; only the
// notifier sends, so the second send cannot block.
func (s *BlockSubscription) offer(num uint64) {
	select {
	case s.ch <- num:
	default:
		select {
		case <-s.ch:
		default:
		}
		s.ch <- num
	}
}

// Close unsubscribes.
func (s *BlockSubscription) Close() {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	if subs := s.n.blocks[s.channel]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(s.n.blocks, s.channel)
		}
	}
	s.once.Do(func() { close(s.done) })
}

// Close wakes every waiter and subscriber and drops them; later calls to
// BlockCommitted are ignored.
func (n *CommitNotifier) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	for key, ws := range n.txs {
		for w := range ws {
			close(w.ch)
		}
		delete(n.txs, key)
	}
	for channel, subs := range n.blocks {
		for sub := range subs {
			sub.once.Do(func() { close(sub.done) })
		}
		delete(n.blocks, channel)
	}
}

// counts reports the registered waiters and subscriptions (for leak tests).
func (n *CommitNotifier) counts() (txWaiters, blockSubs int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ws := range n.txs {
		txWaiters += len(ws)
	}
	for _, subs := range n.blocks {
		blockSubs += len(subs)
	}
	return txWaiters, blockSubs
}
