package peer

import (
	"slices"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/protos"
)

// The puller and the gateway see the orderer endpoints of the configuration
// in force: a committed config block that changes them changes the list.
func TestOrdererEndpointsFollowTheConfig(t *testing.T) {
	t.Parallel()
	genesis, err := channelconfig.BundleFromBlock(fixtureBlock(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	orgs := genesis.Orderer().Orgs
	if len(orgs) == 0 {
		t.Fatal("fixture channel has no orderer organisation")
	}
	// with returns the genesis config with every orderer organisation's
	// Endpoints set to orgEps and /Channel/OrdererAddresses to global.
	with := func(orgEps, global []string) *channelconfig.Bundle {
		t.Helper()
		cfg := proto.Clone(genesis.Config()).(*cb.Config)
		og := cfg.ChannelGroup.Groups[channelconfig.OrdererGroupKey]
		for _, org := range orgs {
			g := og.Groups[org.Name]
			if orgEps == nil {
				delete(g.Values, channelconfig.EndpointsKey)
			} else {
				g.Values[channelconfig.EndpointsKey] = &cb.ConfigValue{Value: protos.Marshal(&cb.OrdererAddresses{Addresses: orgEps}), ModPolicy: "Admins"}
			}
		}
		cfg.ChannelGroup.Values[channelconfig.OrdererAddressesKey] = &cb.ConfigValue{Value: protos.Marshal(&cb.OrdererAddresses{Addresses: global}), ModPolicy: "/Channel/Orderer/Admins"}
		b, err := channelconfig.NewBundle(genesis.ChannelID(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ch := &channel{node: &Node{log: quietLog}, id: genesis.ChannelID()}
	steps := []struct {
		name   string
		bundle *channelconfig.Bundle
		want   []string
	}{
		{"genesis", genesis, genesis.Orderer().Endpoints},
		{"organisation endpoints win over the global addresses", with([]string{"o1:7050", "o2:8050"}, []string{"legacy:7050"}), []string{"o1:7050", "o2:8050"}},
		{"global addresses when no organisation lists any", with(nil, []string{"legacy:7050"}), []string{"legacy:7050"}},
		{"back to organisation endpoints", with([]string{"o3:9050"}, nil), []string{"o3:9050"}},
	}
	for _, s := range steps {
		ch.bundle.Store(s.bundle)
		eps := ch.ordererEndpoints()
		if got := addresses(eps); !slices.Equal(got, s.want) {
			t.Errorf("%s: endpoints %v, want %v", s.name, got, s.want)
		}
		for _, ep := range eps {
			if ep.TLSRoots == nil {
				t.Errorf("%s: endpoint %s has no TLS root CAs", s.name, ep.Address)
			}
		}
	}
}
