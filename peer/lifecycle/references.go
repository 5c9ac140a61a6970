package lifecycle

import (
	"fmt"
	"sort"

	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/statedb"
)

// JoinedChannels gives `_lifecycle` the channels this peer has joined and the
// committed state of each, so the installed-package queries can report which
// chaincode definitions use a package (their References).
type JoinedChannels interface {
	// JoinedChannelIDs returns the IDs of the channels the peer has joined.
	JoinedChannelIDs() []string
	// CommittedState returns the committed world state of a joined channel:
	// the public `_lifecycle` keys and this peer's private data, which holds
	// its organisation's approvals.
	CommittedState(channelID string) (CommittedDB, error)
}

// CommittedDB reads a channel's committed state; statedb.DB satisfies it.
// Private data of collection coll in namespace ns lives in namespace
// ns+"$$p"+coll, as DBState reads it.
type CommittedDB interface {
	VersionedGetter
	GetRange(ns, startKey, endKey string) (statedb.Iterator, error)
}

// chaincodeRef is a chaincode definition that uses an installed package.
type chaincodeRef struct{ name, version string }

// packageRefs maps a package ID to channel → definitions using it.
type packageRefs map[string]map[string][]chaincodeRef

// references finds, on every joined channel, the committed chaincode
// definitions that use an installed package. As in Fabric, a definition uses
// package P when this organisation approved exactly the committed definition
// at its committed sequence, with P as the approval's local package.
// Definitions approved but not committed, or committed with parameters this
// organisation did not approve, use no package.
func (l *Lifecycle) references() (packageRefs, error) {
	out := packageRefs{}
	if l.joined == nil {
		return out, nil
	}
	for _, ch := range l.joined.JoinedChannelIDs() {
		db, err := l.joined.CommittedState(ch)
		if err != nil {
			return nil, fmt.Errorf("could not read the chaincode definitions of channel %s to find which use the installed packages: %w", ch, err)
		}
		if err := l.channelReferences(ch, db, out); err != nil {
			return nil, fmt.Errorf("could not read the chaincode definitions of channel %s to find which use the installed packages: %w", ch, err)
		}
	}
	return out, nil
}

func (l *Lifecycle) channelReferences(channel string, db CommittedDB, out packageRefs) error {
	defs, err := l.runnableDefinitions(db)
	if err != nil {
		return err
	}
	for _, r := range defs {
		if out[r.packageID] == nil {
			out[r.packageID] = map[string][]chaincodeRef{}
		}
		out[r.packageID][channel] = append(out[r.packageID][channel], chaincodeRef{name: r.name, version: r.def.EndorsementInfo.GetVersion()})
	}
	return nil
}

// runnable is a committed chaincode definition and the package this
// organisation approved for it.
type runnable struct {
	name      string
	def       *chaincodeDefinition
	packageID string
}

// runnableDefinitions returns, sorted by name, the definitions committed in
// db that use a package on this peer: by Fabric's rule, those for which this
// organisation approved exactly the committed parameters at the committed
// sequence, with a package (whether or not that package is installed).
func (l *Lifecycle) runnableDefinitions(db CommittedDB) ([]runnable, error) {
	it, err := db.GetRange(Namespace, definitionsStart, definitionsEnd)
	if err != nil {
		return nil, fmt.Errorf("could not query namespace metadata: %w", err)
	}
	names, err := definitionNames(it)
	if err != nil {
		return nil, err
	}
	state := DBState{DB: db}
	pub := nsReader{Namespace, state}
	coll := ImplicitCollection(l.localMSP.ID())
	org := privReader{coll, state}
	var out []runnable
	for _, name := range names {
		cd, ok, err := readDefinition(name, pub)
		if err != nil {
			return nil, fmt.Errorf("chaincode %s: %w", name, err)
		}
		if !ok {
			continue
		}
		priv := fmt.Sprintf("%s#%d", name, cd.Sequence)
		approved, err := isSerialized(namespacesPrefix, priv, cd.parameters(), plainHashes{org, coll})
		if err == nil && !approved {
			// Another peer of the organisation endorsed the approval:
			// this one holds its hashes only.
			approved, err = isSerialized(namespacesPrefix, priv, cd.parameters(), hashReader{coll, state})
		}
		if err != nil {
			return nil, fmt.Errorf("chaincode %s: %w", name, err)
		}
		if !approved {
			continue
		}
		md, ok, err := readMetadata(sourcesPrefix, priv, org)
		if err != nil {
			return nil, fmt.Errorf("chaincode %s: %w", name, err)
		}
		var id string
		switch {
		case ok && md.Datatype == typeLocalPackage:
			if id, err = readString(sourcesPrefix, priv, "PackageID", org); err != nil {
				return nil, fmt.Errorf("chaincode %s: %w", name, err)
			}
		case !ok:
			// Matched by hash among the packages installed here.
			if id, _, err = l.approvedByHash(state, name, cd.Sequence); err != nil {
				return nil, fmt.Errorf("chaincode %s: %w", name, err)
			}
		}
		if id == "" {
			continue // approved without a package, or with none installed here
		}
		out = append(out, runnable{name: name, def: cd, packageID: id})
	}
	return out, nil
}

