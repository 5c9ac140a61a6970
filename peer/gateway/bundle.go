package gateway

import (
	"crypto/x509"
	"fmt"
	"sort"

	"github.com/weft-ledger/weft/channelconfig"
)

// ChannelFromBundle builds the gateway's view of a channel from its current
// config bundle and block store: Readers is /Channel/Application/Readers; each
// application organisation is reached through its anchor peers, verified with
// its MSP's TLS root CAs; each orderer organisation's endpoints are verified
// with that organisation's TLS root CAs (the channel-wide orderer addresses,
// when no organisation lists endpoints, with all orderer organisations' roots).
func ChannelFromBundle(b *channelconfig.Bundle, ledger BlockReader) (*Channel, error) {
	readers, err := b.Policy("/Channel/Application/Readers")
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", b.ChannelID(), err)
	}
	ch := &Channel{Ledger: ledger, Readers: readers, Config: b.Config()}
	if app := b.Application(); app != nil {
		for _, id := range sortedMapKeys(app.Orgs) {
			org := app.Orgs[id]
			ch.Orgs = append(ch.Orgs, Org{MSPID: org.MSPID, Endpoints: org.AnchorPeers, TLSRoots: tlsRoots(b, org.MSPID)})
		}
	}
	if ord := b.Orderer(); ord != nil {
		all := x509.NewCertPool()
		listed := false
		for _, id := range sortedMapKeys(ord.Orgs) {
			org := ord.Orgs[id]
			roots := tlsRoots(b, org.MSPID)
			if m, ok := b.MSPs().MSP(org.MSPID); ok {
				for _, pemCert := range append(append([][]byte{}, m.Config().GetTlsRootCerts()...), m.Config().GetTlsIntermediateCerts()...) {
					all.AppendCertsFromPEM(pemCert)
				}
			}
			for _, addr := range org.OrdererEndpoints {
				listed = true
				ch.Orderers = append(ch.Orderers, Orderer{Address: addr, MSPID: org.MSPID, TLSRoots: roots})
			}
		}
		if !listed {
			for _, addr := range ord.Endpoints {
				ch.Orderers = append(ch.Orderers, Orderer{Address: addr, TLSRoots: all})
			}
		}
	}
	return ch, nil
}

func tlsRoots(b *channelconfig.Bundle, mspID string) *x509.CertPool {
	if m, ok := b.MSPs().MSP(mspID); ok {
		return m.TLSRootCAs()
	}
	return nil
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
