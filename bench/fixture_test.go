package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/orderer/raftchain"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/peer/validator"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

const (
	channelID = testnet.Channel
	chaincode = "basic"
	ccVersion = "1.0"
	org1      = "Org1MSP"
	org2      = "Org2MSP"
)

// material is what every benchmark network shares: identities and the
// genesis block. It is read-only once built.
type material struct {
	genesis  *cb.Block
	creator  *msp.SigningIdentity            // User1@org1.example.com
	peers    map[string]*msp.SigningIdentity // peer0 of each org, by MSP ID
	admins   map[string]*msp.SigningIdentity // Admin of each org, by MSP ID
	orderer  *msp.SigningIdentity            // orderer.example.com, signs blocks
	stranger *msp.SigningIdentity            // peer0.org1, used to forge an orderer signature in tests
}

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

// mustMaterial loads the shared material of sampleconfig's network. The
// crypto is generated once per test binary (a few dozen key generations,
// which plain `go test` pays only for the fixture test).
func mustMaterial(tb testing.TB) *material {
	tb.Helper()
	tn := testnet.SampleNet(tb)
	m := &material{
		genesis: tn.Genesis(),
		creator: tn.User(tb, "User1", org1),
		peers:   map[string]*msp.SigningIdentity{},
		admins:  map[string]*msp.SigningIdentity{},
		orderer: tn.Signer(tb, "orderer.example.com"),
	}
	for _, org := range []struct{ mspID, domain string }{{org1, "org1.example.com"}, {org2, "org2.example.com"}} {
		m.peers[org.mspID] = tn.Signer(tb, "peer0."+org.domain)
		m.admins[org.mspID] = tn.Admin(tb, org.mspID)
	}
	m.stranger = m.peers[org1]
	return m
}

// network is one committing peer (peer0.org1's view of mychannel) with its
// own ledger, plus the block builder that plays client, endorsers and orderer.
type network struct {
	m         *material
	bundle    *channelconfig.Bundle
	ledger    *ledger.Ledger
	validator *validator.Validator
	lc        map[string]*lifecycle.Lifecycle // each org's peer's _lifecycle, by MSP ID

	committedHash []byte // header hash of the last committed block

	mu       sync.Mutex // guards the builder fields below
	next     uint64     // number of the next block to build
	prevHash []byte     // header hash of the last block built
	assets   int        // assets created so far, for unique keys
}

// newNetwork opens a ledger in tb.TempDir(), commits the genesis block and
// deploys chaincode "basic" with the real _lifecycle: each organisation
// approves (endorsed by its peer), then Org1's admin commits the definition
// (endorsed by both peers, as the LifecycleEndorsement policy asks). Every
// block goes through VerifyBlock, Validate and Commit like any other.
func newNetwork(tb testing.TB) *network {
	tb.Helper()
	return newNetworkOn(tb, nil)
}

// newNetworkOn is newNetwork with the world state in state (the ledger owns
// it); nil means the ledger's own LevelDB.
func newNetworkOn(tb testing.TB, state statedb.DB) *network {
	tb.Helper()
	m := mustMaterial(tb)
	bundle, err := channelconfig.BundleFromBlock(m.genesis)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := ledger.OpenWithOptions(tb.TempDir(), ledger.Options{State: state})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	quiet := slog.New(slog.DiscardHandler)
	n := &network{m: m, bundle: bundle, ledger: l, validator: validator.New(validator.Config{Logger: quiet}), lc: map[string]*lifecycle.Lifecycle{}}
	for _, mspID := range []string{org1, org2} {
		local, ok := bundle.MSPs().MSP(mspID)
		if !ok {
			tb.Fatalf("channel %s has no MSP %s", channelID, mspID)
		}
		lc, err := lifecycle.New(lifecycle.Config{PackageDir: tb.TempDir(), LocalMSP: local, Channels: channels{bundle}, Logger: quiet})
		if err != nil {
			tb.Fatal(err)
		}
		n.lc[mspID] = lc
	}
	genesis := proto.Clone(m.genesis).(*cb.Block)
	if err := n.commitAllValid(genesis, nil); err != nil {
		tb.Fatal(err)
	}
	n.next, n.prevHash = 1, n.committedHash
	n.deployBasic(tb)
	return n
}

