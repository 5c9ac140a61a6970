package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/msp"
)

func TestCheckOrgs(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 3, 4} {
		if err := CheckOrgs(n); err != nil {
			t.Errorf("CheckOrgs(%d) = %v", n, err)
		}
	}
	for _, n := range []int{-1, 0, 1, 5} {
		err := CheckOrgs(n)
		if err == nil || !strings.HasPrefix(err.Error(), strconv.Itoa(n)+" organisations: the development network runs 2") {
			t.Errorf("CheckOrgs(%d) = %v, want an error naming the count and 2, 3 or 4", n, err)
		}
	}
}

// TestOrgLayout pins the organisations on the default ports: Org1 and Org2
// as always, Org3 and Org4 two thousand ports further each, their peer1s one
// thousand above their peer0s; every combination fits beside every
// ordering service.
func TestOrgLayout(t *testing.T) {
	t.Parallel()
	org := func(k, port, cc, ops int) Org {
		name := "Org" + strconv.Itoa(k)
		d := "org" + strconv.Itoa(k) + ".example.com"
		return Org{Name: name, MSPID: name + "MSP", Domain: d, Peer: "peer0." + d, Port: port, ChaincodePort: cc, OpsPort: ops}
	}
	want := []Org{org(1, 7051, 7052, 9444), org(2, 9051, 9052, 9445), org(3, 11051, 11052, 9453), org(4, 13051, 13052, 9454)}
	for _, tt := range []struct{ asked, n int }{{0, 2}, {2, 2}, {3, 3}, {4, 4}} {
		cfg := Config{Ports: DefaultPorts(), Organizations: tt.asked}
		if got := cfg.Orgs(); !reflect.DeepEqual(got, want[:tt.n]) {
			t.Errorf("Organizations %d: Orgs() =\n%+v\nwant\n%+v", tt.asked, got, want[:tt.n])
		}
	}
	cfg := Config{Ports: DefaultPorts(), Organizations: 4, Peers: 2}
	var got []string
	for _, o := range cfg.PeerNodes() {
		got = append(got, o.Peer+"="+strconv.Itoa(o.Port)+"/"+strconv.Itoa(o.ChaincodePort)+"/"+strconv.Itoa(o.OpsPort))
	}
	if want := []string{
		"peer0.org1.example.com=7051/7052/9444", "peer1.org1.example.com=8051/8052/9451",
		"peer0.org2.example.com=9051/9052/9445", "peer1.org2.example.com=10051/10052/9452",
		"peer0.org3.example.com=11051/11052/9453", "peer1.org3.example.com=12051/12052/9455",
		"peer0.org4.example.com=13051/13052/9454", "peer1.org4.example.com=14051/14052/9456",
	}; !slices.Equal(got, want) {
		t.Errorf("PeerNodes() of 4 organisations, 2 peers =\n%v\nwant\n%v", got, want)
	}
	free, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	for _, ports := range []Ports{DefaultPorts(), free} {
		for _, orgs := range []int{2, 3, 4} {
			for _, peers := range []int{1, 2} {
				for _, orderers := range []int{1, 3, 5} {
					c := Config{Ports: ports, Organizations: orgs, Peers: peers, Orderers: orderers}
					if err := checkPorts(c); err != nil {
						t.Errorf("%d organisations, %d peers, %d orderers: %v", orgs, peers, orderers, err)
					}
				}
			}
		}
	}
	few := DefaultPorts()
	few.OtherOrgs = few.OtherOrgs[:1]
	if err := checkPorts(Config{Ports: few, Organizations: 3}); err != nil {
		t.Errorf("3 organisations need one OtherOrgs entry: %v", err)
	}
	err = checkPorts(Config{Ports: few, Organizations: 4})
	if err == nil || !strings.Contains(err.Error(), "no ports for peer0.org4.example.com: Ports.OtherOrgs") {
		t.Errorf("4 organisations with ports for 3: %v", err)
	}
}

