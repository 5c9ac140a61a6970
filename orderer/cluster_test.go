package orderer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/orderer/broadcast"
	"github.com/weft-ledger/weft/orderer/participation"
	"github.com/weft-ledger/weft/orderer/raftchain"
	"github.com/weft-ledger/weft/protos"
)

// raftNet is an ordering cluster run in-process: four orderers' crypto
// material, a genesis block naming the first three as consenters.
type raftNet struct {
	dir     string
	orgs    string
	ports   []int
	genesis *cb.Block
	roots   *x509.CertPool
	nodes   []*Node // by index; nil when not running
	user    *msp.SigningIdentity
	admin   *msp.SigningIdentity // OrdererMSP admin
}

const raftNodes = 4

func ordererHost(i int) string {
	if i == 0 {
		return "orderer"
	}
	return fmt.Sprintf("orderer%d", i+1)
}

func newRaftNet(t *testing.T) *raftNet {
	t.Helper()
	dir := t.TempDir()
	n := &raftNet{dir: dir, orgs: filepath.Join(dir, "organizations"), nodes: make([]*Node, raftNodes)}
	var specs strings.Builder
	for i := range raftNodes {
		fmt.Fprintf(&specs, "      - Hostname: %s\n        SANS: [localhost, 127.0.0.1]\n", ordererHost(i))
	}
	crypto := "OrdererOrgs:\n  - Name: Orderer\n    Domain: example.com\n    EnableNodeOUs: true\n    Specs:\n" + specs.String() +
		"PeerOrgs:\n  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: true\n    Template: {Count: 1}\n    Users: {Count: 1}\n"
	write(t, filepath.Join(dir, "crypto-config.yaml"), crypto)
	cc, err := msp.LoadCryptoConfig(filepath.Join(dir, "crypto-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := msp.GenerateCrypto(cc, n.orgs); err != nil {
		t.Fatal(err)
	}
	for range raftNodes {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n.ports = append(n.ports, l.Addr().(*net.TCPAddr).Port)
		defer l.Close()
	}
	var consenters strings.Builder
	for i := range 3 {
		crt := n.tlsDir(i) + "/server.crt"
		fmt.Fprintf(&consenters, "          - {Host: 127.0.0.1, Port: %d, ClientTLSCert: %s, ServerTLSCert: %s}\n", n.ports[i], crt, crt)
	}
	configtx := `Organizations:
  - &OrdererOrg
    Name: OrdererOrg
    ID: OrdererMSP
    MSPDir: organizations/ordererOrganizations/example.com/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Writers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Admins: {Type: Signature, Rule: "OR('OrdererMSP.admin')"}
    OrdererEndpoints: [127.0.0.1:` + fmt.Sprint(n.ports[0]) + `]
  - &Org1
    Name: Org1MSP
    ID: Org1MSP
    MSPDir: organizations/peerOrganizations/org1.example.com/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('Org1MSP.member')"}
      Writers: {Type: Signature, Rule: "OR('Org1MSP.member')"}
      Admins: {Type: Signature, Rule: "OR('Org1MSP.admin')"}
      Endorsement: {Type: Signature, Rule: "OR('Org1MSP.peer')"}
Profiles:
  Cluster:
    Policies:
      Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
      Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
      Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
    Capabilities: {V2_0: true}
    Orderer:
      OrdererType: etcdraft
      BatchTimeout: 100ms
      BatchSize: {MaxMessageCount: 10, AbsoluteMaxBytes: 10 MB, PreferredMaxBytes: 2 MB}
      EtcdRaft:
        Consenters:
` + consenters.String() + `        Options: {TickInterval: 50ms, ElectionTick: 10, HeartbeatTick: 1, MaxInflightBlocks: 5, SnapshotIntervalSize: 16 MB}
      Organizations: [*OrdererOrg]
      Capabilities: {V2_0: true}
      Policies:
        Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
        Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
        Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
        BlockValidation: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Application:
      Organizations: [*Org1]
      Capabilities: {V2_5: true}
      Policies:
        Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
        Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
        Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
        LifecycleEndorsement: {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
        Endorsement: {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
`
	write(t, filepath.Join(dir, "configtx.yaml"), configtx)
	ctx, err := channelconfig.LoadConfigTx(filepath.Join(dir, "configtx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n.genesis, err = channelconfig.GenesisBlock(ctx, "Cluster", "mychannel"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(n.tlsDir(0), "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	n.roots = x509.NewCertPool()
	n.roots.AppendCertsFromPEM(raw)
	if n.user, err = msp.LoadSigningIdentity(filepath.Join(n.orgs, "peerOrganizations", "org1.example.com", "users", "User1@org1.example.com", "msp"), "Org1MSP"); err != nil {
		t.Fatal(err)
	}
	if n.admin, err = msp.LoadSigningIdentity(filepath.Join(n.orgs, "ordererOrganizations", "example.com", "users", "Admin@example.com", "msp"), "OrdererMSP"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, node := range n.nodes {
			if node != nil {
				node.Stop()
			}
		}
	})
	return n
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (n *raftNet) nodeDir(i int) string {
	return filepath.Join(n.orgs, "ordererOrganizations", "example.com", "orderers", ordererHost(i)+".example.com")
}
func (n *raftNet) tlsDir(i int) string { return filepath.Join(n.nodeDir(i), "tls") }

func (n *raftNet) start(t *testing.T, i int) *Node {
	t.Helper()
	tlsDir := n.tlsDir(i)
	var cfg Config
	cfg.General.ListenAddress = "127.0.0.1"
	cfg.General.ListenPort = n.ports[i]
	cfg.General.TLS = TLSConfig{Enabled: true,
		Certificate: filepath.Join(tlsDir, "server.crt"), PrivateKey: filepath.Join(tlsDir, "server.key"),
		RootCAs: []string{filepath.Join(tlsDir, "ca.crt")}}
	cfg.General.Cluster.RootCAs = []string{filepath.Join(tlsDir, "ca.crt")}
	cfg.General.LocalMSPDir = filepath.Join(n.nodeDir(i), "msp")
	cfg.General.LocalMSPID = "OrdererMSP"
	cfg.FileLedger.Location = filepath.Join(n.dir, "ledger", ordererHost(i))
	cfg.Admin.ListenAddress = "127.0.0.1:0"
	cfg.Admin.TLS = cfg.General.TLS
	cfg.Admin.TLS.ClientAuthRequired = true
	cfg.Admin.TLS.ClientRootCAs = []string{filepath.Join(tlsDir, "ca.crt")}
	cfg.ChannelParticipation.Enabled = true
	cfg.Operations.ListenAddress = "127.0.0.1:0"
	signer, err := msp.LoadSigningIdentity(cfg.General.LocalMSPDir, "OrdererMSP")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("WEFT_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", i+1)
	}
	node, err := New(cfg, signer, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	node.Start()
	n.nodes[i] = node
	return node
}

func (n *raftNet) stop(i int) {
	n.nodes[i].Stop()
	n.nodes[i] = nil
}

func (n *raftNet) adminClient(t *testing.T) *http.Client {
	dir := filepath.Join(n.orgs, "ordererOrganizations", "example.com", "users", "Admin@example.com", "tls")
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: n.roots, Certificates: []tls.Certificate{pair}}}}
}

