package lifecycle

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testlog"
	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/mango"
)

// recordingIndexes is the joined channels' state databases as far as indexes
// go: it records every index created, as "channel namespace file".
type recordingIndexes struct {
	mu      sync.Mutex
	created []string
	// fail, when set, makes CreateIndexes fail with it.
	fail error
	// leveldb lists the channels whose state keeps no indexes.
	leveldb map[string]bool
	// asked counts IndexCreator calls per channel.
	asked map[string]int
}

func newRecordingIndexes() *recordingIndexes {
	return &recordingIndexes{leveldb: map[string]bool{}, asked: map[string]int{}}
}

func (r *recordingIndexes) IndexCreator(channel string) (statedb.IndexCreator, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked[channel]++
	if r.leveldb[channel] {
		return nil, false
	}
	return channelIndexCreator{r, channel}, true
}

// take returns, sorted, the indexes created since the last take.
func (r *recordingIndexes) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.created
	r.created = nil
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func (r *recordingIndexes) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

type channelIndexCreator struct {
	r       *recordingIndexes
	channel string
}

func (c channelIndexCreator) CheckIndex(ix statedb.Index) error {
	return mango.CheckIndex(ix.Name, ix.Definition)
}

func (c channelIndexCreator) CreateIndexes(ns string, ixs []statedb.Index) error {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if c.r.fail != nil {
		return c.r.fail
	}
	for _, ix := range ixs {
		c.r.created = append(c.r.created, c.channel+" "+ns+" "+ix.Name)
	}
	return nil
}

// indexPeer is a refsPeer whose joined channels keep indexes.
type indexPeer struct {
	*refsPeer
	ixs *recordingIndexes
	log *testlog.Buffer
	dir string
}

func newIndexPeer(t *testing.T, mspID string, channels ...string) *indexPeer {
	t.Helper()
	p := &indexPeer{refsPeer: newRefsPeer(t, mspID, channels...), ixs: newRecordingIndexes(), log: &testlog.Buffer{}, dir: t.TempDir()}
	p.restart(t)
	return p
}

