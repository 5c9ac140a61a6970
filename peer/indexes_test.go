package peer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	neturl "net/url"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/couchtest"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/mango"
)

// indexLog records the indexes created in a peer's channel states, as
// "namespace file".
type indexLog struct {
	mu      sync.Mutex
	created []string
}

// take returns, sorted, what was created since the last take.
func (l *indexLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.created
	l.created = nil
	sort.Strings(out)
	return out
}

// indexingState is a LevelDB state that keeps indexes: a hand-made
// statedb.IndexCreator over the channel's real state, installed through
// the ledgers' WrapState seam.
type indexingState struct {
	statedb.DB
	log *indexLog
}

func (s indexingState) CheckIndex(ix statedb.Index) error {
	return mango.CheckIndex(ix.Name, ix.Definition)
}

func (s indexingState) CreateIndexes(ns string, ixs []statedb.Index) error {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	for _, ix := range ixs {
		s.log.created = append(s.log.created, ns+" "+ix.Name)
	}
	return nil
}

func (l *indexLog) hooks() hooks {
	return hooks{wrapState: func(db statedb.DB) statedb.DB { return indexingState{DB: db, log: l} }}
}

// indexNet is an Org1 peer joined to mychannel, following a fake orderer to
// which the test adds blocks of lifecycle transactions it endorses itself.
type indexNet struct {
	tn      *testnet.Net
	genesis *cb.Block
	orderer *fakeOrderer
	signer  *msp.SigningIdentity // the orderer's
	node    *Node
	conn    *grpc.ClientConn
	ch      *channel
	org2    *lifecycle.Lifecycle
}

func (x *indexNet) admin(t *testing.T, mspID string) *msp.SigningIdentity {
	return x.tn.Admin(t, mspID)
}

