package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/internal/flowcontrol"
	"github.com/weft-ledger/weft/internal/rpcrecover"
	"github.com/weft-ledger/weft/peer/commitcheck"
)

// knownPeer is another peer this channel's commit hashes are compared with.
type knownPeer struct {
	address string
	roots   *x509.CertPool // its organisation's TLS root CAs
}

// knownPeers returns the anchor peers of the channel's current configuration,
// less this peer itself.
func (c *channel) knownPeers() []knownPeer {
	bundle := c.bundle.Load()
	app := bundle.Application()
	if app == nil {
		return nil
	}
	self := map[string]bool{c.node.cfg.Address: true, c.node.cfg.ListenAddress: true}
	var out []knownPeer
	for mspID, org := range app.Orgs {
		var roots *x509.CertPool
		if m, ok := bundle.MSPs().MSP(mspID); ok {
			roots = m.TLSRootCAs()
		}
		for _, a := range org.AnchorPeers {
			if !self[a] {
				out = append(out, knownPeer{address: a, roots: roots})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].address < out[j].address })
	return out
}

// checkCommitHashes compares, every interval until ctx ends, this channel's
// commit hash with each known peer's (see package commitcheck).
func (c *channel) checkCommitHashes(ctx context.Context, every time.Duration) {
	conns := map[string]*grpc.ClientConn{}
	defer func() {
		for _, conn := range conns {
			_ = conn.Close()
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range c.knownPeers() {
			conn, ok := conns[p.address]
			if !ok {
				var err error
				if conn, err = c.dialPeer(p); err != nil {
					c.node.log.Debug("commit hash check: cannot dial peer", "channel", c.id, "peer", p.address, "err", err)
					continue
				}
				conns[p.address] = conn
			}
			cctx, cancel := context.WithTimeout(ctx, every)
			// A panic comparing with one peer (a bug met by its answer)
			// skips that comparison, logged with its stack.
			_ = rpcrecover.Call(c.node.log, "comparing commit hashes with peer "+p.address, func() error {
				_, err := c.compareCommitHash(cctx, p.address, conn)
				return err
			})
			cancel()
		}
	}
}

func (c *channel) dialPeer(p knownPeer) (*grpc.ClientConn, error) {
	tc := &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12}
	if c.node.tlsCert != nil {
		tc.Certificates = []tls.Certificate{*c.node.tlsCert}
	}
	return grpc.NewClient(p.address, append(flowcontrol.DialOptions(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))...)
}

// compareCommitHash compares with the peer at address over conn, logs the
// outcome and counts a mismatch in ledger_commit_hash_mismatches.
func (c *channel) compareCommitHash(ctx context.Context, address string, conn grpc.ClientConnInterface) (commitcheck.Result, error) {
	res, err := commitcheck.Compare(ctx, c.ledger.Blocks(), commitcheck.QSCC{Conn: conn, Signer: c.node.signer, Channel: c.id})
	log := c.node.log.With("channel", c.id, "peer", address)
	switch {
	case err != nil:
		log.Debug("commit hash check: cannot compare with peer", "err", err)
	case res.Outcome == commitcheck.Mismatch:
		log.Error("commit hash differs from another peer's: the world states have diverged at or before this block; "+
			"find which peer is wrong (compare with a third peer) and rebuild its state from its blocks",
			"block", res.Block, "local_commit_hash", hex.EncodeToString(res.Local), "peer_commit_hash", hex.EncodeToString(res.Remote))
		c.node.metrics.commitHashMismatches.Add(1, c.id, address)
	default:
		log.Debug("commit hash check", "block", res.Block, "outcome", res.Outcome.String())
	}
	return res, err
}
