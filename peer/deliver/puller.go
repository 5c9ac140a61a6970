package deliver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/internal/flowcontrol"
	"github.com/weft-ledger/weft/internal/rpcrecover"
	"github.com/weft-ledger/weft/protos"
)

// Endpoint is one orderer a Puller may connect to.
type Endpoint struct {
	Address  string         // host:port
	TLSRoots *x509.CertPool // the orderer organisation's TLS root CAs
}

// PullerConfig configures a Puller.
type PullerConfig struct {
	ChannelID string
	// Endpoints returns the channel's current orderer endpoints. It is called
	// on every (re)connection and on every check of the orderer in use, so a
	// committed config block that changes the endpoints takes effect without a
	// restart: an orderer dropped from the list is left at the next check.
	Endpoints func() []Endpoint
	// AddressOverrides replaces an endpoint whose address is a key by the
	// value (address and TLS roots), as Fabric's
	// peer.deliveryclient.addressOverrides does.
	AddressOverrides map[string]Endpoint
	// Signer signs the seek requests (the peer's identity).
	Signer protos.Signer
	// ClientCert, if set, is presented for mutual TLS and bound into the
	// request's channel header (tls_cert_hash) as Fabric's peers do.
	ClientCert *tls.Certificate
	// MinBackoff and MaxBackoff bound the wait between reconnections
	// (defaults 100ms and 10s); the wait doubles after each failed attempt and
	// goes back to MinBackoff after a stream that delivered a block or stayed
	// up for MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// BehindTimeout is how long the orderer in use may leave the next block
	// undelivered while another endpoint already has it; then the puller
	// moves to the endpoint that is furthest ahead (default 5s; negative turns
	// the check off). Other endpoints are asked for their height only while
	// the stream in use is idle, every BehindTimeout/4.
	BehindTimeout time.Duration
	// ConnectTimeout bounds establishing a connection to one orderer
	// (default 3s).
	ConnectTimeout time.Duration
	Logger         *slog.Logger
	// Ahead, when set, is told of each block as soon as it arrives, while
	// the block before it may still be in accept: the stream is read one
	// block ahead of accept, so a committer can start checking the next
	// block (what does not depend on the block being committed) early. It
	// must return quickly; the same *cb.Block is later handed to accept,
	// unless the stream breaks first. A block Ahead saw may never reach
	// accept.
	Ahead func(*cb.Block)
}

// Puller pulls one channel's blocks from the ordering service.
type Puller struct {
	cfg PullerConfig
	log *slog.Logger
}

// ErrNoEndpoints is logged (and retried) while the channel names no orderer.
var ErrNoEndpoints = errors.New("deliver: channel has no orderer endpoints")

// errBadBlock marks a block the callback rejected.
var errBadBlock = errors.New("block rejected by the commit path")

// switchError ends a healthy stream on purpose: the orderer in use fell
// behind another one, or left the channel's endpoints.
type switchError struct {
	from, to string // to is empty when any other endpoint will do
	reason   string
}

func (e *switchError) Error() string {
	return fmt.Sprintf("leaving orderer %s: %s", e.from, e.reason)
}

