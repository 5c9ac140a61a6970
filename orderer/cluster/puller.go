package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/internal/flowcontrol"
	"github.com/weft-ledger/weft/protos"
)

// BlockPuller is what a chain needs to catch up from other orderers; it has
// the method set of raftchain.Puller.
type BlockPuller interface {
	Pull(ctx context.Context, from, to uint64, each func(*cb.Block) error) error
	Height(ctx context.Context) (uint64, error)
}

var _ BlockPuller = (*Puller)(nil)

// PullerConfig describes where and how a Puller fetches one channel's blocks.
type PullerConfig struct {
	Channel string
	// Endpoints returns the host:port of the orderers to ask, in the order to
	// try them; it is called on every Pull and Height.
	Endpoints func() []string
	// TLS is the client TLS configuration: root CAs of the orderers and this
	// orderer's TLS key pair as client certificate.
	TLS *tls.Config
	// Signer signs the Deliver requests (this orderer's identity, which the
	// channel's Readers policy must accept).
	Signer protos.Signer
	// Verify checks a block's signatures against the channel's
	// BlockValidation policy; a block it refuses is never handed over.
	Verify func(*cb.Block) error
	// DialTimeout bounds one connection attempt to an endpoint (default 5s).
	DialTimeout time.Duration
	Logger      *slog.Logger
}

// Puller fetches committed blocks of a channel through
// AtomicBroadcast/Deliver, one connection per call. Safe for concurrent use.
type Puller struct {
	cfg PullerConfig
	log *slog.Logger
}