// plainHashes serves hashes of this organisation's own private values, so
// its approvals are compared exactly as other organisations' are.
type plainHashes struct {
	r    readState
	coll string
}

func (p plainHashes) GetStateHash(key string) ([]byte, error) {
	v, err := p.r.GetState(key)
	if err != nil || v == nil {
		return nil, err
	}
	return sha256Of(v), nil
}

func (p plainHashes) Collection() string { return p.coll }

// The range of `_lifecycle` keys holding the metadata of committed
// definitions ('0' follows '/').
const (
	definitionsStart = namespacesPrefix + "/metadata/"
	definitionsEnd   = namespacesPrefix + "/metadata0"
)

// definitionNames returns, sorted, the names whose metadata in it (a scan of
// definitionsStart..definitionsEnd) is a committed chaincode definition. It
// closes it.
func definitionNames(it statedb.Iterator) ([]string, error) {
	defer it.Close()
	var names []string
	for {
		kv, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("could not query namespace metadata: %w", err)
		}
		if kv == nil {
			break
		}
		md := &lb.StateMetadata{}
		if err := proto.Unmarshal(kv.Value, md); err != nil {
			return nil, fmt.Errorf("error unmarshalling metadata for key %s: %w", kv.Key, err)
		}
		if md.Datatype == typeDefinition {
			names = append(names, kv.Key[len(definitionsStart):])
		}
	}
	sort.Strings(names)
	return names, nil
}

func (r packageRefs) installedResult(packageID string) map[string]*lb.QueryInstalledChaincodeResult_References {
	out := map[string]*lb.QueryInstalledChaincodeResult_References{}
	for ch, refs := range r[packageID] {
		cc := make([]*lb.QueryInstalledChaincodeResult_Chaincode, len(refs))
		for i, ref := range refs {
			cc[i] = &lb.QueryInstalledChaincodeResult_Chaincode{Name: ref.name, Version: ref.version}
		}
		out[ch] = &lb.QueryInstalledChaincodeResult_References{Chaincodes: cc}
	}
	return out
}

func (r packageRefs) installedListResult(packageID string) map[string]*lb.QueryInstalledChaincodesResult_References {
	out := map[string]*lb.QueryInstalledChaincodesResult_References{}
	for ch, refs := range r[packageID] {
		cc := make([]*lb.QueryInstalledChaincodesResult_Chaincode, len(refs))
		for i, ref := range refs {
			cc[i] = &lb.QueryInstalledChaincodesResult_Chaincode{Name: ref.name, Version: ref.version}
		}
		out[ch] = &lb.QueryInstalledChaincodesResult_References{Chaincodes: cc}
	}
	return out
}

// Runnable is a chaincode this peer can run on a channel: its organisation
// approved the committed definition with a package that is installed here.
type Runnable struct {
	Name      string
	Sequence  int64
	PackageID string
}

// RunnableChaincodes lists, sorted by name, the chaincodes of the channel
// whose state db holds that this peer can run (approved by its organisation,
// by value or by hash, and installed), as gossip publishes them in state
// info and service discovery counts them.
func (l *Lifecycle) RunnableChaincodes(db CommittedDB) ([]Runnable, error) {
	defs, err := l.runnableDefinitions(db)
	if err != nil {
		return nil, err
	}
	var out []Runnable
	for _, r := range defs {
		if !l.store.has(r.packageID) {
			continue // approved, not installed here
		}
		out = append(out, Runnable{Name: r.name, Sequence: r.def.Sequence, PackageID: r.packageID})
	}
	return out, nil
}
