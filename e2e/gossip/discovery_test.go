package gossip

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/msp"
)

// TestFourPeersShareMembershipAndDiscovery asks the service discovery of
// each of the four peers, as User1 of the peer's organisation, what the
// network is, and checks the answers against it: the channel's peers with
// their MSP IDs, endpoints, equal ledger heights (after a transaction) and
// chaincodes; the channel's MSPs and orderer endpoints; endorsers of basic
// (one peer of each organisation, from groups holding exactly each
// organisation's two peers). Identities outside the channel are refused, and
// the local peers query is for the peer's admins only.
func TestFourPeersShareMembershipAndDiscovery(t *testing.T) {
	t.Parallel()
	createAssets(t, contract(t, peer0Org1), "discovery", 1)
	want := height(t, node(t, peer0Org1))

	// What every answer must describe: the peers by organisation.
	wantPeers := map[string][]string{}
	for _, o := range network.PeerNodes {
		wantPeers[o.MSPID] = append(wantPeers[o.MSPID], "localhost:"+strconv.Itoa(o.Port))
	}
	for _, eps := range wantPeers {
		slices.Sort(eps)
	}

	for _, o := range network.PeerNodes {
		t.Run(o.Peer, func(t *testing.T) {
			d := discoveryAs(t, o.Peer, signer(t, o, "User1"))
			ctx, cancel := context.WithTimeout(context.Background(), gossipTimeout)
			defer cancel()

			// Heights reach the transaction's once every peer has committed
			// it and the state info has gone round; they are equal once no
			// block (of a test running alongside) is on its way.
			eventually.NoError(t, gossipTimeout, "the channel's peers as discovery on "+o.Peer+" gives them", func(ctx context.Context) error {
				peers, err := d.Peers(ctx, devnet.ChannelID)
				if err != nil {
					return err
				}
				if err := checkPeers(peers, wantPeers, want); err != nil {
					return err
				}
				for _, p := range peers {
					if p.LedgerHeight != peers[0].LedgerHeight {
						return fmt.Errorf("%s (%s) is at height %d, %s at %d", p.Endpoint, p.MSPID, p.LedgerHeight, peers[0].Endpoint, peers[0].LedgerHeight)
					}
				}
				return nil
			})

			cfg, err := d.Config(ctx, devnet.ChannelID)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"Org1MSP", "Org2MSP"} {
				if m, ok := cfg.Msps[id]; !ok || m.Name != id || len(m.RootCerts) == 0 {
					t.Errorf("config query: MSP %s = %v, want its configuration with root certificates", id, m)
				}
			}
			orderers := cfg.Orderers["OrdererMSP"].GetEndpoint()
			if len(orderers) != 1 || orderers[0].Host != "localhost" || int(orderers[0].Port) != network.Config().Ports.Orderer {
				t.Errorf("config query: orderers %v, want OrdererMSP at localhost:%d", cfg.Orderers, network.Config().Ports.Orderer)
			}

			checkEndorsers(ctx, t, d, wantPeers)
		})
	}

	t.Run("outside the channel", func(t *testing.T) {
		ordererAdmin, err := msp.LoadSigningIdentity(network.Config().OrdererAdminDir()+"/msp", "OrdererMSP")
		if err != nil {
			t.Fatal(err)
		}
		stranger := strangerOrg(t, "Org3MSP").identity(t, "User1@org3.example.com", "client")
		for _, id := range []*msp.SigningIdentity{ordererAdmin, stranger} {
			d := discoveryAs(t, peer1Org1, id)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := d.Peers(ctx, devnet.ChannelID); err == nil || !strings.Contains(err.Error(), "access denied") {
				t.Errorf("peers query as a member of %s: err = %v, want access denied", id.MSPID, err)
			}
			if _, err := d.Config(ctx, devnet.ChannelID); err == nil || !strings.Contains(err.Error(), "access denied") {
				t.Errorf("config query as a member of %s: err = %v, want access denied", id.MSPID, err)
			}
		}
	})

	t.Run("local peers", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		o := node(t, peer1Org2)
		_, err := discoveryAs(t, o.Peer, signer(t, o, "User1")).Peers(ctx, "")
		if err == nil || !strings.Contains(err.Error(), "access denied") {
			t.Errorf("local peers query as User1 of %s: err = %v, want access denied", o.MSPID, err)
		}
		d := discoveryAs(t, o.Peer, signer(t, o, "Admin"))
		eventually.NoError(t, gossipTimeout, "local peers query as Admin of "+o.MSPID, func(ctx context.Context) error {
			peers, err := d.Peers(ctx, "")
			if err != nil {
				return err
			}
			return checkPeers(peers, wantPeers, 0)
		})
	})
}

// checkPeers says how peers differ from want (endpoints by MSP ID), and
// which peer is not at height (unless it is 0, for the local peers query)
// or does not run basic and _lifecycle.
func checkPeers(peers []wclient.DiscoveredPeer, want map[string][]string, height uint64) error {
	got := map[string][]string{}
	for _, p := range peers {
		got[p.MSPID] = append(got[p.MSPID], p.Endpoint)
	}
	for _, eps := range got {
		slices.Sort(eps)
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		return fmt.Errorf("peers %v, want %v", got, want)
	}
	if height == 0 {
		return nil
	}
	for _, p := range peers {
		if p.LedgerHeight < height {
			return fmt.Errorf("%s (%s) at height %d, want at least %d", p.Endpoint, p.MSPID, p.LedgerHeight, height)
		}
		var names []string
		for _, cc := range p.Chaincodes {
			names = append(names, cc.Name)
		}
		if !slices.Contains(names, "_lifecycle") || !slices.Contains(names, devnet.ChaincodeName) {
			return fmt.Errorf("%s (%s) runs %v, want _lifecycle and %s", p.Endpoint, p.MSPID, p.Chaincodes, devnet.ChaincodeName)
		}
	}
	return nil
}

// checkEndorsers checks discovery's endorsers of basic: the channel's
// default policy (a majority of the two organisations) needs one peer of
// each, and each group holds exactly the two peers of one organisation.
func checkEndorsers(ctx context.Context, t *testing.T, d wclient.Discovery, wantPeers map[string][]string) {
	t.Helper()
	descs, err := d.Endorsers(ctx, devnet.ChannelID, &pb.ChaincodeInterest{Chaincodes: []*pb.ChaincodeCall{{Name: devnet.ChaincodeName}}})
	if err != nil {
		t.Fatal(err)
	}
	desc := descs[0]
	byOrg := map[string]string{} // MSP ID -> group
	for grp, ps := range desc.EndorsersByGroups {
		var eps []string
		for _, p := range ps {
			eps = append(eps, p.Endpoint)
			if p.MSPID != ps[0].MSPID {
				t.Errorf("group %s mixes %s and %s", grp, ps[0].MSPID, p.MSPID)
			}
		}
		slices.Sort(eps)
		if len(ps) == 0 || !slices.Equal(eps, wantPeers[ps[0].MSPID]) {
			t.Errorf("group %s holds %v, want the two peers of one organisation", grp, eps)
			continue
		}
		byOrg[ps[0].MSPID] = grp
	}
	if len(byOrg) != 2 || len(desc.EndorsersByGroups) != 2 {
		t.Fatalf("endorser groups %v, want one per organisation", desc.EndorsersByGroups)
	}
	want := map[string]uint32{byOrg["Org1MSP"]: 1, byOrg["Org2MSP"]: 1}
	if len(desc.Layouts) != 1 || !maps.Equal(desc.Layouts[0], want) {
		t.Errorf("layouts %v, want [%v]", desc.Layouts, want)
	}
}
