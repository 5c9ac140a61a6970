package peer

import (
	"fmt"
	"runtime/debug"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/statedb"
)

// CouchDB indexes from chaincode packages. `_lifecycle` owns the rule (which
// installed package runs which committed definition) and the bookkeeping
// (lifecycle.SyncIndexes); the peer supplies each channel's state database
// and the moments to look:
//
//   - a package is installed: InstallChaincode syncs every joined channel;
//   - a block writing `_lifecycle` (a commit, an upgrade, this
//     organisation's approval of the committed definition) is applied to
//     the state: the commit path syncs the channel before publishing the
//     block (commit.go), so a client that sees the commit can use the index;
//   - a channel opens (joined, or reopened at start): its run loop syncs it
//     before pulling blocks (channel.go).
//
// All syncs of a channel but the install's run on the channel's commit
// goroutine; lifecycle serialises them with installs. On LevelDB nothing
// happens: it keeps no indexes.

// IndexCreator returns the state database of a joined channel when it keeps
// indexes (lifecycle.IndexCreators; lifecycle finds it on its Joined).
func (a lifecycleChannels) IndexCreator(id string) (statedb.IndexCreator, bool) {
	ch, err := a.n.channel(id)
	if err != nil {
		return nil, false
	}
	return stateIndexCreator(ch.ledger)
}

// stateIndexCreator finds statedb.IndexCreator on the ledger's state as it
// is used (a wrapper may add it, as tests do) or else as it was opened (a
// wrapper hides it).
func stateIndexCreator(l *ledger.Ledger) (statedb.IndexCreator, bool) {
	if ic, ok := l.State().(statedb.IndexCreator); ok {
		return ic, true
	}
	ic, ok := l.StateBackend().(statedb.IndexCreator)
	return ic, ok
}

// syncIndexes creates the indexes of the chaincodes committed on the
// channel whose packages are installed and whose indexes this run of the
// peer has not created yet; failures are logged by lifecycle. A peer runs
// without its indexes, as Fabric's does, so even a panic here (a bug met by
// a package) is logged rather than allowed to stop the channel's commits.
func (c *channel) syncIndexes() {
	defer func() {
		if r := recover(); r != nil {
			c.node.log.Error("creating the chaincodes' indexes panicked; the channel goes on without them", "channel", c.id,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	c.node.lifecycle.SyncIndexes(c.id)
}