// TestGenerateOrgs lays out networks of 3 and 4 organisations (no
// processes): each organisation has its crypto material and connection
// profile, is a member of the channel with its peer0 as anchor peer, and
// the channel keeps the test-network's policies, now a majority of 3 or 4;
// the folder's yaml files say what they are.
func TestGenerateOrgs(t *testing.T) {
	t.Parallel()
	free, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name                 string
		orgs, peers, ordrers int
		ports                Ports
	}{
		{"3 organisations on default ports", 3, 1, 1, DefaultPorts()},
		{"4 organisations, 2 peers, 3 orderers on free ports", 4, 2, 3, free},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Dir: t.TempDir(), Ports: tt.ports, Orderers: tt.ordrers, Peers: tt.peers, Organizations: tt.orgs}
			if err := generate(cfg); err != nil {
				t.Fatal(err)
			}
			orgs := cfg.Orgs()
			if len(orgs) != tt.orgs || len(cfg.PeerNodes()) != tt.orgs*tt.peers {
				t.Fatalf("%d organisations, %d peers", len(orgs), len(cfg.PeerNodes()))
			}
			for _, o := range cfg.PeerNodes() {
				if _, err := msp.LoadSigningIdentity(filepath.Join(cfg.PeerDir(o), "msp"), o.MSPID); err != nil {
					t.Errorf("%s MSP: %v", o.Peer, err)
				}
				cert := readCert(t, filepath.Join(cfg.PeerDir(o), "tls", "server.crt"))
				if !slices.Contains(cert.DNSNames, o.Peer) || !slices.Contains(cert.DNSNames, "localhost") {
					t.Errorf("%s TLS certificate DNS names %v lack its name or localhost", o.Peer, cert.DNSNames)
				}
			}
			b := genesisBundle(t, cfg)
			app := b.Application()
			if len(app.Orgs) != tt.orgs {
				t.Errorf("the channel has %d application organisations, want %d", len(app.Orgs), tt.orgs)
			}
			for _, o := range orgs {
				for _, user := range []string{"Admin", "User1"} {
					if _, err := cfg.Signer(o, user); err != nil {
						t.Errorf("%s of %s: %v", user, o.MSPID, err)
					}
				}
				oc, ok := app.Orgs[o.MSPID]
				if !ok {
					t.Errorf("%s is not a member of the channel", o.MSPID)
					continue
				}
				if want := []string{"localhost:" + strconv.Itoa(o.Port)}; !slices.Equal(oc.AnchorPeers, want) {
					t.Errorf("%s anchor peers = %v, want %v", o.MSPID, oc.AnchorPeers, want)
				}
				raw, err := os.ReadFile(filepath.Join(cfg.Path("organizations", "peerOrganizations", o.Domain), "connection-"+lower(o.Name)+".json"))
				if err != nil {
					t.Fatal(err)
				}
				var profile struct {
					Organizations map[string]struct {
						MSPID string   `json:"mspid"`
						Peers []string `json:"peers"`
					} `json:"organizations"`
				}
				if err := json.Unmarshal(raw, &profile); err != nil {
					t.Fatal(err)
				}
				if p := profile.Organizations[o.Name]; p.MSPID != o.MSPID || len(p.Peers) != tt.peers || p.Peers[0] != o.Peer {
					t.Errorf("%s connection profile = %+v", o.Name, profile.Organizations)
				}
				// Org3 and Org4 have Org2's organisation policies under their own name.
				g := b.Config().ChannelGroup.Groups["Application"].Groups[o.MSPID]
				if got := signaturePolicyOrgs(t, g.Policies["Endorsement"]); !slices.Equal(got, []string{o.MSPID}) {
					t.Errorf("%s Endorsement policy names %v", o.MSPID, got)
				}
				if got := signaturePolicyOrgs(t, g.Policies["Writers"]); !slices.Equal(got, []string{o.MSPID, o.MSPID}) {
					t.Errorf("%s Writers policy names %v", o.MSPID, got)
				}
			}
			appGroup := b.Config().ChannelGroup.Groups["Application"]
			for _, name := range []string{"Admins", "Endorsement", "LifecycleEndorsement"} {
				var imp cb.ImplicitMetaPolicy
				if err := proto.Unmarshal(appGroup.Policies[name].Policy.Value, &imp); err != nil {
					t.Fatal(err)
				}
				if imp.Rule != cb.ImplicitMetaPolicy_MAJORITY {
					t.Errorf("Application %s = %s %s, want MAJORITY (the test-network's)", name, imp.Rule, imp.SubPolicy)
				}
			}
			if tt.ordrers > 1 {
				checkClusterGenesis(t, cfg, cfg.OrdererNodes())
			}

			cryptoYAML, _ := os.ReadFile(cfg.Path("crypto-config.yaml"))
			configtx, _ := os.ReadFile(cfg.Path("configtx.yaml"))
			for _, raw := range [][]byte{cryptoYAML, configtx} {
				if !bytes.Contains(raw, []byte("# Written by `weft up --orgs "+strconv.Itoa(tt.orgs)+"`")) || bytes.Contains(raw, []byte("!!merge")) {
					t.Errorf("a yaml file lacks its header or has !!merge tags:\n%s", raw)
				}
			}
			ct, err := channelconfig.LoadConfigTx(cfg.Path("configtx.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var members []string
			for _, o := range ct.Profiles[Profile].Application.Organizations {
				members = append(members, o.ID+"@"+strconv.Itoa(o.AnchorPeers[0].Port))
			}
			want := []string{"Org1MSP@7051", "Org2MSP@9051", "Org3MSP@11051", "Org4MSP@13051"}[:tt.orgs]
			if !slices.Equal(members, want) {
				t.Errorf("configtx.yaml members (test-network ports) = %v, want %v", members, want)
			}

			if got := cfg.OrgsCreated(); got != 0 {
				t.Errorf("OrgsCreated before setup = %d, want 0", got)
			}
			if err := os.WriteFile(cfg.Path("channel-artifacts", "setup-done"), []byte("now"), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := cfg.OrgsCreated(); got != tt.orgs {
				t.Errorf("OrgsCreated = %d, want %d", got, tt.orgs)
			}
		})
	}
}