func (n *raftNet) join(t *testing.T, i int, block *cb.Block) participation.ChannelInfo {
	t.Helper()
	code, body := join(t, n.adminClient(t), n.nodes[i].AdminAddr(), block)
	if code != http.StatusCreated {
		t.Fatalf("join orderer %d with block %d: %d %s", i+1, block.Header.Number, code, body)
	}
	var info participation.ChannelInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

func (n *raftNet) broadcast(t *testing.T, i int, env *cb.Envelope) *ab.BroadcastResponse {
	t.Helper()
	conn, err := grpc.NewClient(n.nodes[i].Addr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: n.roots})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return send(t, ab.NewAtomicBroadcastClient(conn), env)[0]
}

// order broadcasts env to orderer i until it is accepted (a new leader may
// still be coming up), within 20 s.
func (n *raftNet) order(t *testing.T, i int, env *cb.Envelope) {
	t.Helper()
	eventually.NoError(t, 20*time.Second, fmt.Sprintf("broadcast to orderer %d", i+1), func(context.Context) error {
		r := n.broadcast(t, i, env)
		switch r.Status {
		case cb.Status_SUCCESS:
			return nil
		case cb.Status_SERVICE_UNAVAILABLE:
			return fmt.Errorf("%v %s", r.Status, r.Info)
		}
		t.Fatalf("broadcast to orderer %d: %v %s", i+1, r.Status, r.Info)
		return nil
	})
}

