package lifecycle

import (
	"errors"
	"sort"
	"sync"

	"github.com/weft-ledger/weft/statedb"
)

// IndexCreators gives `_lifecycle` the state databases of the joined
// channels that keep indexes.
type IndexCreators interface {
	// IndexCreator returns the state database of a joined channel as a
	// statedb.IndexCreator; ok is false when it keeps no indexes (LevelDB)
	// or the channel is not joined, and then nothing is created there.
	IndexCreator(channelID string) (ix statedb.IndexCreator, ok bool)
}

// SyncIndexes creates, in the state database of channelID, the CouchDB
// indexes of every chaincode definition committed there whose package is
// installed on this peer: the package this organisation approved for exactly
// the committed definition, at its sequence (the rule of References, and
// Fabric's). A package's META-INF/statedb/couchdb/indexes/ go to the
// chaincode's namespace, and .../collections/<c>/indexes/ to <name>$$p<c>
// when the definition defines collection c (Fabric logs and skips the
// others).
//
// The peer calls it when a channel is opened (joined, or reopened at start),
// after a block that writes `_lifecycle` is applied to the state, and
// InstallChaincode calls it for every joined channel once a package is
// saved. Each (definition sequence, package) is created once per channel
// while the peer runs; a trigger that finds nothing new creates nothing, and
// creating an index that exists changes nothing, so a restart creates them
// all again harmlessly.
//
// Failures are logged with the channel, chaincode, package, file and cause
// and never returned: as in Fabric, a peer commits and endorses without its
// indexes. A definition whose indexes could not all be created is tried
// again at the next trigger. Nothing happens on a channel whose state
// database keeps no indexes, or without Config.Indexes and Config.Joined.
func (l *Lifecycle) SyncIndexes(channelID string) {
	if l.indexes == nil || l.joined == nil {
		return
	}
	creator, ok := l.indexes.IndexCreator(channelID)
	if !ok || creator == nil {
		return
	}
	done := l.created.channel(channelID)
	done.mu.Lock()
	defer done.mu.Unlock()
	db, err := l.joined.CommittedState(channelID)
	if err != nil {
		l.log.Error("could not read the chaincode definitions to create their indexes", "channel", channelID, "err", err)
		return
	}
	defs, err := l.runnableDefinitions(db)
	if err != nil {
		l.log.Error("could not read the chaincode definitions to create their indexes", "channel", channelID, "err", err)
		return
	}
	for _, r := range defs {
		key := deployment{sequence: r.def.Sequence, packageID: r.packageID}
		if done.last[r.name] == key {
			continue
		}
		if l.createIndexes(channelID, creator, r) {
			done.last[r.name] = key
		}
	}
}

// syncAllIndexes is SyncIndexes on every joined channel.
func (l *Lifecycle) syncAllIndexes() {
	if l.indexes == nil || l.joined == nil {
		return
	}
	for _, ch := range l.joined.JoinedChannelIDs() {
		l.SyncIndexes(ch)
	}
}

// createIndexes creates the indexes of r's package on channelID and reports
// whether it is finished with r: false when the package is not installed
// (its install will trigger again) or an index could not be created (the
// next trigger retries); true when everything that can be created was,
// including when the package or a definition is at fault, which retrying
// cannot fix.
func (l *Lifecycle) createIndexes(channelID string, creator statedb.IndexCreator, r runnable) bool {
	log := l.log.With("channel", channelID, "chaincode", r.name, "sequence", r.def.Sequence, "package_id", r.packageID)
	raw, err := l.store.load(r.packageID)
	if errors.Is(err, ErrPackageNotFound) {
		return false
	}
	if err != nil {
		log.Error("could not read the installed package to create its indexes", "err", err)
		return false
	}
	_, code, err := l.limits.Split(raw)
	var ixs *PackageIndexes
	if err == nil {
		ixs, err = ReadIndexes(l.limits, code)
	}
	if err != nil {
		// Installed before its indexes were checked at install.
		log.Error("could not read the index definitions of the installed package; no index created", "err", err)
		return true
	}
	if ixs.Len() == 0 {
		return true
	}
	finished, created := true, 0
	create := func(ns string, ix statedb.Index) {
		if err := creator.CheckIndex(ix); err != nil {
			log.Error("the state database refuses the index definition; not created", "namespace", ns, "file", ix.Name, "err", err)
			return
		}
		if err := creator.CreateIndexes(ns, []statedb.Index{ix}); err != nil {
			log.Error("could not create index", "namespace", ns, "file", ix.Name, "err", err)
			finished = false
			return
		}
		created++
	}
	// One index per call, in file name order: every peer creates them in
	// the same order (two files may name the same index), and one that
	// fails does not keep the others from being created.
	for _, ix := range ixs.Chaincode {
		create(r.name, ix)
	}
	defined := map[string]bool{}
	for _, c := range r.def.Collections.GetConfig() {
		if s := c.GetStaticCollectionConfig(); s != nil {
			defined[s.GetName()] = true
		}
	}
	colls := make([]string, 0, len(ixs.Collections))
	for c := range ixs.Collections {
		colls = append(colls, c)
	}
	sort.Strings(colls)
	for _, c := range colls {
		if !defined[c] {
			for _, ix := range ixs.Collections[c] {
				log.Error("cannot create an index for a collection the chaincode definition does not define", "collection", c, "file", ix.Name)
			}
			continue
		}
		for _, ix := range ixs.Collections[c] {
			create(r.name+"$$p"+c, ix)
		}
	}
	log.Info("created the chaincode's indexes", "created", created, "in_package", ixs.Len())
	return finished
}

// deployment is a definition sequence and the package that runs it.
type deployment struct {
	sequence  int64
	packageID string
}

// createdIndexes remembers, per channel and chaincode, the deployment whose
// indexes were last created.
type createdIndexes struct {
	mu       sync.Mutex // guards channels
	channels map[string]*channelIndexes
}

type channelIndexes struct {
	// mu is held through a whole SyncIndexes of the channel, so syncs of
	// one channel (commit path, installs) run one at a time and last is
	// never set from a stale read.
	mu   sync.Mutex
	last map[string]deployment // by chaincode name
}

func (c *createdIndexes) channel(id string) *channelIndexes {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.channels == nil {
		c.channels = map[string]*channelIndexes{}
	}
	ch, ok := c.channels[id]
	if !ok {
		ch = &channelIndexes{last: map[string]deployment{}}
		c.channels[id] = ch
	}
	return ch
}
