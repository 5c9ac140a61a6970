package peer

import (
	"crypto/x509"
	"fmt"
	"sort"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// The gossip packages each declare the few things they need of the peer;
// these adapters answer them from the node and its joined channels.

// gossipManagers are the MSP managers gossip checks identities against: one
// holding the local MSP, then every joined channel's (identity.Managers).
func (n *Node) gossipManagers() []*msp.Manager {
	out := []*msp.Manager{n.localManager}
	for _, id := range n.channelIDs() {
		if ch, err := n.channel(id); err == nil {
			out = append(out, ch.bundle.Load().MSPs())
		}
	}
	return out
}

// gossipTLSRoots are the TLS root and intermediate CAs of the local MSP and
// of every organisation of every joined channel: the servers a gossip
// connection may be made to.
func (n *Node) gossipTLSRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	add := func(m *msp.MSP) {
		conf := m.Config()
		for _, pem := range append(append([][]byte{}, conf.GetTlsRootCerts()...), conf.GetTlsIntermediateCerts()...) {
			pool.AppendCertsFromPEM(pem)
		}
	}
	add(n.localMSP)
	for _, mgr := range n.gossipManagers()[1:] {
		for _, id := range mgr.IDs() {
			if m, ok := mgr.MSP(id); ok {
				add(m)
			}
		}
	}
	return pool
}

// gossipLedger is a channel as gossip/channel's Committer sees it.
type gossipLedger struct{ c *channel }

// Height is the number of blocks committed and published.
func (g gossipLedger) Height() uint64 { return g.c.committed.Height() }

// Commit takes a block received by gossip through the same commit path as
// one from the orderer: verified against the channel's BlockValidation
// policy and hash chain, validated, committed. A block this peer already
// holds is not an error.
func (g gossipLedger) Commit(b *cb.Block) error {
	if err := g.c.commit(b); err != nil && err != ErrAlreadyCommitted {
		return err
	}
	return nil
}

// Block reads a committed block.
func (g gossipLedger) Block(num uint64) (*cb.Block, error) {
	if num >= g.c.committed.Height() {
		return nil, fmt.Errorf("channel %s: block %d is not committed on this peer (height %d)", g.c.id, num, g.c.committed.Height())
	}
	return g.c.ledger.Blocks().Block(num)
}

// gossipPolicy checks a remote peer against the channel configuration in
// force.
type gossipPolicy struct{ c *channel }

// Readers is nil when signature is identity's valid signature over
// signedData and identity satisfies the channel's Readers policy.
func (g gossipPolicy) Readers(identity, signedData, signature []byte) error {
	p, err := g.c.bundle.Load().Policy(readersPolicy)
	if err != nil {
		return fmt.Errorf("channel %s: %w", g.c.id, err)
	}
	if err := p.Evaluate([]protos.SignedData{{Data: signedData, Identity: identity, Signature: signature}}); err != nil {
		return fmt.Errorf("channel %s: %s: %w", g.c.id, readersPolicy, err)
	}
	return nil
}

// orgs are the MSP IDs of the channel's application organisations.
func (c *channel) orgs() []string {
	app := c.bundle.Load().Application()
	if app == nil {
		return nil
	}
	ids := make([]string, 0, len(app.Orgs))
	for id := range app.Orgs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// anchorPeers are the anchor peers of every organisation of the channel.
func (c *channel) anchorPeers() []string {
	app := c.bundle.Load().Application()
	if app == nil {
		return nil
	}
	var out []string
	for _, id := range c.orgs() {
		out = append(out, app.Orgs[id].AnchorPeers...)
	}
	return out
}
