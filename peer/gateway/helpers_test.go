package gateway

import (
	"net"
	"os"
	"testing"

	"github.com/weft-ledger/weft/internal/testnet"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

// devnet is the crypto material of the devnet organisations (OrdererMSP,
// Org1MSP, Org2MSP), generated once per test binary from the Fabric
// fixture's crypto-config.yaml, with sampleconfig/configtx.yaml next to it.
func devnet(t *testing.T) *testnet.Net {
	t.Helper()
	return testnet.Load(t, testnet.Spec{Crypto: testnet.Fixture, ConfigTx: testnet.Sample})
}

// listen opens a loopback listener closed at the end of the test.
func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	return lis
}