// NewPuller checks cfg and returns a Puller.
func NewPuller(cfg PullerConfig) (*Puller, error) {
	switch {
	case cfg.Channel == "":
		return nil, errors.New("cluster: PullerConfig.Channel is empty")
	case cfg.Endpoints == nil:
		return nil, fmt.Errorf("cluster: puller for channel %s: PullerConfig.Endpoints is nil", cfg.Channel)
	case cfg.TLS == nil:
		return nil, fmt.Errorf("cluster: puller for channel %s: PullerConfig.TLS is nil; orderers serve Deliver over TLS only", cfg.Channel)
	case cfg.Signer == nil:
		return nil, fmt.Errorf("cluster: puller for channel %s: PullerConfig.Signer is nil; Deliver requests must be signed", cfg.Channel)
	case cfg.Verify == nil:
		return nil, fmt.Errorf("cluster: puller for channel %s: PullerConfig.Verify is nil; pulled blocks must be checked against the BlockValidation policy", cfg.Channel)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Puller{cfg: cfg, log: cfg.Logger.With("channel", cfg.Channel)}, nil
}

// errEach marks an error returned by the caller's callback: it ends Pull
// without trying another endpoint.
type errEach struct{ err error }

func (e errEach) Error() string { return e.err.Error() }
func (e errEach) Unwrap() error { return e.err }

// Pull hands blocks from..to (inclusive), in order, to each. Every block is
// checked (number, data hash, previous hash against the block handed before
// it, then cfg.Verify) before each sees it. On any failure of an orderer it
// continues with the next endpoint from the first block not yet handed over;
// an error from each ends Pull at once and is returned (wrapped). The first
// block's previous hash is not checked: the caller compares it with its own
// last block.
func (p *Puller) Pull(ctx context.Context, from, to uint64, each func(*cb.Block) error) error {
	if to < from {
		return fmt.Errorf("cluster: pull blocks of channel %s: range %d-%d is empty (to < from)", p.cfg.Channel, from, to)
	}
	eps := p.cfg.Endpoints()
	if len(eps) == 0 {
		return fmt.Errorf("cluster: pull blocks %d-%d of channel %s: no orderer endpoints known", from, to, p.cfg.Channel)
	}
	next := from
	var prevHash []byte
	var failures []string
	for _, ep := range eps {
		err := p.pullFrom(ctx, ep, &next, to, &prevHash, each)
		if err == nil {
			return nil
		}
		var ee errEach
		if errors.As(err, &ee) {
			return fmt.Errorf("pull channel %s: block %d: %w", p.cfg.Channel, next, ee.err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cluster: pull blocks %d-%d of channel %s stopped at block %d: %w", from, to, p.cfg.Channel, next, ctx.Err())
		}
		p.log.Warn("pulling blocks failed; trying the next orderer", "orderer", ep, "next_block", next, "error", err)
		failures = append(failures, fmt.Sprintf("%s: %v", ep, err))
	}
	return fmt.Errorf("cluster: pull blocks %d-%d of channel %s: no orderer served block %d (%s)", from, to, p.cfg.Channel, next, strings.Join(failures, "; "))
}

// pullFrom pulls *next..to from one orderer, advancing *next and *prevHash
// for every block handed over.
func (p *Puller) pullFrom(ctx context.Context, ep string, next *uint64, to uint64, prevHash *[]byte, each func(*cb.Block) error) error {
	conn, err := p.dial(ep)
	if err != nil {
		return err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := ab.NewAtomicBroadcastClient(conn).Deliver(sctx)
	if err != nil {
		return fmt.Errorf("open deliver stream: %w", err)
	}
	env, err := p.seekEnvelope(specified(*next), specified(to), ab.SeekInfo_BLOCK)
	if err != nil {
		return err
	}
	if err := stream.Send(env); err != nil {
		return fmt.Errorf("send deliver request: %w", err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("receive block %d: %w", *next, err)
		}
		switch t := resp.Type.(type) {
		case *ab.DeliverResponse_Status:
			return fmt.Errorf("orderer answered status %s while block %d of %d-%d was expected", t.Status, *next, *next, to)
		case *ab.DeliverResponse_Block:
			blk := t.Block
			if err := checkBlock(blk, *next, *prevHash); err != nil {
				return err
			}
			if err := p.cfg.Verify(blk); err != nil {
				return fmt.Errorf("block %d failed verification: %w", *next, err)
			}
			if err := each(blk); err != nil {
				return errEach{err}
			}
			*prevHash = protos.BlockHeaderHash(blk.Header)
			last := *next == to
			*next++
			if last {
				return nil
			}
		default:
			return fmt.Errorf("unexpected deliver response %T", t)
		}
	}
}

// checkBlock checks a block's number, data hash and, if known, its link to
// the previous block.
func checkBlock(b *cb.Block, want uint64, prevHash []byte) error {
	if b.GetHeader() == nil {
		return fmt.Errorf("block %d has no header", want)
	}
	if n := b.Header.Number; n != want {
		return fmt.Errorf("got block %d, expected block %d", n, want)
	}
	if got := protos.BlockDataHash(b.Data); !bytes.Equal(got, b.Header.DataHash) {
		return fmt.Errorf("block %d: data hash in header %x does not match its data (%x): the block was altered", want, b.Header.DataHash, got)
	}
	if prevHash != nil && !bytes.Equal(b.Header.PreviousHash, prevHash) {
		return fmt.Errorf("block %d: previous hash %x is not the header hash of block %d (%x): the hash chain is broken", want, b.Header.PreviousHash, want-1, prevHash)
	}
	return nil
}

// Height returns the largest height any endpoint reports (newest block
// number + 1); it asks all endpoints at once and fails only if none
// answers. The heights are not verified: Pull verifies what it fetches.
func (p *Puller) Height(ctx context.Context) (uint64, error) {
	eps := p.cfg.Endpoints()
	if len(eps) == 0 {
		return 0, fmt.Errorf("cluster: height of channel %s: no orderer endpoints known", p.cfg.Channel)
	}
	type answer struct {
		ep     string
		height uint64
		err    error
	}
	answers := make([]answer, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() {
			h, err := p.heightFrom(ctx, ep)
			answers[i] = answer{ep, h, err}
		})
	}
	wg.Wait()
	var best uint64
	var ok bool
	var failures []string
	for _, a := range answers {
		if a.err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", a.ep, a.err))
			continue
		}
		ok = true
		best = max(best, a.height)
	}
	if !ok {
		return 0, fmt.Errorf("cluster: height of channel %s: no orderer answered (%s)", p.cfg.Channel, strings.Join(failures, "; "))
	}
	if len(failures) > 0 {
		p.log.Debug("some orderers did not report a height", "failures", strings.Join(failures, "; "))
	}
	return best, nil
}

func (p *Puller) heightFrom(ctx context.Context, ep string) (uint64, error) {
	conn, err := p.dial(ep)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := ab.NewAtomicBroadcastClient(conn).Deliver(sctx)
	if err != nil {
		return 0, fmt.Errorf("open deliver stream: %w", err)
	}
	newest := &ab.SeekPosition{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}}
	env, err := p.seekEnvelope(newest, newest, ab.SeekInfo_HEADER_WITH_SIG)
	if err != nil {
		return 0, err
	}
	if err := stream.Send(env); err != nil {
		return 0, fmt.Errorf("send deliver request: %w", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return 0, fmt.Errorf("receive newest block: %w", err)
	}
	switch t := resp.Type.(type) {
	case *ab.DeliverResponse_Block:
		if t.Block.GetHeader() == nil {
			return 0, errors.New("newest block has no header")
		}
		return t.Block.Header.Number + 1, nil
	case *ab.DeliverResponse_Status:
		return 0, fmt.Errorf("orderer answered status %s to a request for its newest block", t.Status)
	default:
		return 0, fmt.Errorf("unexpected deliver response %T", t)
	}
}

func (p *Puller) dial(ep string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(ep, append(flowcontrol.DialOptions(),
		grpc.WithTransportCredentials(credentials.NewTLS(p.cfg.TLS)),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: p.cfg.DialTimeout}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("orderer endpoint %q: %w", ep, err)
	}
	return conn, nil
}

// seekEnvelope builds a signed Deliver request that fails rather than waits
// when a block is not there yet, so a lagging orderer is skipped.
func (p *Puller) seekEnvelope(start, stop *ab.SeekPosition, content ab.SeekInfo_SeekContentType) (*cb.Envelope, error) {
	seek := &ab.SeekInfo{
		Start:       start,
		Stop:        stop,
		Behavior:    ab.SeekInfo_FAIL_IF_NOT_READY,
		ContentType: content,
	}
	var cert []byte
	if certs := p.cfg.TLS.Certificates; len(certs) > 0 && len(certs[0].Certificate) > 0 {
		cert = certs[0].Certificate[0]
	}
	env, err := protos.NewDeliverRequest(p.cfg.Signer, p.cfg.Channel, seek, cert)
	if err != nil {
		return nil, fmt.Errorf("cluster: deliver request for channel %s: %w", p.cfg.Channel, err)
	}
	return env, nil
}

func specified(n uint64) *ab.SeekPosition {
	return &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: n}}}
}