// NewPuller checks cfg and returns a Puller.
func NewPuller(cfg PullerConfig) (*Puller, error) {
	if cfg.ChannelID == "" {
		return nil, fmt.Errorf("deliver puller: ChannelID is empty")
	}
	if cfg.Endpoints == nil {
		return nil, fmt.Errorf("deliver puller for channel %s: Endpoints is nil", cfg.ChannelID)
	}
	if cfg.Signer == nil {
		return nil, fmt.Errorf("deliver puller for channel %s: Signer is nil (the peer's identity signs seek requests)", cfg.ChannelID)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	if cfg.BehindTimeout == 0 {
		cfg.BehindTimeout = 5 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 3 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Puller{cfg: cfg, log: log.With("channel", cfg.ChannelID)}, nil
}

// Pull delivers blocks from number from onwards to accept, in order and each
// once, until ctx ends; it then returns ctx's error. When accept returns an
// error the block is considered bad: the puller drops the connection, moves to
// the next orderer and asks again for that block number.
//
// The first orderer is picked at random, the next ones round robin. A broken
// or refused stream costs a backoff wait; leaving an orderer that fell behind
// (or was removed from the config) does not.
func (p *Puller) Pull(ctx context.Context, from uint64, accept func(*cb.Block) error) error {
	next := from
	backoff := p.cfg.MinBackoff
	var last, prefer string // the orderer used last; the one found ahead of it
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		eps := p.endpoints()
		var err error
		if len(eps) == 0 {
			err = ErrNoEndpoints
		} else {
			ep := pick(eps, last, prefer)
			last, prefer = ep.Address, ""
			before := next
			var lived time.Duration
			lived, err = p.pullFrom(ctx, ep, &next, accept)
			if next > before || lived >= p.cfg.MaxBackoff {
				backoff = p.cfg.MinBackoff
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if sw := (*switchError)(nil); errors.As(err, &sw) {
			prefer = sw.to
			p.log.Warn("switching orderer", "orderer", sw.from, "to_orderer", sw.to, "next_block", next, "reason", sw.reason)
			continue
		}
		p.log.Warn("block pull interrupted, switching orderer", "orderer", last, "next_block", next, "retry_in", backoff.String(), "err", err.Error())
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, p.cfg.MaxBackoff)
	}
}

// endpoints is the current endpoint list with the address overrides applied.
func (p *Puller) endpoints() []Endpoint {
	eps := p.cfg.Endpoints()
	if len(p.cfg.AddressOverrides) == 0 {
		return eps
	}
	out := make([]Endpoint, len(eps))
	for i, ep := range eps {
		if o, ok := p.cfg.AddressOverrides[ep.Address]; ok {
			ep = o
		}
		out[i] = ep
	}
	return out
}

// pick chooses the orderer to connect to: prefer if listed, else the one after
// last, else (first connection, or last left the config) a random one.
func pick(eps []Endpoint, last, prefer string) Endpoint {
	if i := indexOf(eps, prefer); i >= 0 {
		return eps[i]
	}
	if i := indexOf(eps, last); i >= 0 {
		return eps[(i+1)%len(eps)]
	}
	return eps[rand.IntN(len(eps))]
}

func indexOf(eps []Endpoint, addr string) int {
	if addr == "" {
		return -1
	}
	for i, ep := range eps {
		if ep.Address == addr {
			return i
		}
	}
	return -1
}

// dial returns a (lazily connecting) client connection to ep.
func (p *Puller) dial(ep Endpoint) (*grpc.ClientConn, error) {
	tlsCfg := &tls.Config{RootCAs: ep.TLSRoots, MinVersion: tls.VersionTLS12}
	if p.cfg.ClientCert != nil {
		tlsCfg.Certificates = []tls.Certificate{*p.cfg.ClientCert}
	}
	// Fixed flow-control windows (flowcontrol): with gRPC's automatic sizing
	// the peer sent, for nearly every block, a PING the orderer answered and
	// window updates, paid per handful of transactions with small blocks.
	// The orderer cannot run ahead by more than the window, which bounds
	// the memory a stream holds too.
	conn, err := grpc.NewClient(ep.Address, append(flowcontrol.DialOptions(),
		grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: p.cfg.ConnectTimeout}))...)
	if err != nil {
		return nil, fmt.Errorf("connect to orderer %s: %w", ep.Address, err)
	}
	return conn, nil
}

// streamState is what the receive loop of one stream shares with its monitor.
type streamState struct {
	next    atomic.Uint64 // the block the stream is expected to send next
	waiting atomic.Bool   // true while the loop waits on the orderer, false while accept runs
}

