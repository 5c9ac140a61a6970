package devnet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/msp"
)

// PeerEndpoint returns how a client reaches a peer (o.Peer; Orgs gives
// each organisation's peer0, PeerNodes every peer).
func (c Config) PeerEndpoint(o Org) client.Endpoint {
	return client.Endpoint{
		Address:      peerAddress(o),
		TLS:          true,
		RootCertFile: filepath.Join(c.PeerDir(o), "tls", "ca.crt"),
	}
}

// OrdererEndpoint returns how a client reaches orderer.example.com.
func (c Config) OrdererEndpoint() client.Endpoint {
	return c.OrdererNodeEndpoint(c.OrdererNodes()[0])
}

// OrdererNodeEndpoint returns how a client reaches one orderer.
func (c Config) OrdererNodeEndpoint(o OrdererNode) client.Endpoint {
	return client.Endpoint{
		Address:      "localhost:" + strconv.Itoa(o.Listen),
		TLS:          true,
		RootCertFile: filepath.Join(c.OrdererNodeDir(o), "tls", "ca.crt"),
	}
}

// OrdererAdmin returns the participation API (osnadmin) client of one
// orderer, authenticated as the orderer organisation's Admin.
func (c Config) OrdererAdmin(o OrdererNode) client.OSNAdmin {
	return client.OSNAdmin{Endpoint: client.Endpoint{
		Address:        "127.0.0.1:" + strconv.Itoa(o.Admin),
		TLS:            true,
		RootCertFile:   filepath.Join(c.OrdererNodeDir(o), "tls", "ca.crt"),
		ClientCertFile: filepath.Join(c.OrdererAdminDir(), "tls", "client.crt"),
		ClientKeyFile:  filepath.Join(c.OrdererAdminDir(), "tls", "client.key"),
	}}
}

// Signer loads the signing identity of user (Admin or User1) of an organisation.
func (c Config) Signer(o Org, user string) (*msp.SigningIdentity, error) {
	return msp.LoadSigningIdentity(filepath.Join(c.UserDir(o, user), "msp"), o.MSPID)
}

// conns holds one client connection per node for the setup steps.
type conns struct {
	peers   map[string]*grpc.ClientConn // by peer name (peer0.org1.example.com, ...)
	orderer *grpc.ClientConn
}