// lifecycleTx runs a `_lifecycle` function as mspID's peer on the channel's
// committed state and returns the transaction endorsed by endorsers; an
// Org1 transaction's private writes are left in the peer's transient store,
// as its endorser leaves them.
func (x *indexNet) lifecycleTx(t *testing.T, mspID, fn string, arg proto.Message, endorsers ...*msp.SigningIdentity) []byte {
	t.Helper()
	args := [][]byte{[]byte(fn), protos.Marshal(arg)}
	client := x.admin(t, mspID)
	sp, _, err := protos.NewProposal(client, "mychannel", lifecycle.Namespace, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	lc := x.node.lifecycle
	if mspID != "Org1MSP" {
		lc = x.org2
	}
	txID := p.ChannelHeader.TxId
	sim := x.ch.ledger.NewSimulator(txID)
	resp := lc.Call(context.Background(), &lifecycle.Invocation{ChannelID: "mychannel", TxID: txID,
		Creator: p.SignatureHeader.Creator, Simulator: sim, SignedData: []protos.SignedData{p.SignedData()}}, &pb.ChaincodeInput{Args: args})
	sim.Done()
	if resp.Status != 200 {
		t.Fatalf("%s by %s: %d %s", fn, mspID, resp.Status, resp.Message)
	}
	pub, pvt, err := sim.Results()
	if err != nil {
		t.Fatal(err)
	}
	if mspID == "Org1MSP" && pvt != nil {
		if err := x.node.transient.Put("mychannel", txID, pvt); err != nil {
			t.Fatal(err)
		}
	}
	act := &pb.ChaincodeAction{Results: protos.Marshal(pub), Response: resp, ChaincodeId: &pb.ChaincodeID{Name: lifecycle.Namespace, Version: "syscc"}}
	prp := protos.Marshal(&pb.ProposalResponsePayload{ProposalHash: p.Hash(), Extension: protos.Marshal(act)})
	var responses []*pb.ProposalResponse
	for _, e := range endorsers {
		ser, err := e.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		sig, err := e.Sign(append(append([]byte{}, prp...), ser...))
		if err != nil {
			t.Fatal(err)
		}
		responses = append(responses, &pb.ProposalResponse{Response: &pb.Response{Status: 200}, Payload: prp, Endorsement: &pb.Endorsement{Endorser: ser, Signature: sig}})
	}
	payload, err := protos.NewTransaction(p, responses)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protos.SignEnvelope(payload, client)
	if err != nil {
		t.Fatal(err)
	}
	return protos.Marshal(env)
}

// commitBlock orders envs into the next block and waits until the peer has
// committed it (its indexes, if any, are created before that).
func (x *indexNet) commitBlock(t *testing.T, envs ...[]byte) {
	t.Helper()
	x.orderer.mu.Lock()
	prev := x.orderer.blocks[len(x.orderer.blocks)-1]
	x.orderer.mu.Unlock()
	b := signedBlock(t, x.signer, prev, envs)
	x.orderer.add(b)
	want := b.Header.Number + 1
	eventually.True(t, 10*time.Second, "the block committed", func() bool { return x.ch.committed.Height() >= want })
	flags := protos.TxFilter(b)
	got, err := x.ch.ledger.Blocks().Block(b.Header.Number)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range protos.TxFilter(got) {
		if pb.TxValidationCode(f) != pb.TxValidationCode_VALID {
			t.Fatalf("block %d tx %d: %s (flags before %v)", b.Header.Number, i, pb.TxValidationCode(f), flags)
		}
	}
}

// deploy approves (Org1 with packageID, Org2 without a package) and commits
// a definition, in two blocks.
func (x *indexNet) deploy(t *testing.T, name string, seq int64, packageID string, colls *pb.CollectionConfigPackage) {
	t.Helper()
	p1, p2 := x.tn.Signer(t, "peer0.org1.example.com"), x.tn.Signer(t, "peer0.org2.example.com")
	a1 := &lb.ApproveChaincodeDefinitionForMyOrgArgs{Sequence: seq, Name: name, Version: "1.0", Collections: colls,
		Source: &lb.ChaincodeSource{Type: &lb.ChaincodeSource_LocalPackage{LocalPackage: &lb.ChaincodeSource_Local{PackageId: packageID}}}}
	a2 := proto.Clone(a1).(*lb.ApproveChaincodeDefinitionForMyOrgArgs)
	a2.Source = &lb.ChaincodeSource{Type: &lb.ChaincodeSource_Unavailable_{Unavailable: &lb.ChaincodeSource_Unavailable{}}}
	x.commitBlock(t,
		x.lifecycleTx(t, "Org1MSP", lifecycle.FuncApproveChaincodeDefinitionForMyOrg, a1, p1),
		x.lifecycleTx(t, "Org2MSP", lifecycle.FuncApproveChaincodeDefinitionForMyOrg, a2, p2))
	c := &lb.CommitChaincodeDefinitionArgs{Sequence: seq, Name: name, Version: "1.0", Collections: colls}
	x.commitBlock(t, x.lifecycleTx(t, "Org1MSP", lifecycle.FuncCommitChaincodeDefinition, c, p1, p2))
}

// install installs pkg through the peer's endorser, as `peer lifecycle
// chaincode install` does.
func (x *indexNet) install(t *testing.T, pkg []byte) *pb.Response {
	t.Helper()
	return propose(t, x.conn, x.admin(t, "Org1MSP"), lifecycle.Namespace, []byte(lifecycle.FuncInstallChaincode),
		protos.Marshal(&lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg}))
}

