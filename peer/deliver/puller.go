package deliver

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

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
	// Endpoints returns the channel's current orderer endpoints; it is called on
	// every (re)connection so config updates are picked up.
	Endpoints func() []Endpoint
	// Signer signs the seek requests (the peer's identity).
	Signer protos.Signer
	// ClientCert, if set, is presented for mutual TLS and bound into the
	// request's channel header (tls_cert_hash) as Fabric's peers do.
	ClientCert *tls.Certificate
	// MinBackoff and MaxBackoff bound the wait between reconnections
	// (defaults 100ms and 10s); the wait doubles after each failed attempt.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
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
func (p *Puller) Pull(ctx context.Context, from uint64, accept func(*cb.Block) error) error {
	next := from
	backoff := p.cfg.MinBackoff
	attempt := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		eps := p.cfg.Endpoints()
		var err error
		progressed := false
		var addr string
		if len(eps) == 0 {
			err = ErrNoEndpoints
		} else {
			ep := eps[attempt%len(eps)]
			addr = ep.Address
			before := next
			err = p.pullFrom(ctx, ep, &next, accept)
			progressed = next > before
		}
		attempt++
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if progressed {
			backoff = p.cfg.MinBackoff
		}
		p.log.Warn("block pull interrupted, switching orderer", "orderer", addr, "next_block", next, "retry_in", backoff.String(), "err", err.Error())
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

// pullFrom runs one Deliver stream against ep, advancing *next for every
// accepted block. It always returns a non-nil error saying why it stopped.
func (p *Puller) pullFrom(ctx context.Context, ep Endpoint, next *uint64, accept func(*cb.Block) error) error {
	tlsCfg := &tls.Config{RootCAs: ep.TLSRoots, MinVersion: tls.VersionTLS12}
	if p.cfg.ClientCert != nil {
		tlsCfg.Certificates = []tls.Certificate{*p.cfg.ClientCert}
	}
	conn, err := grpc.NewClient(ep.Address, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		return fmt.Errorf("connect to orderer %s: %w", ep.Address, err)
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := ab.NewAtomicBroadcastClient(conn).Deliver(sctx)
	if err != nil {
		return fmt.Errorf("open deliver stream to orderer %s: %w", ep.Address, err)
	}
	env, err := p.seekEnvelope(*next)
	if err != nil {
		return err
	}
	if err := stream.Send(env); err != nil {
		return fmt.Errorf("send seek request to orderer %s: %w", ep.Address, err)
	}
	p.log.Debug("pulling blocks", "orderer", ep.Address, "from_block", *next)
	for {
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("receive from orderer %s: %w", ep.Address, err)
		}
		switch t := resp.Type.(type) {
		case *ab.DeliverResponse_Status:
			return fmt.Errorf("orderer %s ended the stream with status %s", ep.Address, t.Status)
		case *ab.DeliverResponse_Block:
			n := t.Block.GetHeader().GetNumber()
			if t.Block.GetHeader() == nil {
				return fmt.Errorf("orderer %s sent a block without header", ep.Address)
			}
			if n < *next {
				continue // already accepted; never hand a block over twice
			}
			if n > *next {
				return fmt.Errorf("orderer %s sent block %d, expected block %d", ep.Address, n, *next)
			}
			if err := accept(t.Block); err != nil {
				return fmt.Errorf("%w: block %d from orderer %s: %w", errBadBlock, n, ep.Address, err)
			}
			*next = n + 1
		default:
			return fmt.Errorf("orderer %s sent an unexpected response %T", ep.Address, t)
		}
	}
}

// seekEnvelope builds the signed request for blocks from..max, waiting for
// blocks not yet cut.
func (p *Puller) seekEnvelope(from uint64) (*cb.Envelope, error) {
	seek := &ab.SeekInfo{
		Start:    &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: from}}},
		Stop:     &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: math.MaxUint64}}},
		Behavior: ab.SeekInfo_BLOCK_UNTIL_READY,
	}
	shdr, err := protos.NewSignatureHeader(p.cfg.Signer)
	if err != nil {
		return nil, fmt.Errorf("deliver puller for channel %s: %w", p.cfg.ChannelID, err)
	}
	chdr := protos.NewChannelHeader(cb.HeaderType_DELIVER_SEEK_INFO, p.cfg.ChannelID, protos.ComputeTxID(shdr.Nonce, shdr.Creator))
	if c := p.cfg.ClientCert; c != nil && len(c.Certificate) > 0 {
		sum := sha256.Sum256(c.Certificate[0])
		chdr.TlsCertHash = sum[:]
	}
	payload := &cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(chdr), SignatureHeader: protos.Marshal(shdr)},
		Data:   protos.Marshal(seek),
	}
	env, err := protos.SignEnvelope(payload, p.cfg.Signer)
	if err != nil {
		return nil, fmt.Errorf("deliver puller for channel %s: %w", p.cfg.ChannelID, err)
	}
	return env, nil
}