func (n *Network) dialAll() (*conns, error) {
	c := &conns{peers: map[string]*grpc.ClientConn{}}
	var err error
	if c.orderer, err = client.Dial(n.cfg.OrdererEndpoint()); err != nil {
		return nil, err
	}
	for _, o := range n.PeerNodes {
		if c.peers[o.Peer], err = client.Dial(n.cfg.PeerEndpoint(o)); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// peer0 returns the connection to peer0 of the organisation mspID.
func (n *Network) peer0(c *conns, mspID string) *grpc.ClientConn {
	for _, o := range n.Orgs {
		if o.MSPID == mspID {
			return c.peers[o.Peer]
		}
	}
	return nil
}

func (c *conns) close() {
	for _, p := range c.peers {
		p.Close()
	}
	if c.orderer != nil {
		c.orderer.Close()
	}
}

// setup joins the orderers and every peer to the channel and deploys basic
// through _lifecycle, then runs InitLedger: what a Fabric admin does by hand.
// Every organisation approves, and the commit and InitLedger are endorsed by
// every organisation, which satisfies the channel's default policy and any
// Config.EndorsementPolicy over the network's organisations.
// The package is installed on every peer, but each organisation's approval
// is endorsed by its peer0 only, as an admin of a real network does: its
// other peers learn of it from the block (the hashes in the organisation's
// implicit collection) and, with gossip, its private data.
func (n *Network) setup(ctx context.Context) error {
	cfg := n.cfg
	block, err := os.ReadFile(cfg.GenesisPath())
	if err != nil {
		return err
	}
	// As Fabric's samples do: the genesis block is joined to every orderer
	// through its participation API; the consenters then elect a leader.
	for _, o := range cfg.OrdererNodes() {
		cfg.logf("joining %s to %s", o.Name, ChannelID)
		if _, err := cfg.OrdererAdmin(o).Join(ctx, block); err != nil {
			return fmt.Errorf("join %s: %w", o.Name, err)
		}
	}

	c, err := n.dialAll()
	if err != nil {
		return err
	}
	defer c.close()

	pkg, err := os.ReadFile(cfg.Path("chaincode", "basic.tar.gz"))
	if err != nil {
		return err
	}
	for _, o := range n.PeerNodes {
		admin, err := cfg.Signer(o, "Admin")
		if err != nil {
			return err
		}
		endorser := pb.NewEndorserClient(c.peers[o.Peer])
		cfg.logf("joining %s to %s", o.Peer, ChannelID)
		if _, err := client.Query(ctx, admin, client.Invocation{Chaincode: client.CSCCName, Args: [][]byte{[]byte("JoinChain"), block}}, endorser); err != nil {
			return fmt.Errorf("join %s: %w", o.Peer, err)
		}
		cfg.logf("installing %s on %s", ChaincodeLabel, o.Peer)
		out, err := client.Query(ctx, admin, client.Invocation{Chaincode: client.LifecycleName, Args: client.InstallArgs(pkg)}, endorser)
		if err != nil {
			return fmt.Errorf("install on %s: %w", o.Peer, err)
		}
		res, err := client.InstallResult(out)
		if err != nil {
			return err
		}
		if res.PackageId != n.PackageID {
			return fmt.Errorf("%s computed package id %s, expected %s", o.Peer, res.PackageId, n.PackageID)
		}
	}

	policy, err := definitionPolicy(cfg)
	if err != nil {
		return err
	}
	if cfg.EndorsementPolicy != "" {
		cfg.logf("%s's endorsement policy: %s", ChaincodeName, cfg.EndorsementPolicy)
	}
	if err := os.WriteFile(cfg.policyRecord(), []byte(cfg.EndorsementPolicy), 0o644); err != nil {
		return err
	}
	def := client.Definition{Name: ChaincodeName, Version: "1.0", Sequence: 1, PackageID: n.PackageID, EndorsementPolicy: policy}
	for _, o := range n.Orgs {
		admin, err := cfg.Signer(o, "Admin")
		if err != nil {
			return err
		}
		cfg.logf("approving %s for %s", ChaincodeName, o.MSPID)
		inv := client.Invocation{Channel: ChannelID, Chaincode: client.LifecycleName, Args: client.ApproveArgs(def)}
		if err := n.invokeEverywhere(ctx, c, admin, inv, []string{o.MSPID}); err != nil {
			return fmt.Errorf("approve for %s: %w", o.MSPID, err)
		}
	}
	admin, err := cfg.Signer(n.Orgs[0], "Admin")
	if err != nil {
		return err
	}
	cfg.logf("committing %s on %s", ChaincodeName, ChannelID)
	inv := client.Invocation{Channel: ChannelID, Chaincode: client.LifecycleName, Args: client.CommitArgs(def)}
	if err := n.invokeEverywhere(ctx, c, admin, inv, n.orgIDs()); err != nil {
		return fmt.Errorf("commit definition: %w", err)
	}
	user, err := cfg.Signer(n.Orgs[0], "User1")
	if err != nil {
		return err
	}
	cfg.logf("running %s InitLedger", ChaincodeName)
	inv = client.Invocation{Channel: ChannelID, Chaincode: ChaincodeName, Args: [][]byte{[]byte("InitLedger")}}
	return n.invokeEverywhere(ctx, c, user, inv, n.orgIDs())
}

func (n *Network) orgIDs() []string {
	var ids []string
	for _, o := range n.Orgs {
		ids = append(ids, o.MSPID)
	}
	return ids
}

// invokeEverywhere endorses on peer0 of each organisation of endorsers (MSP
// IDs), orders the transaction and waits until every peer of the network has
// committed it as valid.
func (n *Network) invokeEverywhere(ctx context.Context, c *conns, signer *msp.SigningIdentity, inv client.Invocation, endorsers []string) error {
	var watchers []*client.CommitWatcher
	defer func() {
		for _, w := range watchers {
			w.Close()
		}
	}()
	for _, o := range n.PeerNodes {
		w, err := client.WatchCommits(ctx, c.peers[o.Peer], signer, ChannelID, client.SeekNewest())
		if err != nil {
			return err
		}
		watchers = append(watchers, w)
	}
	eps := map[string]pb.EndorserClient{}
	for _, id := range endorsers {
		eps[id] = pb.NewEndorserClient(n.peer0(c, id))
	}
	res, err := client.Invoke(ctx, signer, inv, eps, c.orderer, watchers[0])
	for tries := 0; err != nil && strings.Contains(err.Error(), cb.Status_SERVICE_UNAVAILABLE.String()); tries++ {
		// A Raft cluster that has just been joined has no leader for an
		// election timeout or two; the orderer refuses until it has one.
		if tries == 0 {
			n.cfg.logf("ordering service not ready yet (%v); retrying until it has a Raft leader", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the ordering service did not take the transaction (%w); see the orderer logs in %s (last answer: %v)",
				ctx.Err(), n.cfg.Path("logs"), err)
		case <-time.After(250 * time.Millisecond):
		}
		res, err = client.Invoke(ctx, signer, inv, eps, c.orderer, watchers[0])
	}
	if err != nil {
		return err
	}
	for i, w := range watchers[1:] {
		st, err := w.Wait(res.TxID)
		if err != nil {
			return err
		}
		if st.Code != pb.TxValidationCode_VALID {
			return fmt.Errorf("transaction %s ended %s on %s", res.TxID, st.Code, n.PeerNodes[i+1].Peer)
		}
	}
	return nil
}
