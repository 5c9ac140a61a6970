package endorser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

// cryptoDir holds throwaway crypto for Org1MSP and Org2MSP, generated once.
var cryptoDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "weft-endorser-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := &msp.CryptoConfig{PeerOrgs: []msp.OrgSpec{
		{Name: "Org1", Domain: "org1.example.com", EnableNodeOUs: true, Template: msp.NodeTemplate{Count: 1}, Users: msp.UsersSpec{Count: 1}},
		{Name: "Org2", Domain: "org2.example.com", EnableNodeOUs: true, Template: msp.NodeTemplate{Count: 1}, Users: msp.UsersSpec{Count: 1}},
	}}
	if err := msp.GenerateCrypto(cfg, d); err != nil {
		fmt.Fprintln(os.Stderr, "generate crypto:", err)
		os.Exit(1)
	}
	cryptoDir = d
	code := m.Run()
	os.RemoveAll(d)
	testnet.Close()
	os.Exit(code)
}

func orgDir(org string) string {
	return filepath.Join(cryptoDir, "peerOrganizations", org+".example.com")
}

func loadMSP(t testing.TB, org, mspID string) *msp.MSP {
	t.Helper()
	conf, err := msp.LoadMSPDir(filepath.Join(orgDir(org), "msp"), mspID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := msp.New(conf)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loadSigner(t testing.TB, org, mspID, who string) *msp.SigningIdentity {
	t.Helper()
	var dir string
	if who == "peer0" {
		dir = filepath.Join(orgDir(org), "peers", "peer0."+org+".example.com", "msp")
	} else {
		dir = filepath.Join(orgDir(org), "users", who+"@"+org+".example.com", "msp")
	}
	s, err := msp.LoadSigningIdentity(dir, mspID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// channelConf is a channel configuration with real MSPs and real signature
// policies: Writers = Org1 members only, Readers = any member of either org.
type channelConf struct {
	msps     *msp.Manager
	policies map[string]channelconfig.Policy
	acls     map[string]string // the channel's ACLs: resource -> policy path
}

func (c *channelConf) ACLPolicyRef(resource string) (string, bool) {
	p, ok := c.acls[resource]
	return p, ok
}

func (c *channelConf) MSPs() *msp.Manager { return c.msps }

// Application: the fake channel has the sample's application capability.
func (c *channelConf) Application() *channelconfig.ApplicationConfig {
	return &channelconfig.ApplicationConfig{Capabilities: []string{"V2_5"}}
}
func (c *channelConf) Policy(path string) (channelconfig.Policy, error) {
	p, ok := c.policies[path]
	if !ok {
		return nil, fmt.Errorf("%w: %s", channelconfig.ErrPolicyNotFound, path)
	}
	return p, nil
}

func newChannelConf(t testing.TB, org1, org2 *msp.MSP) *channelConf {
	t.Helper()
	mgr := msp.NewManager(org1, org2)
	pol := func(dsl string) channelconfig.Policy {
		env, err := channelconfig.ParsePolicyDSL(dsl)
		if err != nil {
			t.Fatal(err)
		}
		p, err := channelconfig.NewSignaturePolicy(env, mgr)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return &channelConf{msps: mgr, policies: map[string]channelconfig.Policy{
		WritersPolicy: pol("OR('Org1MSP.member')"),
		ReadersPolicy: pol("OR('Org1MSP.member','Org2MSP.member')"),
	}}
}

// dupLedger is a real ledger whose TxExists also reports the txids in seen.
type dupLedger struct {
	Ledger
	mu   sync.Mutex
	seen map[string]bool
}

func (d *dupLedger) TxExists(txID string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen[txID] {
		return true, nil
	}
	return d.Ledger.TxExists(txID)
}

type channels map[string]*Channel

func (c channels) Channel(id string) (*Channel, error) {
	ch, ok := c[id]
	if !ok {
		return nil, fmt.Errorf("this peer has not joined channel %s", id)
	}
	return ch, nil
}

// definitions knows chaincode "basic" (version 1.0, sequence 3) approved with
// basicPkg, and "callee" (version 2.0, sequence 1) approved with calleePkg.
type definitions struct{ pkg string }

const (
	basicPkg  = "basic_1.0:0123abcd"
	calleePkg = "callee_2.0:4567ef01"
)

func (definitions) ChaincodeDefinition(channel string, _ lifecycle.StateReader, name string) (*lifecycle.Definition, error) {
	switch name {
	case "basic":
		return &lifecycle.Definition{Name: "basic", Version: "1.0", Sequence: 3}, nil
	case "callee":
		return &lifecycle.Definition{Name: "callee", Version: "2.0", Sequence: 1}, nil
	}
	return nil, fmt.Errorf("channel %s: %w: %s", channel, lifecycle.ErrNotDefined, name)
}

func (d definitions) ApprovedPackageID(_ string, _ lifecycle.PrivateStateReader, name string, seq int64) (string, error) {
	switch {
	case name == "basic" && seq == 3:
		return d.pkg, nil
	case name == "callee" && seq == 1:
		return calleePkg, nil
	}
	return "", errors.New("not approved")
}

// fakeRuntime plays user chaincode: "put k v", "putpriv coll k v", "status code msg", "error msg", "event name payload",
// "call name channel args..." (calls another chaincode; answers its response marshalled, or status 500 with the error).
type fakeRuntime struct {
	mu      sync.Mutex
	calls   []string // package IDs executed
	lastTxc *chaincode.TxContext
	lastIn  *pb.ChaincodeInput
}

func (f *fakeRuntime) Execute(ctx context.Context, pkgID string, txc *chaincode.TxContext, in *pb.ChaincodeInput) (*pb.Response, *pb.ChaincodeEvent, error) {
	f.mu.Lock()
	f.calls = append(f.calls, pkgID)
	f.lastTxc = txc
	f.lastIn = in
	f.mu.Unlock()
	args := in.GetArgs()
	s := func(i int) string { return string(args[i]) }
	switch s(0) {
	case "put":
		if _, err := txc.Simulator.GetState(txc.Namespace, s(1)); err != nil {
			return nil, nil, err
		}
		if err := txc.Simulator.SetState(txc.Namespace, s(1), args[2]); err != nil {
			return nil, nil, err
		}
		return &pb.Response{Status: 200, Payload: []byte("stored " + s(1))}, nil, nil
	case "putpriv":
		if err := txc.Simulator.PutPrivateData(txc.Namespace, s(1), s(2), args[3]); err != nil {
			return nil, nil, err
		}
		return &pb.Response{Status: 200}, nil, nil
	case "status":
		var code int32
		fmt.Sscan(s(1), &code)
		return &pb.Response{Status: code, Message: s(2)}, nil, nil
	case "error":
		return nil, nil, &chaincode.TransactionError{PackageID: pkgID, TxID: txc.TxID, Message: s(1)}
	case "event":
		return &pb.Response{Status: 200}, &pb.ChaincodeEvent{ChaincodeId: txc.Namespace, TxId: txc.TxID, EventName: s(1), Payload: args[2]}, nil
	case "call":
		resp, err := txc.Invoker.InvokeChaincode(ctx, txc, s(1), s(2), &pb.ChaincodeInput{Args: args[3:]})
		if err != nil {
			return &pb.Response{Status: 500, Message: err.Error()}, nil, nil
		}
		return &pb.Response{Status: 200, Payload: protos.Marshal(resp)}, nil, nil
	}
	return &pb.Response{Status: 500, Message: "unknown function " + s(0)}, nil, nil
}

// scc is a system chaincode answering 200 with its name and the caller's MSP.
type scc struct{ name string }

func (s scc) Name() string { return s.name }
func (s scc) Invoke(_ context.Context, txc *chaincode.TxContext, in *pb.ChaincodeInput) (*pb.Response, *pb.ChaincodeEvent) {
	if txc.ChannelID != "" && txc.Simulator == nil {
		return &pb.Response{Status: 500, Message: "no simulator on a channel proposal"}, nil
	}
	if txc.Creator == nil {
		return &pb.Response{Status: 500, Message: "no creator"}, nil
	}
	return &pb.Response{Status: 200, Payload: []byte(s.name + " for " + txc.Creator.MSPID)}, nil
}

type transient struct {
	mu       sync.Mutex
	m        map[string]*rwset.TxPvtReadWriteSet
	channels map[string]string // txID -> the channel Put was given
	err      error             // returned by Put, which then keeps nothing
}

func (t *transient) Put(channelID, txID string, pvt *rwset.TxPvtReadWriteSet) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	t.m[txID] = pvt
	if t.channels == nil {
		t.channels = map[string]string{}
	}
	t.channels[txID] = channelID
	return nil
}

func (t *transient) get(txID string) *rwset.TxPvtReadWriteSet {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[txID]
}

type env struct {
	e         *Endorser
	peer      *msp.SigningIdentity
	user1     *msp.SigningIdentity // Org1MSP client
	user2     *msp.SigningIdentity // Org2MSP client
	ledger    *dupLedger
	rt        *fakeRuntime
	transient *transient
}

func newEnv(t testing.TB) *env {
	t.Helper()
	org1, org2 := loadMSP(t, "org1", "Org1MSP"), loadMSP(t, "org2", "Org2MSP")
	l, err := ledger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	peer := loadSigner(t, "org1", "Org1MSP", "peer0")
	commitSequence(t, l, peer, "basic", 3) // what definitions{} says is committed
	dl := &dupLedger{Ledger: NewLedger(l), seen: map[string]bool{}}
	ev := &env{
		peer:      peer,
		user1:     loadSigner(t, "org1", "Org1MSP", "User1"),
		user2:     loadSigner(t, "org2", "Org2MSP", "User1"),
		ledger:    dl,
		rt:        &fakeRuntime{},
		transient: &transient{m: map[string]*rwset.TxPvtReadWriteSet{}},
	}
	ev.e, err = New(Config{
		Signer:      ev.peer,
		LocalMSP:    org1,
		Channels:    channels{"mychannel": {Config: newChannelConf(t, org1, org2), Ledger: dl}},
		System:      []chaincode.SystemChaincode{scc{"qscc"}, scc{"cscc"}, scc{"_lifecycle"}},
		Runtime:     ev.rt,
		Definitions: definitions{pkg: basicPkg},
		Transient:   ev.transient,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func strArgs(args ...string) [][]byte {
	var out [][]byte
	for _, a := range args {
		out = append(out, []byte(a))
	}
	return out
}

// propOpts alters a proposal while it is built.
type propOpts struct {
	headerType cb.HeaderType
	txID       string // overrides the computed txid
	signWith   protos.Signer
}

// buildProposal builds a signed proposal like protos.NewProposal, with the
// alterations of o.
func buildProposal(t testing.TB, signer protos.Signer, channel, cc string, args [][]byte, o propOpts) (*pb.SignedProposal, string) {
	t.Helper()
	shdr, err := protos.NewSignatureHeader(signer)
	if err != nil {
		t.Fatal(err)
	}
	txID := protos.ComputeTxID(shdr.Nonce, shdr.Creator)
	if o.txID != "" {
		txID = o.txID
	}
	typ := cb.HeaderType_ENDORSER_TRANSACTION
	if o.headerType != 0 {
		typ = o.headerType
	}
	chdr := protos.NewChannelHeader(typ, channel, txID)
	chdr.Extension = protos.Marshal(&pb.ChaincodeHeaderExtension{ChaincodeId: &pb.ChaincodeID{Name: cc}})
	cis := &pb.ChaincodeInvocationSpec{ChaincodeSpec: &pb.ChaincodeSpec{
		Type: pb.ChaincodeSpec_GOLANG, ChaincodeId: &pb.ChaincodeID{Name: cc}, Input: &pb.ChaincodeInput{Args: args},
	}}
	raw := protos.Marshal(&pb.Proposal{
		Header:  protos.Marshal(&cb.Header{ChannelHeader: protos.Marshal(chdr), SignatureHeader: protos.Marshal(shdr)}),
		Payload: protos.Marshal(&pb.ChaincodeProposalPayload{Input: protos.Marshal(cis)}),
	})
	sw := signer
	if o.signWith != nil {
		sw = o.signWith
	}
	sig, err := sw.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.SignedProposal{ProposalBytes: raw, Signature: sig}, txID
}
