package couchdb

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/weft-ledger/weft/internal/couchtest"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
)

// shared is the CouchDB-backed network the package's tests share, started
// by the first test that asks for it (a TestMain cannot skip with
// couchtest's message) and stopped by TestMain.
var shared struct {
	once    sync.Once
	running *devnettest.Running
	url     string // the CouchDB server
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if r := shared.running; r != nil {
		r.Stop(code != 0)
		// The server is shared: leave it as it was.
		if err := devnet.DropDatabases(context.Background(), r.Config()); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// network returns the shared network, starting it on first use; it skips
// the test when WEFT_TEST_COUCHDB_URL is unset.
func network(t *testing.T) *devnet.Network {
	t.Helper()
	server := couchtest.URL(t)
	if testing.Short() {
		t.Skip("starts a whole network on CouchDB")
	}
	shared.once.Do(func() {
		shared.url = server
		shared.running, shared.err = devnettest.Start(context.Background(), devnettest.Options{
			CouchDB: []string{server}, DatabasePrefix: couchtest.Prefix(t), NoRESTGateway: true,
		})
	})
	if shared.err != nil {
		t.Fatalf("start a development network on CouchDB: %v", shared.err)
	}
	return shared.running.Network
}

// peerDatabase is the URL of the CouchDB database where the peer of org
// keeps the state of chaincode on the network's channel, as Fabric names it
// (<channel>_<chaincode>), after the peer's prefix; the server's URL keeps
// the credentials WEFT_TEST_COUCHDB_URL gives.
func peerDatabase(t *testing.T, n *devnet.Network, org devnet.Org, chaincode string) string {
	t.Helper()
	states, err := n.Config().PeerStates()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.Peer == org.Peer {
			if s.Database != "CouchDB" {
				t.Fatalf("%s keeps its state in %s, want CouchDB", org.Peer, s.Database)
			}
			return shared.url + "/" + url.PathEscape(s.Prefix+devnet.ChannelID+"_"+chaincode)
		}
	}
	t.Fatalf("no state database for %s", org.Peer)
	return ""
}
