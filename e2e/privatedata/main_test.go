package privatedata

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/cli"
	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/protos"
)

// network is the four-peer network the package's tests share, with pvtcc
// and the asset-transfer-private-data sample deployed; TestMain starts it.
var network *devnet.Network

// The peers of the network.
const (
	peer0Org1 = "peer0.org1.example.com"
	peer1Org1 = "peer1.org1.example.com"
	peer0Org2 = "peer0.org2.example.com"
	peer1Org2 = "peer1.org2.example.com"
)

var allPeers = []string{peer0Org1, peer1Org1, peer0Org2, peer1Org2}

// bothOrgs endorse a write to org1only: pvtcc's policy is the channel's
// default, a majority of the two organisations.
var bothOrgs = []string{"Org1MSP", "Org2MSP"}

// The chaincodes the tests drive and their sources.
const (
	pvtcc       = "pvtcc"
	pvtccDir    = "../testdata/pvtcc"
	sample      = "private"
	sampleDir   = "../../samples/asset-transfer-private-data"
	collections = "collections_config.json"
)

// waitTimeout bounds a wait for something private data gossip or
// reconciliation brings (Fabric's reconcileSleepInterval is a minute; the
// peers of the network reconcile more often) or a peer's catch-up.
const waitTimeout = 90 * time.Second

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r, err := devnettest.Start(ctx, devnettest.Options{Peers: 2, NoRESTGateway: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	network = r.Network
	failed := true
	defer func() { r.Stop(failed) }()
	// pvtcc keeps the channel's default policy (a majority: both
	// organisations); the sample takes Fabric's tutorial's, so that each
	// organisation endorses its own steps alone.
	for _, cc := range []struct{ name, dir, policy, warmUp string }{
		{pvtcc, pvtccDir, "", "hash shared warm-up"},
		{sample, sampleDir, "OR('Org1MSP.peer','Org2MSP.peer')", "org.hyperledger.fabric:GetMetadata"},
	} {
		svc, err := devnettest.StartChaincodeService(ctx, network, cc.dir, cc.name+"_1")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer svc.Stop(10 * time.Second)
		colls, err := cli.ReadCollectionsConfig(filepath.Join(cc.dir, collections))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		def := wclient.Definition{Name: cc.name, Version: "1", Sequence: 1, Collections: colls}
		if cc.policy != "" {
			env, err := channelconfig.ParsePolicyDSL(cc.policy)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			def.EndorsementPolicy = protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: env}})
		}
		if err := devnettest.DeployDefinition(ctx, network, svc.Label, svc.Package, def, strings.Fields(cc.warmUp)...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Fprintf(os.Stderr, "four-peer network with %s and %s up in %s\n", pvtcc, sample, time.Since(start).Round(time.Millisecond))
	code := m.Run()
	failed = code != 0
	return code
}

// node returns the peer called name.
func node(t *testing.T, name string) devnet.Org {
	t.Helper()
	return devnettest.PeerNode(t, network, name)
}

// org returns the organisation (through its peer0) of MSP mspID.
func org(t *testing.T, mspID string) devnet.Org {
	t.Helper()
	for _, o := range network.Orgs {
		if o.MSPID == mspID {
			return o
		}
	}
	t.Fatalf("no organisation %s", mspID)
	return devnet.Org{}
}

// contract connects Fabric's gateway client to the peer called name as
// User1 of its organisation and returns chaincode cc.
func contract(t *testing.T, name, cc string) *client.Contract {
	t.Helper()
	gw := devnettest.Gateway(t, network, node(t, name), "User1")
	return gw.GetNetwork(devnet.ChannelID).GetContract(cc)
}

// unique returns a key no other test (or run) uses.
func unique(prefix string) string { return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()) }

