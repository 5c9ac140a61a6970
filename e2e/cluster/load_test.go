package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// ack is one acknowledged broadcast.
type ack struct {
	Node uint64
	Sent time.Time // when the envelope was sent
	At   time.Time // when SUCCESS came back
}

// loadOptions bound the load a test puts on the cluster.
type loadOptions struct {
	Workers  int             // envelopes in flight (default 4)
	Targets  func() []uint64 // orderers to broadcast to, asked per envelope (default: every serving node)
	Timeout  time.Duration   // per broadcast (default 5s)
	Pause    time.Duration   // between two broadcasts of one worker (default 10ms; <0: none)
	BodySize int             // bytes of the envelope body (default 200)
	Max      int             // stop after this many acks (0: no limit)
}

// load broadcasts fresh envelopes (a new TxID for every attempt, never a
// resend) round robin to the targets and records what was acknowledged.
type load struct {
	n      *network
	o      loadOptions
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	acked    map[string]ack
	sent     map[string]time.Time
	outcomes map[string]int // "SUCCESS", "SERVICE_UNAVAILABLE", "error: Unavailable" ...
	ackedC   chan struct{}  // signalled on every ack
}

func (n *network) startLoad(o loadOptions) *load {
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Pause == 0 {
		o.Pause = 10 * time.Millisecond
	}
	if o.BodySize == 0 {
		o.BodySize = 200
	}
	if o.Targets == nil {
		o.Targets = n.servingIDs
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{n: n, o: o, cancel: cancel, acked: map[string]ack{}, sent: map[string]time.Time{},
		outcomes: map[string]int{}, ackedC: make(chan struct{}, 1)}
	for w := 0; w < o.Workers; w++ {
		l.wg.Add(1)
		go l.worker(ctx, w)
	}
	// A test that fails half way still stops its load before the network goes.
	n.t.Cleanup(l.stop)
	return l
}

// servingIDs are the nodes running and not frozen.
func (n *network) servingIDs() []uint64 {
	var out []uint64
	for _, nd := range n.nodes {
		if nd.serving() {
			out = append(out, nd.id)
		}
	}
	return out
}

func (l *load) worker(ctx context.Context, w int) {
	defer l.wg.Done()
	for i := w; ; i++ {
		if ctx.Err() != nil {
			return
		}
		if l.o.Max > 0 && l.count() >= l.o.Max {
			return
		}
		targets := l.o.Targets()
		if len(targets) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
				continue
			}
		}
		target := targets[i%len(targets)]
		env, txID, err := l.n.newTx(l.o.BodySize)
		if err != nil {
			l.mu.Lock()
			l.outcomes["build envelope: "+err.Error()]++
			l.mu.Unlock()
			return
		}
		sent := time.Now()
		l.mu.Lock()
		l.sent[txID] = sent
		l.mu.Unlock()
		bctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
		status, _, err := l.n.Broadcast(bctx, target, env)
		cancel()
		l.mu.Lock()
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil:
			l.outcomes["error: "+grpcCode(err)]++
		case status == cb.Status_SUCCESS:
			l.acked[txID] = ack{Node: target, Sent: sent, At: time.Now()}
			l.outcomes[status.String()]++
			select {
			case l.ackedC <- struct{}{}:
			default:
			}
		default:
			l.outcomes[status.String()]++
		}
		l.mu.Unlock()
		if err != nil || status != cb.Status_SUCCESS {
			// Back off a little so a refused broadcast is not retried in a hot loop.
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if l.o.Pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(l.o.Pause):
			}
		}
	}
}

func grpcCode(err error) string {
	s := err.Error()
	if i := strings.Index(s, "code = "); i >= 0 {
		s = s[i+len("code = "):]
		if j := strings.IndexByte(s, ' '); j >= 0 {
			s = s[:j]
		}
	}
	return s
}

// stop ends the load and waits for the workers.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// Acked returns a copy of the acknowledged broadcasts by TxID.
func (l *load) Acked() map[string]ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]ack, len(l.acked))
	for k, v := range l.acked {
		out[k] = v
	}
	return out
}

// ackedSince counts acks of envelopes sent after t.
func (l *load) ackedSince(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := 0
	for _, a := range l.acked {
		if a.Sent.After(t) {
			c++
		}
	}
	return c
}

// waitAcks waits until at least want envelopes sent after since are acknowledged.
func (l *load) waitAcks(want int, since time.Time, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		if l.ackedSince(since) >= want {
			return nil
		}
		select {
		case <-l.ackedC:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			return fmt.Errorf("only %d of %d broadcasts sent after %s acknowledged within %v (outcomes %s)",
				l.ackedSince(since), want, since.Format("15:04:05.000"), timeout, l.summary())
		}
	}
}

// summary lists the outcomes of every broadcast so far.
func (l *load) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var keys []string
	for k := range l.outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, l.outcomes[k]))
	}
	return strings.Join(parts, " ")
}

// sentAt returns the send time of a TxID of this load.
func (l *load) sentAt(txID string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.sent[txID]
	return t, ok
}

// mergeAcks adds the acks of several loads.
func mergeAcks(loads ...*load) map[string]ack {
	out := map[string]ack{}
	for _, l := range loads {
		for k, v := range l.Acked() {
			out[k] = v
		}
	}
	return out
}
