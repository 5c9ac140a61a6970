package deliver

import (
	"crypto/x509"
	"fmt"
	"sort"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/peer/acl"
)

// ChannelFromBundle builds the server's view of a channel: its block store and
// the event ACLs (event/Block, event/FilteredBlock) of its current config.
func ChannelFromBundle(b *channelconfig.Bundle, blocks BlockStore) (*Channel, error) {
	readers, err := b.Policy(acl.ChannelReaders)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", b.ChannelID(), err)
	}
	return &Channel{Blocks: blocks, Readers: readers, Sequence: b.Sequence(), ACL: BundleACL(b)}, nil
}

// BundleACL resolves the event ACLs of a channel config.
func BundleACL(b *channelconfig.Bundle) func(resource string) (string, Policy, error) {
	return func(resource string) (string, Policy, error) {
		path, pol, err := acl.Policy(b, resource)
		if err != nil {
			return path, nil, err
		}
		return path, pol, nil
	}
}

// OrdererEndpoints lists the orderer endpoints of a channel config for a
// Puller: each orderer organisation's endpoints with that organisation's TLS
// root CAs or, when no organisation lists any, the channel-wide addresses with
// all orderer organisations' TLS roots.
func OrdererEndpoints(b *channelconfig.Bundle) []Endpoint {
	ord := b.Orderer()
	if ord == nil {
		return nil
	}
	ids := make([]string, 0, len(ord.Orgs))
	for id := range ord.Orgs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []Endpoint
	all := x509.NewCertPool()
	for _, id := range ids {
		org := ord.Orgs[id]
		m, ok := b.MSPs().MSP(org.MSPID)
		if !ok {
			continue
		}
		for _, c := range append(append([][]byte{}, m.Config().GetTlsRootCerts()...), m.Config().GetTlsIntermediateCerts()...) {
			all.AppendCertsFromPEM(c)
		}
		for _, addr := range org.OrdererEndpoints {
			out = append(out, Endpoint{Address: addr, TLSRoots: m.TLSRootCAs()})
		}
	}
	if len(out) == 0 {
		for _, addr := range ord.Endpoints {
			out = append(out, Endpoint{Address: addr, TLSRoots: all})
		}
	}
	return out
}