// write is one transaction through the gateway: fn with args and, when
// value is not nil, the transient entry "value".
type write struct {
	fn    string
	args  []string
	value []byte
	// orgs, when set, are the organisations whose peers endorse
	// (client.WithEndorsingOrganizations); else the gateway plans.
	orgs []string
}

func (w write) options() []client.ProposalOption {
	opts := []client.ProposalOption{client.WithArguments(w.args...)}
	if w.value != nil {
		opts = append(opts, client.WithTransient(map[string][]byte{"value": w.value}))
	}
	if len(w.orgs) > 0 {
		opts = append(opts, client.WithEndorsingOrganizations(w.orgs...))
	}
	return opts
}

// submit endorses w through c, submits it and waits for its commit on the
// gateway's peer; it returns the commit status, or the error of any step.
func submit(c *client.Contract, w write) (*client.Status, error) {
	p, err := c.NewProposal(w.fn, w.options()...)
	if err != nil {
		return nil, err
	}
	tx, err := p.Endorse()
	if err != nil {
		return nil, err
	}
	commit, err := tx.Submit()
	if err != nil {
		return nil, err
	}
	return commit.Status()
}

// mustSubmit is submit that fails the test unless the transaction commits
// as valid; it returns the block it committed in.
func mustSubmit(t *testing.T, c *client.Contract, w write) uint64 {
	t.Helper()
	st, err := submit(c, w)
	if err != nil {
		t.Fatalf("%s %q: %v", w.fn, w.args, devnettest.ErrorText(err))
	}
	if !st.Successful {
		t.Fatalf("%s %q: transaction %s ended %s", w.fn, w.args, st.TransactionID, st.Code)
	}
	return st.BlockNumber
}

// query evaluates chaincode cc's fn on the peer called name, as User1 of
// organisation clientMSP, straight on the peer's endorser (no gateway
// choosing another peer).
func query(t *testing.T, name, clientMSP, cc, fn string, args ...string) ([]byte, error) {
	t.Helper()
	signer, err := network.Config().Signer(org(t, clientMSP), "User1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := [][]byte{[]byte(fn)}
	for _, a := range args {
		in = append(in, []byte(a))
	}
	inv := wclient.Invocation{Channel: devnet.ChannelID, Chaincode: cc, Args: in}
	return wclient.Query(ctx, signer, inv, pb.NewEndorserClient(devnettest.DialPeer(t, network, node(t, name))))
}

// waitValue waits until get coll key on the peer called name (as an Org1
// client) answers want.
func waitValue(t *testing.T, name, coll, key, want string) {
	t.Helper()
	start := time.Now()
	defer func() {
		if d := time.Since(start); d > 5*time.Second {
			t.Logf("%s of %s arrived on %s after %s", key, coll, name, d.Round(time.Millisecond))
		}
	}()
	err := eventually.Wait(waitTimeout, func(context.Context) error {
		got, err := query(t, name, "Org1MSP", pvtcc, "get", coll, key)
		if err != nil {
			return err
		}
		if string(got) != want {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s of %s on %s: %v", key, coll, name, err)
	}
}

// hashOf is what GetPrivateDataHash answers for value, in hex.
func hashOf(value string) string {
	h := sha256.Sum256([]byte(value))
	return hex.EncodeToString(h[:])
}

// waitHeight waits until the peer called name has committed block n.
func waitHeight(t *testing.T, name string, n uint64) {
	t.Helper()
	var last uint64
	err := eventually.Wait(waitTimeout, func(ctx context.Context) error {
		h, err := devnettest.Height(ctx, network, node(t, name))
		if err != nil {
			return err
		}
		last = h
		if h <= n {
			return fmt.Errorf("height %d", h)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s did not commit block %d: %v (height %d)", name, n, err, last)
	}
}

// wantError requires err to be an error whose text names every one of parts.
func wantError(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want an error naming %q", what, parts)
	}
	text := devnettest.ErrorText(err)
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Fatalf("%s: error %q does not name %q", what, text, p)
		}
	}
}