// signaturePolicyOrgs returns the MSP IDs a signature policy names, in order.
func signaturePolicyOrgs(t *testing.T, p *cb.ConfigPolicy) []string {
	t.Helper()
	var env cb.SignaturePolicyEnvelope
	if err := proto.Unmarshal(p.Policy.Value, &env); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, id := range env.Identities {
		var role mspproto.MSPRole
		if err := proto.Unmarshal(id.Principal, &role); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, role.MspIdentifier)
	}
	return ids
}

func TestDefinitionPolicy(t *testing.T) {
	t.Parallel()
	three := Config{Ports: DefaultPorts(), Organizations: 3}
	if p, err := definitionPolicy(three); err != nil || p != nil {
		t.Errorf("no policy: %x, %v; want nil (the channel's default)", p, err)
	}
	three.EndorsementPolicy = three.AllOrgsPolicy()
	if want := "AND('Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')"; three.EndorsementPolicy != want {
		t.Errorf("AllOrgsPolicy() of 3 organisations = %s, want %s", three.EndorsementPolicy, want)
	}
	raw, err := definitionPolicy(three)
	if err != nil {
		t.Fatal(err)
	}
	var ap pb.ApplicationPolicy
	if err := proto.Unmarshal(raw, &ap); err != nil {
		t.Fatal(err)
	}
	env := ap.GetSignaturePolicy()
	if env == nil || len(env.Identities) != 3 || len(env.Rule.GetNOutOf().GetRules()) != 3 || env.Rule.GetNOutOf().N != 3 {
		t.Errorf("policy = %v, want a signature policy of 3 out of 3", &ap)
	}
	two := Config{Ports: DefaultPorts(), EndorsementPolicy: three.EndorsementPolicy}
	_, err = definitionPolicy(two)
	if err == nil || !strings.Contains(err.Error(), "names Org3MSP, which is not an organisation of this network (Org1MSP, Org2MSP)") {
		t.Errorf("Org3MSP on 2 organisations: %v", err)
	}
	two.EndorsementPolicy = "AND('Org1MSP.peer'"
	if _, err := definitionPolicy(two); err == nil || !strings.Contains(err.Error(), `endorsement policy "AND('Org1MSP.peer'"`) {
		t.Errorf("bad syntax: %v", err)
	}
	// Refused by Up before the folder exists.
	two.Dir, two.BinDir = filepath.Join(t.TempDir(), "net"), t.TempDir()
	two.EndorsementPolicy = three.EndorsementPolicy
	if _, err := Up(context.Background(), two); err == nil || !strings.Contains(err.Error(), "names Org3MSP") {
		t.Errorf("Up with Org3MSP in the policy of 2 organisations = %v", err)
	}
	if exists(two.Dir) {
		t.Error("the refused Up created the folder")
	}
}

// TestRestartKeepsOrgs: a network remembers how many organisations it was
// created with and basic's endorsement policy; another number or another
// policy is refused before anything starts, saying how to go on.
func TestRestartKeepsOrgs(t *testing.T) {
	t.Parallel()
	policy := "AND('Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')"
	cfg := Config{Dir: t.TempDir(), BinDir: t.TempDir(), Ports: DefaultPorts(), Orderers: 1, Organizations: 3, EndorsementPolicy: policy}
	if err := generate(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.policyRecord(), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Path("channel-artifacts", "setup-done"), []byte("now"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, asked := range []int{0, 3} {
		c := cfg
		c.Organizations = asked
		if n, err := resolveOrgs(c, false); err != nil || n != 3 {
			t.Errorf("created with 3, asked %d: resolveOrgs = %d, %v", asked, n, err)
		}
	}
	for _, c := range []Config{cfg, func() Config { c := cfg; c.EndorsementPolicy = ""; return c }()} {
		if err := checkPolicy(c); err != nil {
			t.Errorf("policy %q on a network created with it: %v", c.EndorsementPolicy, err)
		}
	}
	for _, tt := range []struct {
		orgs   int
		policy string
		want   string
	}{
		{2, "", "was created with 3 organisations, not 2; run weft up with --orgs 3"},
		{4, "", "was created with 3 organisations, not 4"},
		{3, "OR('Org1MSP.peer')", `is defined with the endorsement policy ` + policy + `, not "OR('Org1MSP.peer')"`},
	} {
		c := cfg
		c.Organizations, c.EndorsementPolicy = tt.orgs, tt.policy
		if _, err := Up(context.Background(), c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Up with %d organisations, policy %q = %v, want %q", tt.orgs, tt.policy, err, tt.want)
		}
	}
	if !exists(cfg.GenesisPath()) {
		t.Error("a refused Up removed the network")
	}
	// A network created before basic's policy was recorded has the channel's default.
	if err := os.Remove(cfg.policyRecord()); err != nil {
		t.Fatal(err)
	}
	if err := checkPolicy(cfg); err == nil || !strings.Contains(err.Error(), "the channel's default") {
		t.Errorf("policy on a network with the default: %v", err)
	}
	if n, err := resolveOrgs(Config{Dir: t.TempDir()}, true); err != nil || n != 2 {
		t.Errorf("fresh network: %d, %v; want 2", n, err)
	}
}