// pullFrom runs one Deliver stream against ep, advancing *next for every
// accepted block. It returns how long the stream was up (zero if it never
// opened) and a non-nil error saying why it stopped; a *switchError when its
// monitor ended the stream on purpose.
func (p *Puller) pullFrom(ctx context.Context, ep Endpoint, next *uint64, accept func(*cb.Block) error) (lived time.Duration, err error) {
	conn, err := p.dial(ep)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	sctx, stop := context.WithCancelCause(ctx)
	st := &streamState{}
	st.next.Store(*next)
	st.waiting.Store(true)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A panic in the monitor ends this stream (the puller reconnects),
		// not the peer.
		defer func() {
			if r := recover(); r != nil {
				stop(rpcrecover.Recovered(p.log, "watching the deliver stream from orderer "+ep.Address, r))
			}
		}()
		p.monitor(sctx, stop, ep, st)
	}()
	defer func() {
		stop(nil)
		wg.Wait()
	}()
	// why prefers the monitor's reason over the stream error it caused.
	why := func(err error) error {
		if sw := (*switchError)(nil); errors.As(context.Cause(sctx), &sw) {
			return sw
		}
		return err
	}
	stream, err := ab.NewAtomicBroadcastClient(conn).Deliver(sctx)
	if err != nil {
		return 0, why(fmt.Errorf("open deliver stream to orderer %s: %w", ep.Address, err))
	}
	env, err := p.seekEnvelope(&ab.SeekInfo{
		Start:    &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: *next}}},
		Stop:     &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: math.MaxUint64}}},
		Behavior: ab.SeekInfo_BLOCK_UNTIL_READY,
	})
	if err != nil {
		return 0, err
	}
	if err := stream.Send(env); err != nil {
		return 0, why(fmt.Errorf("send seek request to orderer %s: %w", ep.Address, err))
	}
	p.log.Info("pulling blocks", "orderer", ep.Address, "from_block", *next)
	opened := time.Now()
	defer func() { lived = time.Since(opened) }()
	// The stream is read by a goroutine of its own, one response ahead of
	// accept: the next block arrives (and Ahead sees it) while the block
	// before it is being committed.
	type received struct {
		resp *ab.DeliverResponse
		err  error
	}
	queue := make(chan received, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			resp, err := stream.Recv()
			if err == nil && p.cfg.Ahead != nil {
				if b := resp.GetBlock(); b.GetHeader() != nil && b.GetHeader().GetNumber() >= st.next.Load() {
					p.cfg.Ahead(b)
				}
			}
			select {
			case queue <- received{resp, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		st.waiting.Store(true)
		var r received
		select {
		case r = <-queue:
		case <-sctx.Done():
			r.err = context.Cause(sctx)
		}
		st.waiting.Store(false)
		resp, err := r.resp, r.err
		if err != nil {
			return 0, why(fmt.Errorf("receive from orderer %s: %w", ep.Address, err))
		}
		switch t := resp.Type.(type) {
		case *ab.DeliverResponse_Status:
			return 0, fmt.Errorf("orderer %s ended the stream with status %s", ep.Address, t.Status)
		case *ab.DeliverResponse_Block:
			if t.Block.GetHeader() == nil {
				return 0, fmt.Errorf("orderer %s sent a block without header", ep.Address)
			}
			n := t.Block.GetHeader().GetNumber()
			if n < *next {
				continue // already accepted; never hand a block over twice
			}
			if n > *next {
				return 0, fmt.Errorf("orderer %s sent block %d, expected block %d", ep.Address, n, *next)
			}
			if err := accept(t.Block); err != nil {
				return 0, fmt.Errorf("%w: block %d from orderer %s: %w", errBadBlock, n, ep.Address, err)
			}
			*next = n + 1
			st.next.Store(*next)
		default:
			return 0, fmt.Errorf("orderer %s sent an unexpected response %T", ep.Address, t)
		}
	}
}

// monitor watches the stream to cur until ctx ends. It stops the stream with a
// *switchError when cur leaves the channel's endpoints, or when cur has left
// the next block undelivered for BehindTimeout while another endpoint has it.
// A stream that delivered a block since the last check, or whose accept
// callback is running, is not behind.
func (p *Puller) monitor(ctx context.Context, stop context.CancelCauseFunc, cur Endpoint, st *streamState) {
	interval := max(p.cfg.BehindTimeout/4, time.Millisecond)
	if p.cfg.BehindTimeout < 0 {
		interval = time.Second // only the endpoint-list check
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	probes := &prober{p: p, conns: map[string]*grpc.ClientConn{}}
	defer probes.close()
	lastSeen := st.next.Load()
	var since time.Time // when another orderer was first seen to have block lastSeen; zero if none
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		eps := p.endpoints()
		if indexOf(eps, cur.Address) < 0 {
			stop(&switchError{from: cur.Address, reason: "it is no longer among the channel's orderer endpoints"})
			return
		}
		want := st.next.Load()
		if want != lastSeen || !st.waiting.Load() || p.cfg.BehindTimeout < 0 {
			lastSeen, since = want, time.Time{}
			continue
		}
		ahead, height := probes.highest(ctx, eps, cur.Address)
		if height <= want {
			since = time.Time{}
			continue
		}
		if since.IsZero() {
			since = time.Now()
			continue
		}
		if time.Since(since) >= p.cfg.BehindTimeout {
			stop(&switchError{from: cur.Address, to: ahead.Address, reason: fmt.Sprintf(
				"it has not delivered block %d for %s while orderer %s has height %d", want, time.Since(since).Round(time.Millisecond), ahead.Address, height)})
			return
		}
	}
}

// prober asks orderers for their height; it is owned by one monitor.
type prober struct {
	p     *Puller
	conns map[string]*grpc.ClientConn // by address, reused across checks
}

func (pr *prober) close() {
	for _, c := range pr.conns {
		c.Close()
	}
}

// highest asks every endpoint but skip for its height, concurrently, and
// returns the highest one; height 0 when none answered.
func (pr *prober) highest(ctx context.Context, eps []Endpoint, skip string) (Endpoint, uint64) {
	type answer struct {
		ep     Endpoint
		height uint64
	}
	answers := make(chan answer, len(eps))
	n := 0
	for _, ep := range eps {
		if ep.Address == skip {
			continue
		}
		conn, ok := pr.conns[ep.Address]
		if !ok {
			var err error
			if conn, err = pr.p.dial(ep); err != nil {
				pr.p.log.Debug("cannot check orderer height", "orderer", ep.Address, "err", err.Error())
				continue
			}
			pr.conns[ep.Address] = conn
		}
		n++
		go func() {
			var h uint64
			defer func() {
				if r := recover(); r != nil { // counts as no answer
					rpcrecover.Recovered(pr.p.log, "asking orderer "+ep.Address+" for its height", r)
				}
				answers <- answer{ep, h}
			}()
			var err error
			h, err = pr.p.height(ctx, conn, ep.Address)
			if err != nil {
				pr.p.log.Debug("cannot check orderer height", "orderer", ep.Address, "err", err.Error())
			}
		}()
	}
	var best answer
	for range n {
		if a := <-answers; a.height > best.height {
			best = a
		}
	}
	return best.ep, best.height
}

// height asks one orderer for its newest block header and returns the
// channel's height there.
func (p *Puller) height(ctx context.Context, conn *grpc.ClientConn, addr string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, max(p.cfg.BehindTimeout, time.Second))
	defer cancel()
	stream, err := ab.NewAtomicBroadcastClient(conn).Deliver(ctx)
	if err != nil {
		return 0, fmt.Errorf("open deliver stream to orderer %s: %w", addr, err)
	}
	newest := &ab.SeekPosition{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}}
	env, err := p.seekEnvelope(&ab.SeekInfo{Start: newest, Stop: newest, Behavior: ab.SeekInfo_FAIL_IF_NOT_READY, ContentType: ab.SeekInfo_HEADER_WITH_SIG})
	if err != nil {
		return 0, err
	}
	if err := stream.Send(env); err != nil {
		return 0, fmt.Errorf("send height request to orderer %s: %w", addr, err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return 0, fmt.Errorf("receive height from orderer %s: %w", addr, err)
	}
	if b := resp.GetBlock(); b.GetHeader() != nil {
		return b.Header.Number + 1, nil
	}
	return 0, fmt.Errorf("orderer %s answered the height request with status %s", addr, resp.GetStatus())
}

// seekEnvelope signs a DELIVER_SEEK_INFO request for seek.
func (p *Puller) seekEnvelope(seek *ab.SeekInfo) (*cb.Envelope, error) {
	var cert []byte
	if c := p.cfg.ClientCert; c != nil && len(c.Certificate) > 0 {
		cert = c.Certificate[0]
	}
	env, err := protos.NewDeliverRequest(p.cfg.Signer, p.cfg.ChannelID, seek, cert)
	if err != nil {
		return nil, fmt.Errorf("deliver puller for channel %s: %w", p.cfg.ChannelID, err)
	}
	return env, nil
}