func (n *raftNet) ch(t *testing.T, i int) *channel {
	t.Helper()
	c, ok := n.nodes[i].Registrar().channel("mychannel")
	if !ok {
		t.Fatalf("orderer %d does not serve mychannel", i+1)
	}
	return c
}

// leader waits until the running consenters among idx agree on a leader
// and returns its index.
func (n *raftNet) leader(t *testing.T, idx ...int) int {
	t.Helper()
	lead := -1
	eventually.True(t, 20*time.Second, fmt.Sprintf("orderers %v agree on a Raft leader among them", idx), func() bool {
		var ids []uint64
		for _, i := range idx {
			ids = append(ids, n.ch(t, i).chain.Leader())
		}
		agreed := ids[0] != 0
		for _, id := range ids {
			agreed = agreed && id == ids[0]
		}
		if agreed {
			for _, i := range idx {
				if n.ch(t, i).nodeID == ids[0] {
					lead = i
					return true
				}
			}
		}
		return false
	})
	return lead
}

// waitHeight waits until orderer i's channel holds h blocks.
func (n *raftNet) waitHeight(t *testing.T, i int, h uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := n.ch(t, i)
	if err := c.store.WaitHeight(ctx, h); err != nil {
		t.Fatalf("orderer %d: height %d, want %d: %v", i+1, c.store.Height(), h, err)
	}
}

// sameChains checks that the orderers hold identical blocks up to height h.
func (n *raftNet) sameChains(t *testing.T, h uint64, idx ...int) {
	t.Helper()
	for _, i := range idx {
		n.waitHeight(t, i, h)
	}
	for b := uint64(0); b < h; b++ {
		var want []byte
		for _, i := range idx {
			blk, err := n.ch(t, i).store.Block(b)
			if err != nil {
				t.Fatal(err)
			}
			got := protos.BlockHeaderHash(blk.Header)
			if want == nil {
				want = got
			} else if !bytes.Equal(got, want) {
				t.Fatalf("block %d differs between orderers %v", b, idx)
			}
			if err := channelconfig.VerifyBlock(blk, nil, n.ch(t, i).bundle.Load()); b > 0 && err != nil {
				t.Fatalf("orderer %d block %d: %v", i+1, b, err)
			}
		}
	}
}

// waitTxs waits (20 s at most) until orderer i's blocks hold want transactions.
func (n *raftNet) waitTxs(t *testing.T, i, want int) {
	t.Helper()
	eventually.NoError(t, 20*time.Second, fmt.Sprintf("orderer %d's transactions", i+1), func(context.Context) error {
		got := txCount(t, n, i)
		if got > want {
			t.Fatalf("orderer %d holds %d transactions, want %d", i+1, got, want)
		}
		if got < want {
			return fmt.Errorf("orderer %d holds %d transactions, want %d", i+1, got, want)
		}
		return nil
	})
}

func txCount(t *testing.T, n *raftNet, i int) int {
	c := n.ch(t, i)
	count := 0
	for b := uint64(1); b < c.store.Height(); b++ {
		blk, err := c.store.Block(b)
		if err != nil {
			t.Fatal(err)
		}
		if !isConfigBlock(blk) {
			count += len(blk.Data.Data)
		}
	}
	return count
}