type channels struct{ b *channelconfig.Bundle }

func (c channels) ChannelConfig(string) (lifecycle.ChannelConfig, error) {
	return lifecycle.BundleChannel{Bundle: c.b}, nil
}

func (n *network) deployBasic(tb testing.TB) {
	tb.Helper()
	pkgSum := sha256.Sum256([]byte("basic_1.0 package"))
	approve := &lb.ApproveChaincodeDefinitionForMyOrgArgs{
		Sequence: 1, Name: chaincode, Version: ccVersion, // default endorsement policy: /Channel/Application/Endorsement
		Source: &lb.ChaincodeSource{Type: &lb.ChaincodeSource_LocalPackage{LocalPackage: &lb.ChaincodeSource_Local{
			PackageId: chaincode + "_" + ccVersion + ":" + hex.EncodeToString(pkgSum[:])}}},
	}
	a1, pvt1, err := n.lifecycleTx(org1, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, approve, n.m.peers[org1])
	if err != nil {
		tb.Fatal(err)
	}
	a2, pvt2, err := n.lifecycleTx(org2, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, approve, n.m.peers[org2])
	if err != nil {
		tb.Fatal(err)
	}
	b, err := n.seal([]*cb.Envelope{a1, a2})
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.commitAllValid(b, map[uint64]*rwset.TxPvtReadWriteSet{0: pvt1, 1: pvt2}); err != nil {
		tb.Fatalf("approvals: %v", err)
	}
	commit := &lb.CommitChaincodeDefinitionArgs{Sequence: 1, Name: chaincode, Version: ccVersion}
	c, _, err := n.lifecycleTx(org1, lifecycle.FuncCommitChaincodeDefinition, commit, n.m.peers[org1], n.m.peers[org2])
	if err != nil {
		tb.Fatal(err)
	}
	if b, err = n.seal([]*cb.Envelope{c}); err != nil {
		tb.Fatal(err)
	}
	if err := n.commitAllValid(b, nil); err != nil {
		tb.Fatalf("commit definition: %v", err)
	}
	def, err := lifecycle.ReadDefinition(lifecycle.DBState{DB: n.ledger.State()}, chaincode)
	if err != nil {
		tb.Fatalf("definition of %s after deploy: %v", chaincode, err)
	}
	if def.Sequence != 1 || def.Version != ccVersion {
		tb.Fatalf("definition of %s after deploy: sequence %d version %q, want 1 %q", chaincode, def.Sequence, def.Version, ccVersion)
	}
}

// lifecycleTx runs one _lifecycle function as mspID's admin on mspID's peer,
// simulated on the ledger, and returns the envelope endorsed by endorsers.
func (n *network) lifecycleTx(mspID, fn string, arg proto.Message, endorsers ...*msp.SigningIdentity) (*cb.Envelope, *rwset.TxPvtReadWriteSet, error) {
	admin := n.m.admins[mspID]
	args := [][]byte{[]byte(fn), protos.Marshal(arg)}
	p, err := propose(admin, lifecycle.Namespace, args)
	if err != nil {
		return nil, nil, err
	}
	sim := n.ledger.NewSimulator(p.ChannelHeader.TxId)
	resp := n.lc[mspID].Call(context.Background(), &lifecycle.Invocation{
		ChannelID: channelID, TxID: p.ChannelHeader.TxId, Creator: p.SignatureHeader.Creator,
		Simulator: sim, SignedData: []protos.SignedData{p.SignedData()},
	}, &pb.ChaincodeInput{Args: args})
	sim.Done()
	if resp.Status != 200 {
		return nil, nil, fmt.Errorf("%s by %s: status %d: %s", fn, mspID, resp.Status, resp.Message)
	}
	pub, pvt, err := sim.Results()
	if err != nil {
		return nil, nil, fmt.Errorf("%s by %s: simulation results: %w", fn, mspID, err)
	}
	env, err := endorse(p, admin, pub, resp, "syscc", endorsers)
	return env, pvt, err
}

