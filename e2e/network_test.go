package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
)

// network is the network every test of this package shares; TestMain starts it.
var network *devnet.Network

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	r, err := devnettest.Start(context.Background(), devnettest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	network = r.Network
	code := m.Run()
	// TestRestartFromLedgers replaces the network with the one it started
	// again on the same folder: stop that one.
	r.Network = network
	r.Stop(code != 0)
	return code
}

// gatewayFor connects Fabric's official gateway client to the peer of org as
// user, exactly as an application written for Fabric's test-network does,
// and returns it with the network's basic chaincode.
func gatewayFor(t *testing.T, org devnet.Org, user string) (*client.Gateway, *client.Contract) {
	t.Helper()
	gw := devnettest.Gateway(t, network, org, user)
	return gw, gw.GetNetwork(devnet.ChannelID).GetContract(devnet.ChaincodeName)
}

// dialPeer returns a Weft protocol-client connection to the peer of org.
func dialPeer(t *testing.T, org devnet.Org) *grpc.ClientConn {
	t.Helper()
	return devnettest.DialPeer(t, network, org)
}

func dialOrderer(t *testing.T) *grpc.ClientConn {
	t.Helper()
	return devnettest.DialOrderer(t, network)
}