// consenterUpdate is a CONFIG_UPDATE that sets the channel's consenters,
// signed by the orderer organization's admin.
func (n *raftNet) consenterUpdate(t *testing.T, bundle *channelconfig.Bundle, edit func([]*etcdraft.Consenter) []*etcdraft.Consenter) *cb.Envelope {
	t.Helper()
	orig := bundle.Config()
	updated := proto.Clone(orig).(*cb.Config)
	v := updated.ChannelGroup.Groups["Orderer"].Values["ConsensusType"]
	ct := &ab.ConsensusType{}
	md := &etcdraft.ConfigMetadata{}
	if err := proto.Unmarshal(v.Value, ct); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(ct.Metadata, md); err != nil {
		t.Fatal(err)
	}
	md.Consenters = edit(md.Consenters)
	ct.Metadata = protos.Marshal(md)
	v.Value = protos.Marshal(ct)
	update, err := client.ComputeUpdate("mychannel", orig, updated)
	if err != nil {
		t.Fatal(err)
	}
	env, err := client.NewConfigUpdateTx("mychannel", update, n.admin)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func (n *raftNet) consenter(t *testing.T, i int) *etcdraft.Consenter {
	raw, err := os.ReadFile(filepath.Join(n.tlsDir(i), "server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return &etcdraft.Consenter{Host: "127.0.0.1", Port: uint32(n.ports[i]), ClientTlsCert: raw, ServerTlsCert: raw}
}

func (n *raftNet) startCluster(t *testing.T) {
	for i := range 3 {
		n.start(t, i)
		if info := n.join(t, i, n.genesis); info.Status != participation.StatusActive || info.ConsensusRelation != participation.RelationConsenter {
			t.Fatalf("orderer %d joined: %+v", i+1, info)
		}
	}
}

func TestClusterOrdersOnAllNodesAndFailsOver(t *testing.T) {
	n := newRaftNet(t)
	n.startCluster(t)
	lead := n.leader(t, 0, 1, 2)
	follower := (lead + 1) % 3

	for k := range 5 {
		n.order(t, follower, tx(t, n.user, "mychannel", fmt.Sprintf("tx-%d", k)))
	}
	n.waitTxs(t, lead, 5)
	h := n.ch(t, lead).store.Height()
	n.sameChains(t, h, 0, 1, 2)
	for i := range 3 {
		n.waitTxs(t, i, 5)
	}

	// The leader stops: the other two elect a new one and keep ordering.
	n.stop(lead)
	rest := []int{(lead + 1) % 3, (lead + 2) % 3}
	newLead := n.leader(t, rest...)
	if newLead == lead {
		t.Fatal("the stopped orderer is still the leader")
	}
	for k := range 3 {
		n.order(t, rest[k%2], tx(t, n.user, "mychannel", fmt.Sprintf("after-%d", k)))
	}
	n.waitTxs(t, newLead, 8)
	h2 := n.ch(t, newLead).store.Height()
	n.sameChains(t, h2, rest...)
	for _, i := range rest {
		n.waitTxs(t, i, 8)
	}

	// With one of three down, removing a live consenter would lose quorum.
	other := rest[0]
	if other == newLead {
		other = rest[1]
	}
	removeLive := n.consenterUpdate(t, n.ch(t, newLead).bundle.Load(), func(cs []*etcdraft.Consenter) []*etcdraft.Consenter {
		var out []*etcdraft.Consenter
		for _, c := range cs {
			if c.Port != uint32(n.ports[other]) {
				out = append(out, c)
			}
		}
		return out
	})
	r := n.broadcast(t, newLead, removeLive)
	if r.Status != cb.Status_BAD_REQUEST || !strings.Contains(r.Info, fmt.Sprint(n.ports[other])) || !strings.Contains(r.Info, "quorum") {
		t.Fatalf("removing a live consenter with one down: %v %q", r.Status, r.Info)
	}
}

func TestClusterMembershipAddJoinRemove(t *testing.T) {
	n := newRaftNet(t)
	n.startCluster(t)
	lead := n.leader(t, 0, 1, 2)
	n.order(t, lead, tx(t, n.user, "mychannel", "before"))

	// Add orderer 4 through a config update sent to a follower.
	follower := (lead + 1) % 3
	add := n.consenterUpdate(t, n.ch(t, follower).bundle.Load(), func(cs []*etcdraft.Consenter) []*etcdraft.Consenter {
		return append(cs, n.consenter(t, 3))
	})
	n.order(t, follower, add)
	var cfgNum uint64
	eventually.True(t, 20*time.Second, "a config block adding orderer 4", func() bool {
		b := n.ch(t, lead).bundle.Load()
		if len(b.Orderer().Consenters) == 4 {
			last, _ := n.ch(t, lead).store.Block(n.ch(t, lead).store.Height() - 1)
			cfgNum, _ = raftBlockMetadata(last)
		}
		return cfgNum != 0
	})
	joinBlock, err := n.ch(t, lead).store.Block(cfgNum)
	if err != nil {
		t.Fatal(err)
	}

	// Orderer 4 joins with that config block: it pulls blocks 0..cfgNum and starts its chain.
	n.start(t, 3)
	info := n.join(t, 3, joinBlock)
	if info.ConsensusRelation != participation.RelationConsenter || (info.Status != participation.StatusOnboarding && info.Status != participation.StatusActive) {
		t.Fatalf("join of orderer 4: %+v", info)
	}
	waitInfo(t, n.nodes[3], participation.RelationConsenter, participation.StatusActive)
	n.order(t, 3, tx(t, n.user, "mychannel", "via orderer 4"))
	n.order(t, lead, tx(t, n.user, "mychannel", "via leader"))
	n.waitTxs(t, lead, 3)
	h := n.ch(t, lead).store.Height()
	n.sameChains(t, h, 0, 1, 2, 3)
	n.waitTxs(t, 3, 3)
	if ids := n.ch(t, lead).chain.Status().Voters; len(ids) != 4 {
		t.Fatalf("raft voters after adding orderer 4: %v", ids)
	}

	// Remove a consenter that is not the leader: it reports itself inactive.
	lead = n.leader(t, 0, 1, 2, 3)
	gone := (lead + 1) % 4
	remove := n.consenterUpdate(t, n.ch(t, lead).bundle.Load(), func(cs []*etcdraft.Consenter) []*etcdraft.Consenter {
		var out []*etcdraft.Consenter
		for _, c := range cs {
			if c.Port != uint32(n.ports[gone]) {
				out = append(out, c)
			}
		}
		return out
	})
	n.order(t, lead, remove)
	waitInfo(t, n.nodes[gone], participation.RelationConfigTracker, participation.StatusInactive)
	if r := n.broadcast(t, gone, tx(t, n.user, "mychannel", "to the removed one")); r.Status != cb.Status_SERVICE_UNAVAILABLE || !strings.Contains(r.Info, "inactive") {
		t.Fatalf("broadcast to the removed orderer: %v %q", r.Status, r.Info)
	}
	var left []int
	for i := range 4 {
		if i != gone {
			left = append(left, i)
		}
	}
	n.order(t, left[0], tx(t, n.user, "mychannel", "after removal"))
	n.waitTxs(t, lead, 4)
	h = n.ch(t, lead).store.Height()
	n.sameChains(t, h, left...)
}

func raftBlockMetadata(b *cb.Block) (lastConfig uint64, err error) {
	md := b.GetMetadata().GetMetadata()[cb.BlockMetadataIndex_SIGNATURES]
	m := &cb.Metadata{}
	if err := proto.Unmarshal(md, m); err != nil {
		return 0, err
	}
	obm := &cb.OrdererBlockMetadata{}
	if err := proto.Unmarshal(m.Value, obm); err != nil {
		return 0, err
	}
	return obm.GetLastConfig().GetIndex(), nil
}

// waitInfo waits (20 s at most) until the node reports mychannel with this relation and status.
func waitInfo(t *testing.T, node *Node, relation, status string) {
	t.Helper()
	eventually.NoError(t, 20*time.Second, "channel info of mychannel", func(context.Context) error {
		info, err := node.Registrar().ChannelInfo("mychannel")
		if err == nil && info.ConsensusRelation == relation && info.Status == status {
			return nil
		}
		return fmt.Errorf("channel info: %+v %v, want %s/%s", info, err, relation, status)
	})
}

func TestChainErrorsMapToBroadcastStatuses(t *testing.T) {
	c := &channel{name: "mychannel"}
	for _, tc := range []struct {
		err  error
		want error
		text string
	}{
		{raftchain.ErrNoLeader, broadcast.ErrUnavailable, "no Raft leader"},
		{fmt.Errorf("wrapped: %w", raftchain.ErrSubmitTimeout), broadcast.ErrUnavailable, "broadcast to another orderer"},
		{raftchain.ErrNotLeader, broadcast.ErrUnavailable, "not the Raft leader"},
		{fmt.Errorf("%w: %w", raftchain.ErrHalted, raftchain.ErrEvicted), broadcast.ErrUnavailable, "channel mychannel is inactive on this orderer"},
		{raftchain.ErrMessageTooLarge, broadcast.ErrTooLarge, ""},
		{fmt.Errorf("%w: it makes config sequence 3", raftchain.ErrStaleConfig), broadcast.ErrRefused, "compute the update again"},
	} {
		got := c.chainErr(tc.err)
		if !errors.Is(got, tc.want) || !strings.Contains(got.Error(), tc.text) {
			t.Errorf("chainErr(%v) = %v, want %v mentioning %q", tc.err, got, tc.want, tc.text)
		}
	}
}