// restart replaces the peer's Lifecycle with a new one over the same
// packages and channel states, as a peer restart does.
func (p *indexPeer) restart(t *testing.T) {
	t.Helper()
	lc, err := New(Config{
		PackageDir: p.dir,
		LocalMSP:   p.lc.localMSP,
		Channels:   p.lc.channels,
		Joined:     p.joined,
		Indexes:    p.ixs,
		Logger:     slog.New(slog.NewTextHandler(p.log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.lc = lc
}

// installCode installs a package of code and returns its ID.
func (p *indexPeer) installCode(label string, code []byte) string {
	p.t.Helper()
	pkg := installPackage(p.t, `{"type":"ccaas","label":"`+label+`"}`, code)
	resp := p.local(FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg})
	if resp.Status != 200 {
		p.t.Fatalf("install %s: %d %s", label, resp.Status, resp.Message)
	}
	return PackageID(label, pkg)
}

// marblesCode carries an index of the chaincode and one of collection
// collectionMarbles.
func marblesCode(t *testing.T) []byte {
	return tarGz(t,
		file{"connection.json", `{"address":"marbles:9999"}`},
		file{"META-INF/statedb/couchdb/indexes/indexOwner.json", ownerIndex},
		file{"META-INF/statedb/couchdb/collections/collectionMarbles/indexes/indexCollMarbles.json", collIndex},
	)
}

const (
	ownerFile = "META-INF/statedb/couchdb/indexes/indexOwner.json"
	collFile  = "META-INF/statedb/couchdb/collections/collectionMarbles/indexes/indexCollMarbles.json"
)

func marblesCollections(t *testing.T, names ...string) *pb.CollectionConfigPackage {
	t.Helper()
	pol, err := channelconfig.ParsePolicyDSL("OR('Org1MSP.member','Org2MSP.member')")
	if err != nil {
		t.Fatal(err)
	}
	out := &pb.CollectionConfigPackage{}
	for _, n := range names {
		out.Config = append(out.Config, &pb.CollectionConfig{Payload: &pb.CollectionConfig_StaticCollectionConfig{StaticCollectionConfig: &pb.StaticCollectionConfig{
			Name: n, MemberOrgsPolicy: &pb.CollectionPolicyConfig{Payload: &pb.CollectionPolicyConfig_SignaturePolicy{SignaturePolicy: pol}},
			MaximumPeerCount: 1,
		}}})
	}
	return out
}

// deploy approves (by both organisations, Org1 with pkg) and commits a
// definition of name on channel.
func deploy(org1, org2 *indexPeer, channel, name string, seq int64, pkg string, colls *pb.CollectionConfigPackage) {
	a := approveVersion(name, "1.0", seq, pkg)
	a.Collections = colls
	org1.do(channel, FuncApproveChaincodeDefinitionForMyOrg, a, org2.refsPeer)
	b := approveVersion(name, "1.0", seq, "")
	b.Collections = colls
	org2.do(channel, FuncApproveChaincodeDefinitionForMyOrg, b, org1.refsPeer)
	c := commitVersion(name, "1.0", seq)
	c.Collections = colls
	org1.do(channel, FuncCommitChaincodeDefinition, c, org2.refsPeer)
}

func wantCreated(t *testing.T, p *indexPeer, step string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	sort.Strings(want)
	if got := p.ixs.take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: created %q, want %q\nlog:\n%s", step, got, want, p.log.String())
	}
}

// Trigger (a): a package installed after its definition was committed has
// its indexes created on every joined channel where a committed definition
// runs it, in the chaincode's namespace and in <cc>$$p<collection>.
func TestIndexesCreatedWhenPackageInstalled(t *testing.T) {
	org1 := newIndexPeer(t, "Org1MSP", "mychannel", "other", "third")
	org2 := newIndexPeer(t, "Org2MSP", "mychannel", "other", "third")
	code := marblesCode(t)
	pkg := installPackage(t, `{"type":"ccaas","label":"marbles_1"}`, code)
	id := PackageID("marbles_1", pkg)

	deploy(org1, org2, "mychannel", "marbles", 1, id, marblesCollections(t, "collectionMarbles"))
	deploy(org1, org2, "other", "marbles", 1, id, marblesCollections(t, "collectionMarbles"))
	// On "third" Org1 approved another package: that definition does not
	// run this one.
	deploy(org1, org2, "third", "marbles", 1, "marbles_0:"+strings.Repeat("ab", 32), nil)
	for _, ch := range []string{"mychannel", "other", "third"} {
		org1.lc.SyncIndexes(ch) // as the peer does after each commit
	}
	wantCreated(t, org1, "committed, not installed")

	if got := org1.installCode("marbles_1", code); got != id {
		t.Fatalf("package ID %s, want %s", got, id)
	}
	wantCreated(t, org1, "installed",
		"mychannel marbles "+ownerFile, "mychannel marbles$$pcollectionMarbles "+collFile,
		"other marbles "+ownerFile, "other marbles$$pcollectionMarbles "+collFile)
	if !strings.Contains(org1.log.String(), "created the chaincode's indexes") {
		t.Errorf("no log line for the created indexes:\n%s", org1.log.String())
	}
	// Org2 approved no package: installing it there creates nothing.
	org2.installCode("marbles_1", code)
	wantCreated(t, org2, "installed on Org2's peer")
}

// Trigger (b): committing (or upgrading) a definition whose package is
// installed creates its indexes, once per definition and package.
func TestIndexesCreatedWhenDefinitionCommitted(t *testing.T) {
	org1 := newIndexPeer(t, "Org1MSP", "mychannel")
	org2 := newIndexPeer(t, "Org2MSP", "mychannel")
	id := org1.installCode("marbles_1", marblesCode(t))
	wantCreated(t, org1, "installed, nothing committed")

	// Approved only: nothing.
	a := approveVersion("marbles", "1.0", 1, id)
	org1.do("mychannel", FuncApproveChaincodeDefinitionForMyOrg, a, org2.refsPeer)
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "approved, not committed")

	// Committed without collections: the chaincode's index; the collection's
	// is logged, as Fabric does, since the definition defines no such
	// collection.
	org2.do("mychannel", FuncApproveChaincodeDefinitionForMyOrg, approveVersion("marbles", "1.0", 1, ""), org1.refsPeer)
	org1.do("mychannel", FuncCommitChaincodeDefinition, commitVersion("marbles", "1.0", 1), org2.refsPeer)
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "committed", "mychannel marbles "+ownerFile)
	logged := org1.log.String()
	if !strings.Contains(logged, "cannot create an index for a collection the chaincode definition does not define") ||
		!strings.Contains(logged, "collection=collectionMarbles") || !strings.Contains(logged, "file="+collFile) || !strings.Contains(logged, "chaincode=marbles") {
		t.Errorf("the undefined collection's index is not logged with the collection, file and chaincode:\n%s", logged)
	}

	// Another commit on the channel (of anything) finds nothing new.
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "synced again")

	// The upgrade to sequence 2 adds the collection: both indexes again.
	deploy(org1, org2, "mychannel", "marbles", 2, id, marblesCollections(t, "collectionMarbles"))
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "upgraded", "mychannel marbles "+ownerFile, "mychannel marbles$$pcollectionMarbles "+collFile)
}

// An organisation that approves the committed definition after it was
// committed (as Fabric allows) then runs its package: the commit of that
// approval creates the indexes.
func TestIndexesCreatedWhenApprovedAfterCommit(t *testing.T) {
	org1 := newIndexPeer(t, "Org1MSP", "mychannel")
	org2 := newIndexPeer(t, "Org2MSP", "mychannel")
	id := org1.installCode("marbles_1", marblesCode(t))
	org2.do("mychannel", FuncApproveChaincodeDefinitionForMyOrg, approveVersion("marbles", "1.0", 1, ""), org1.refsPeer)
	org2.do("mychannel", FuncCommitChaincodeDefinition, commitVersion("marbles", "1.0", 1), org1.refsPeer)
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "committed without Org1's approval")

	org1.do("mychannel", FuncApproveChaincodeDefinitionForMyOrg, approveVersion("marbles", "1.0", 1, id), org2.refsPeer)
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "approved after the commit", "mychannel marbles "+ownerFile)
}

