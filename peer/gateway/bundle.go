package gateway

import (
	"crypto/x509"
	"fmt"
	"sort"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/peer/acl"
	"github.com/weft-ledger/weft/protos"
)

// ChannelFromBundle builds the gateway's view of a channel from its current
// config bundle and block store: ACL resolves the gateway resources of its
// ACLs (Readers, /Channel/Application/Readers, when they name none); each
// application organisation is reached through its anchor peers, verified with
// its MSP's TLS root CAs; each orderer organisation's endpoints are verified
// with that organisation's TLS root CAs (the channel-wide orderer addresses,
// when no organisation lists endpoints, with all orderer organisations' roots).
func ChannelFromBundle(b *channelconfig.Bundle, ledger BlockReader) (*Channel, error) {
	readers, err := b.Policy("/Channel/Application/Readers")
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", b.ChannelID(), err)
	}
	ch := &Channel{Ledger: ledger, Readers: readers, ACL: BundleACL(b), Config: b.Config()}
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

// BundleACL resolves the gateway ACLs (gateway/CommitStatus,
// gateway/ChaincodeEvents) of a channel config: its ACLs value, else
// Fabric's default (the channel's Readers).
func BundleACL(b *channelconfig.Bundle) func(resource string) (string, Policy, error) {
	return func(resource string) (string, Policy, error) {
		path, pol, err := acl.Policy(b, resource)
		if err != nil {
			return path, nil, err
		}
		return path, pol, nil
	}
}

// configSequence is the sequence of a channel config, 0 when there is none.
func configSequence(c *cb.Config) uint64 { return c.GetSequence() }

// newerConfig returns the config b carries when b is a config block whose
// sequence is above sequence, else nil.
func newerConfig(b *cb.Block, sequence uint64) *channelconfig.Bundle {
	if len(b.GetData().GetData()) != 1 {
		return nil
	}
	if chdr, err := protos.EnvelopeChannelHeader(b.Data.Data[0]); err != nil || cb.HeaderType(chdr.Type) != cb.HeaderType_CONFIG {
		return nil
	}
	if cfg, _, err := channelconfig.ConfigFromBlock(b); err != nil || cfg.GetSequence() <= sequence {
		return nil // an older config, replayed
	}
	bundle, err := channelconfig.BundleFromBlock(b)
	if err != nil {
		return nil
	}
	return bundle
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