func indexTarGz(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ccaasPackage is a CCaaS install package whose code.tar.gz holds
// connection.json and the given META-INF files.
func ccaasPackage(t *testing.T, label string, meta ...[2]string) []byte {
	t.Helper()
	code := indexTarGz(t, append([][2]string{{"connection.json", `{"address":"` + label + `:9999","dial_timeout":"10s"}`}}, meta...)...)
	return indexTarGz(t, [2]string{"metadata.json", `{"type":"ccaas","label":"` + label + `"}`}, [2]string{"code.tar.gz", string(code)})
}

const (
	peerOwnerIndex = `{"index":{"fields":["docType","owner"]},"ddoc":"indexOwnerDoc","name":"indexOwner","type":"json"}`
	peerOwnerFile  = "META-INF/statedb/couchdb/indexes/indexOwner.json"
	peerCollFile   = "META-INF/statedb/couchdb/collections/collectionMarbles/indexes/indexCollMarbles.json"
	peerCollIndex  = `{"index":{"fields":["owner"]},"ddoc":"indexCollMarblesDoc","name":"indexCollMarbles"}`
)

func marblesCollection(t *testing.T) *pb.CollectionConfigPackage {
	t.Helper()
	pol, err := channelconfig.ParsePolicyDSL("OR('Org1MSP.member','Org2MSP.member')")
	if err != nil {
		t.Fatal(err)
	}
	return &pb.CollectionConfigPackage{Config: []*pb.CollectionConfig{{Payload: &pb.CollectionConfig_StaticCollectionConfig{StaticCollectionConfig: &pb.StaticCollectionConfig{
		Name: "collectionMarbles", MemberOrgsPolicy: &pb.CollectionPolicyConfig{Payload: &pb.CollectionPolicyConfig_SignaturePolicy{SignaturePolicy: pol}},
		MaximumPeerCount: 1,
	}}}}}
}

// newIndexNet starts the fake orderer of mychannel.
func newIndexNet(t *testing.T) *indexNet {
	t.Helper()
	tn := testnet.SampleNet(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	x := &indexNet{tn: tn, signer: tn.Signer(t, "orderer.example.com"), genesis: genesisWithOrderer(t, tn.Dir, lis.Addr().String())}
	x.orderer = &fakeOrderer{blocks: []*cb.Block{x.genesis}, released: 1, more: make(chan struct{})}
	osrv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{tn.TLSCert(t, "orderer.example.com")}, MinVersion: tls.VersionTLS12})))
	ab.RegisterAtomicBroadcastServer(osrv, x.orderer)
	go osrv.Serve(lis)
	t.Cleanup(osrv.Stop)
	return x
}

// start runs the peer (until t ends), with h as its hooks, joins it to
// mychannel and makes the Org2 lifecycle that endorses Org2's side.
func (x *indexNet) start(t *testing.T, fsPath string, h hooks, tune ...func(*Config)) {
	t.Helper()
	x.node, x.conn = runNode(t, x.tn.Dir, fsPath, quietLog, tune...)
	x.node.hooks = h // before any channel exists: read by the ledgers the join opens
	if resp := propose(t, x.conn, x.admin(t, "Org1MSP"), "cscc", []byte("JoinChain"), protos.Marshal(x.genesis)); resp.Status != 200 {
		t.Fatalf("JoinChain = %d %s", resp.Status, resp.Message)
	}
	var err error
	if x.ch, err = x.node.channel("mychannel"); err != nil {
		t.Fatal(err)
	}
	local, ok := x.ch.bundle.Load().MSPs().MSP("Org2MSP")
	if !ok {
		t.Fatal("no Org2MSP in the channel")
	}
	if x.org2, err = lifecycle.New(lifecycle.Config{PackageDir: t.TempDir(), LocalMSP: local, Channels: lifecycleChannels{x.node}, Logger: quietLog}); err != nil {
		t.Fatal(err)
	}
}