func propose(client *msp.SigningIdentity, cc string, args [][]byte) (*protos.Proposal, error) {
	sp, _, err := protos.NewProposal(client, channelID, cc, args, nil)
	if err != nil {
		return nil, err
	}
	return protos.ParseProposal(sp)
}

// endorse signs the proposal response for the write set pub as each endorser
// (over proposal_response_payload ‖ endorser) and wraps the result in an
// envelope signed by client.
func endorse(p *protos.Proposal, client *msp.SigningIdentity, pub *rwset.TxReadWriteSet, resp *pb.Response, version string, endorsers []*msp.SigningIdentity) (*cb.Envelope, error) {
	action := &pb.ChaincodeAction{
		Results:     protos.Marshal(pub),
		Response:    resp,
		ChaincodeId: &pb.ChaincodeID{Name: p.ChaincodeName(), Version: version},
	}
	prp := protos.Marshal(&pb.ProposalResponsePayload{ProposalHash: p.Hash(), Extension: protos.Marshal(action)})
	responses := make([]*pb.ProposalResponse, 0, len(endorsers))
	for _, e := range endorsers {
		ser, err := e.Serialize()
		if err != nil {
			return nil, err
		}
		msg := make([]byte, 0, len(prp)+len(ser))
		sig, err := e.Sign(append(append(msg, prp...), ser...))
		if err != nil {
			return nil, err
		}
		responses = append(responses, &pb.ProposalResponse{Version: 1, Response: resp, Payload: prp, Endorsement: &pb.Endorsement{Endorser: ser, Signature: sig}})
	}
	payload, err := protos.NewTransaction(p, responses)
	if err != nil {
		return nil, err
	}
	return protos.SignEnvelope(payload, client)
}

// createAsset builds what a client gets for basic's CreateAsset(key, ...)
// endorsed by endorsers: the read/write set a peer records (the definition's
// sequence, the absent key, the new asset), simulated on the ledger.
func (n *network) createAsset(key string, endorsers []*msp.SigningIdentity) (*cb.Envelope, error) {
	args := [][]byte{[]byte("CreateAsset"), []byte(key), []byte("blue"), []byte("5"), []byte("Tomoko"), []byte("300")}
	p, err := propose(n.m.creator, chaincode, args)
	if err != nil {
		return nil, err
	}
	sim := n.ledger.NewSimulator(p.ChannelHeader.TxId) // opens no iterator: Done only ends it
	if _, err := sim.GetState(lifecycle.Namespace, "namespaces/fields/"+chaincode+"/Sequence"); err != nil {
		return nil, err
	}
	old, err := sim.GetState(chaincode, key)
	if err != nil {
		return nil, err
	}
	if old != nil {
		return nil, fmt.Errorf("asset %s already exists", key)
	}
	asset := fmt.Sprintf(`{"AppraisedValue":300,"Color":"blue","ID":%q,"Owner":"Tomoko","Size":5}`, key)
	if err := sim.SetState(chaincode, key, []byte(asset)); err != nil {
		return nil, err
	}
	sim.Done()
	pub, _, err := sim.Results()
	if err != nil {
		return nil, err
	}
	return endorse(p, n.m.creator, pub, &pb.Response{Status: 200}, ccVersion, endorsers)
}

// seal orders envelopes into the next block and signs it as orderer/raftchain
// does (SIGNATURES over value ‖ signature_header ‖ ASN.1(header), LastConfig
// = the genesis block).
func (n *network) seal(envs []*cb.Envelope) (*cb.Block, error) {
	return n.sealWith(envs, n.m.orderer)
}