// Trigger (c): when the peer opens a channel (joins it, or restarts), the
// indexes of the definitions committed there and installed are created;
// creating them again is harmless.
func TestIndexesCreatedWhenChannelOpened(t *testing.T) {
	org1 := newIndexPeer(t, "Org1MSP", "mychannel")
	org2 := newIndexPeer(t, "Org2MSP", "mychannel")
	id := org1.installCode("marbles_1", marblesCode(t))
	deploy(org1, org2, "mychannel", "marbles", 1, id, marblesCollections(t, "collectionMarbles"))
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "committed", "mychannel marbles "+ownerFile, "mychannel marbles$$pcollectionMarbles "+collFile)

	org1.restart(t)
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "reopened after a restart", "mychannel marbles "+ownerFile, "mychannel marbles$$pcollectionMarbles "+collFile)
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "synced again after the restart")
}

// A failure to create an index is logged with the chaincode, channel, file
// and cause, fails nothing, and is retried at the next trigger.
func TestIndexCreationFailureIsLoggedAndRetried(t *testing.T) {
	org1 := newIndexPeer(t, "Org1MSP", "mychannel")
	org2 := newIndexPeer(t, "Org2MSP", "mychannel")
	org1.ixs.setFail(errors.New("couchdb: connection refused"))
	id := org1.installCode("marbles_1", marblesCode(t)) // the install succeeds
	deploy(org1, org2, "mychannel", "marbles", 1, id, nil)
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "state database down")
	logged := org1.log.String()
	for _, w := range []string{"could not create index", "channel=mychannel", "chaincode=marbles", "file=" + ownerFile, "couchdb: connection refused"} {
		if !strings.Contains(logged, w) {
			t.Errorf("the failure's log line lacks %q:\n%s", w, logged)
		}
	}
	org1.ixs.setFail(nil)
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "state database back", "mychannel marbles "+ownerFile)
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "synced again")
}

// A channel whose state keeps no indexes (LevelDB) is left alone: its state
// is not even read.
func TestNoIndexesOnLevelDB(t *testing.T) {
	org1 := newIndexPeer(t, "Org1MSP", "mychannel", "couch")
	org2 := newIndexPeer(t, "Org2MSP", "mychannel", "couch")
	org1.ixs.leveldb["mychannel"] = true
	code := marblesCode(t)
	id := PackageID("marbles_1", installPackage(t, `{"type":"ccaas","label":"marbles_1"}`, code))
	deploy(org1, org2, "mychannel", "marbles", 1, id, nil)
	deploy(org1, org2, "couch", "marbles", 1, id, nil)
	org1.joined.fail["mychannel"] = errors.New("must not be read")
	org1.installCode("marbles_1", code)
	org1.lc.SyncIndexes("mychannel")
	wantCreated(t, org1, "installed", "couch marbles "+ownerFile)
	if strings.Contains(org1.log.String(), "must not be read") {
		t.Errorf("the LevelDB channel's state was read:\n%s", org1.log.String())
	}

	// Without Config.Indexes nothing is created nor asked.
	org1.lc.indexes = nil
	org1.lc.SyncIndexes("couch")
	if n := org1.ixs.asked["couch"]; n != 1 {
		t.Errorf("IndexCreator asked %d times for couch, want 1 (the install)", n)
	}
}

// Installs and commits racing on one channel create each definition's
// indexes, without a data race.
func TestIndexSyncConcurrent(t *testing.T) {
	org1 := newIndexPeer(t, "Org1MSP", "mychannel")
	org2 := newIndexPeer(t, "Org2MSP", "mychannel")
	var ids []string
	var codes [][]byte
	for i := range 4 {
		code := tarGz(t, file{"connection.json", fmt.Sprint(i)}, file{"META-INF/statedb/couchdb/indexes/indexOwner.json", ownerIndex})
		codes = append(codes, code)
		ids = append(ids, PackageID(fmt.Sprintf("cc%d_1", i), installPackage(t, fmt.Sprintf(`{"type":"ccaas","label":"cc%d_1"}`, i), code)))
		deploy(org1, org2, "mychannel", fmt.Sprintf("cc%d", i), 1, ids[i], nil)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			org1.installCode(fmt.Sprintf("cc%d_1", i), codes[i])
		}()
		go func() {
			defer wg.Done()
			org1.lc.SyncIndexes("mychannel")
		}()
	}
	wg.Wait()
	org1.lc.SyncIndexes("mychannel")
	got := map[string]bool{}
	for _, c := range org1.ixs.take() {
		got[c] = true
	}
	for i := range 4 {
		if w := fmt.Sprintf("mychannel cc%d %s", i, ownerFile); !got[w] {
			t.Errorf("%q not created; created %v", w, got)
		}
	}
}