// TestPeerCreatesPackageIndexes runs a peer whose channel state keeps
// indexes through the three triggers: a definition committed where its
// package is installed, a package installed where its definition is
// committed, and the channel opened again at a restart; and an install
// refused for a malformed index.
func TestPeerCreatesPackageIndexes(t *testing.T) {
	t.Parallel()
	x := newIndexNet(t)
	ixs := &indexLog{}
	fsPath := filepath.Join(t.TempDir(), "peerdata")
	var cfg Config
	marbles := ccaasPackage(t, "marbles_1",
		[2]string{peerOwnerFile, peerOwnerIndex},
		[2]string{peerCollFile, peerCollIndex})
	late := ccaasPackage(t, "late_1", [2]string{peerOwnerFile, peerOwnerIndex})

	t.Run("first run", func(t *testing.T) {
		x.start(t, fsPath, ixs.hooks(), func(c *Config) { cfg = *c })

		// (b) Installed first, then committed: created once the commit's
		// block is committed, in the namespace and the collection's.
		if resp := x.install(t, marbles); resp.Status != 200 {
			t.Fatalf("install marbles: %d %s", resp.Status, resp.Message)
		}
		if got := ixs.take(); got != nil {
			t.Fatalf("created %v before any definition was committed", got)
		}
		x.deploy(t, "marbles", 1, lifecycle.PackageID("marbles_1", marbles), marblesCollection(t))
		want := []string{"marbles " + peerOwnerFile, "marbles$$pcollectionMarbles " + peerCollFile}
		if got := ixs.take(); !reflect.DeepEqual(got, want) {
			t.Fatalf("after marbles committed: created %v, want %v", got, want)
		}

		// (a) Committed first, then installed: created by the install.
		x.deploy(t, "late", 1, lifecycle.PackageID("late_1", late), nil)
		if got := ixs.take(); got != nil {
			t.Fatalf("created %v for a definition whose package is not installed", got)
		}
		if resp := x.install(t, late); resp.Status != 200 {
			t.Fatalf("install late: %d %s", resp.Status, resp.Message)
		}
		if got, want := ixs.take(), []string{"late " + peerOwnerFile}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after late installed: created %v, want %v", got, want)
		}

		// A malformed index refuses the install, naming the file.
		bad := ccaasPackage(t, "bad_1", [2]string{"META-INF/statedb/couchdb/indexes/indexBad.json", `{"index":{"fields":"owner"}}`})
		resp := x.install(t, bad)
		if resp.Status != 500 || !strings.Contains(resp.Message, "META-INF/statedb/couchdb/indexes/indexBad.json") ||
			!strings.Contains(resp.Message, `"index.fields": must be a JSON array`) {
			t.Fatalf("install of a malformed index = %d %q, want a refusal naming the file and the field", resp.Status, resp.Message)
		}
	})

	// (c) The restarted peer reopens the channel and creates the indexes of
	// both committed, installed chaincodes again (harmless where they exist).
	n, err := New(cfg, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	n.hooks = ixs.hooks() // before Run reopens the channel
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after restart: %v", err)
		}
	})
	want := []string{"late " + peerOwnerFile, "marbles " + peerOwnerFile, "marbles$$pcollectionMarbles " + peerCollFile}
	var got []string
	eventually.True(t, 10*time.Second, "the indexes created again at the restart", func() bool {
		got = append(got, ixs.take()...)
		return len(got) >= len(want)
	})
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the restart: created %v, want %v", got, want)
	}
}

// TestPeerCreatesPackageIndexesOnCouchDB runs a peer on a real
// CouchDB(-compatible) server: installing a package and committing its
// definition leave its indexes in the chaincode's database and in its
// collection's, as CouchDB lists them (GET /{db}/_index).
func TestPeerCreatesPackageIndexesOnCouchDB(t *testing.T) {
	t.Parallel()
	url := couchtest.URL(t)
	prefix := couchtest.Prefix(t)
	x := newIndexNet(t)
	x.start(t, filepath.Join(t.TempDir(), "peerdata"), hooks{}, couchConfig(url, prefix))
	if _, ok := stateIndexCreator(x.ch.ledger); !ok {
		t.Fatalf("the channel's state (%T) keeps no indexes", x.ch.ledger.StateBackend())
	}
	marbles := ccaasPackage(t, "marbles_1", [2]string{peerOwnerFile, peerOwnerIndex}, [2]string{peerCollFile, peerCollIndex})
	if resp := x.install(t, marbles); resp.Status != 200 {
		t.Fatalf("install marbles: %d %s", resp.Status, resp.Message)
	}
	x.deploy(t, "marbles", 1, lifecycle.PackageID("marbles_1", marbles), marblesCollection(t))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dbs, err := couchtest.Databases(ctx, url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	// The databases of the chaincode and of its collection, whatever the
	// backend's escaping of "$$p" and capitals.
	found := map[string]string{} // index name → database
	for _, db := range dbs {
		if !strings.Contains(db, "marbles") {
			continue
		}
		for _, name := range couchIndexes(ctx, t, url, db) {
			found[name] = db
		}
	}
	pub, priv := found["indexOwner"], found["indexCollMarbles"]
	if pub == "" || priv == "" || pub == priv || strings.Contains(pub, "$$") || !strings.Contains(priv, "$$p") {
		t.Fatalf("indexes found %v in databases %v; want indexOwner in the chaincode's database and indexCollMarbles in its collection's", found, dbs)
	}
}

// couchIndexes lists the names of the indexes of database db.
func couchIndexes(ctx context.Context, t *testing.T, url, db string) []string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/"+neturl.PathEscape(db)+"/_index", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Indexes []struct{ Ddoc, Name string } `json:"indexes"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/_index: %s", db, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s/_index: %v", db, err)
	}
	var out []string
	for _, ix := range body.Indexes {
		out = append(out, ix.Name)
	}
	return out
}
