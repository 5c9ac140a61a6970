package orderer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/orderer/cluster"
	"github.com/weft-ledger/weft/orderer/raftchain"
)

// clusterTLS is what the node's cluster clients (Comm and pullers) present
// and trust: the General.Cluster client key pair and the configured roots.
type clusterTLS struct {
	cert  tls.Certificate
	roots []*x509.Certificate // General.Cluster.RootCAs + General.TLS.RootCAs
}

// pool returns the configured roots plus the TLS CAs (roots and
// intermediates) of the orderer organizations of each bundle.
func (t *clusterTLS) pool(bundles ...*channelconfig.Bundle) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range t.roots {
		p.AddCert(c)
	}
	for _, b := range bundles {
		if b == nil || b.Orderer() == nil {
			continue
		}
		for id := range b.Orderer().Orgs {
			m, ok := b.MSPs().MSP(id)
			if !ok {
				continue
			}
			for _, raw := range append(append([][]byte{}, m.Config().TlsRootCerts...), m.Config().TlsIntermediateCerts...) {
				p.AppendCertsFromPEM(raw)
			}
		}
	}
	return p
}

// clientConfig is the TLS config of a puller for a channel with these configs.
func (t *clusterTLS) clientConfig(bundles ...*channelconfig.Bundle) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{t.cert}, RootCAs: t.pool(bundles...), MinVersion: tls.VersionTLS12}
}

// consenterMembers pairs the consenters of a config with their Raft ids:
// the etcdraft.BlockMetadata ConsenterIds of the first block that has as
// many as there are consenters (the last block, then the last config
// block), else positions 1..n as a genesis block implies. next is
// NextConsenterId.
func consenterMembers(consenters []*etcdraft.Consenter, blocks ...*cb.Block) (members []cluster.Member, next uint64) {
	ids := make([]uint64, len(consenters))
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	next = uint64(len(consenters)) + 1
	for _, b := range blocks {
		if b == nil {
			continue
		}
		if _, rmd, err := raftchain.BlockMetadata(b); err == nil && rmd != nil && len(rmd.ConsenterIds) == len(consenters) {
			ids = rmd.ConsenterIds
			next = rmd.NextConsenterId
			for _, id := range ids {
				next = max(next, id+1)
			}
			break
		}
	}
	for i, c := range consenters {
		members = append(members, cluster.Member{
			ID:            ids[i],
			Endpoint:      net.JoinHostPort(c.GetHost(), strconv.Itoa(int(c.GetPort()))),
			ServerTLSCert: c.GetServerTlsCert(),
			ClientTLSCert: c.GetClientTlsCert(),
		})
	}
	return members, next
}

// selfID finds this orderer among members (0: not a consenter).
func (r *Registrar) selfID(consenters []*etcdraft.Consenter, members []cluster.Member) uint64 {
	for i, c := range consenters {
		if r.self.matches(c) {
			return members[i].ID
		}
	}
	return 0
}

func consenterNames(cs []*etcdraft.Consenter) string {
	var out []string
	for _, c := range cs {
		out = append(out, net.JoinHostPort(c.GetHost(), strconv.Itoa(int(c.GetPort()))))
	}
	return strings.Join(out, ", ")
}

// channelPuller pulls a channel's blocks from its other consenters, as they
// are now, verifying signatures against the channel's current config.
type channelPuller struct {
	r *Registrar
	c *channel
}

func (p channelPuller) puller() (*cluster.Puller, error) {
	b := p.c.bundle.Load()
	return cluster.NewPuller(cluster.PullerConfig{
		Channel:   p.c.name,
		Endpoints: p.c.otherEndpoints,
		TLS:       p.r.tls.clientConfig(b),
		Signer:    p.r.signer,
		Verify:    func(blk *cb.Block) error { return channelconfig.VerifyBlock(blk, nil, p.c.bundle.Load()) },
		Logger:    p.r.log,
	})
}

func (p channelPuller) Pull(ctx context.Context, from, to uint64, each func(*cb.Block) error) error {
	pl, err := p.puller()
	if err != nil {
		return err
	}
	return pl.Pull(ctx, from, to, each)
}

func (p channelPuller) Height(ctx context.Context) (uint64, error) {
	pl, err := p.puller()
	if err != nil {
		return 0, err
	}
	return pl.Height(ctx)
}

// otherEndpoints are the host:port of the channel's other consenters.
func (c *channel) otherEndpoints() []string {
	var out []string
	if ms := c.members.Load(); ms != nil {
		for _, m := range *ms {
			if m.ID != c.nodeID {
				out = append(out, m.Endpoint)
			}
		}
	}
	return out
}

// stepDispatcher hands authenticated Raft messages to the channel's chain.
type stepDispatcher struct{ r *Registrar }

func (d stepDispatcher) Step(ctx context.Context, channel string, from uint64, m *raftpb.Message) error {
	c, ok := d.r.channel(channel)
	if !ok {
		return fmt.Errorf("channel %s is not served by this orderer (message from consenter %d dropped)", channel, from)
	}
	if c.chain == nil {
		return fmt.Errorf("channel %s is inactive on this orderer (message from consenter %d dropped)", channel, from)
	}
	return c.chain.Step(ctx, m)
}