func (n *network) sealWith(envs []*cb.Envelope, signer *msp.SigningIdentity) (*cb.Block, error) {
	raw := make([][]byte, len(envs))
	for i, e := range envs {
		raw[i] = protos.Marshal(e)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	b := protos.NewBlock(n.next, n.prevHash, raw)
	if err := raftchain.SignBlock(b, signer, 0, &etcdraft.BlockMetadata{ConsenterIds: []uint64{1}, NextConsenterId: 2, RaftIndex: n.next + 4}); err != nil {
		return nil, err
	}
	n.next++
	n.prevHash = protos.BlockHeaderHash(b.Header)
	return b, nil
}

// buildBlocks builds count blocks of perBlock CreateAsset transactions on
// distinct new keys, endorsed by both organisations' peers. Transactions are
// built in parallel; the blocks are chained in order.
func (n *network) buildBlocks(count, perBlock int) ([]*cb.Block, error) {
	return n.buildBlocksEndorsedBy(count, perBlock, []*msp.SigningIdentity{n.m.peers[org1], n.m.peers[org2]})
}

func (n *network) buildBlocksEndorsedBy(count, perBlock int, endorsers []*msp.SigningIdentity) ([]*cb.Block, error) {
	total := count * perBlock
	n.mu.Lock()
	first := n.assets
	n.assets += total
	n.mu.Unlock()
	envs := make([]*cb.Envelope, total)
	errs := make([]error, total)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range jobs {
				envs[i], errs[i] = n.createAsset(fmt.Sprintf("asset%08d", first+i), endorsers)
			}
		})
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("build transaction %d: %w", i, err)
		}
	}
	blocks := make([]*cb.Block, count)
	for i := range blocks {
		b, err := n.seal(envs[i*perBlock : (i+1)*perBlock])
		if err != nil {
			return nil, err
		}
		blocks[i] = b
	}
	return blocks, nil
}

// validate is the committing peer's check of b: orderer signatures and hash
// chain, then every transaction's verdict. It leaves the flags in b.
func (n *network) validate(b *cb.Block) ([]validator.Verdict, error) {
	if err := validator.VerifyBlock(b, n.committedHash, n.bundle); err != nil {
		return nil, err
	}
	vs, err := n.validator.Validate(b, n.bundle, n.ledger.State(), n.ledger.Blocks().TxExists)
	if err != nil {
		return nil, err
	}
	flags := make([]byte, len(vs))
	sets := make([]*ledger.TxRWSet, len(vs))
	for i, vd := range vs {
		flags[i] = byte(vd.Code)
		sets[i] = vd.RWSet()
	}
	protos.SetTxFilter(b, flags)
	// As the peer's commit path: the ledger reuses what the validator decoded.
	n.ledger.UseDecoded(b, flags, sets)
	return vs, nil
}

// commit hands b, its flags set, to the ledger, which runs MVCC and stores it.
func (n *network) commit(b *cb.Block, private map[uint64]*rwset.TxPvtReadWriteSet) error {
	if err := n.ledger.Commit(b, private); err != nil {
		return err
	}
	n.committedHash = protos.BlockHeaderHash(b.Header)
	return nil
}

// commitAllValid validates and commits b and fails unless every transaction
// is VALID both in the validator's verdicts and in the filter the ledger
// stored after MVCC.
func (n *network) commitAllValid(b *cb.Block, private map[uint64]*rwset.TxPvtReadWriteSet) error {
	vs, err := n.validate(b)
	if err != nil {
		return err
	}
	for i, vd := range vs {
		if vd.Code != pb.TxValidationCode_VALID {
			return fmt.Errorf("block %d tx %d (%s): %s: %s", b.Header.Number, i, vd.TxID, vd.Code, vd.Reason)
		}
	}
	if err := n.commit(b, private); err != nil {
		return err
	}
	return allValid(b)
}

// allValid checks the TRANSACTIONS_FILTER stored in b.
func allValid(b *cb.Block) error {
	for i, f := range protos.TxFilter(b) {
		if pb.TxValidationCode(f) != pb.TxValidationCode_VALID {
			return fmt.Errorf("block %d tx %d committed as %s, want VALID", b.Header.Number, i, pb.TxValidationCode(f))
		}
	}
	return nil
}
