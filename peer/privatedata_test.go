package peer

import (
	"fmt"
	"testing"

	gchannel "github.com/weft-ledger/weft/gossip/channel"
	"github.com/weft-ledger/weft/peer/lifecycle"
)

func channelPeers(perOrg map[string]int) []gchannel.PeerState {
	var out []gchannel.PeerState
	for org, n := range perOrg {
		for i := range n {
			out = append(out, gchannel.PeerState{MSPID: org, Endpoint: fmt.Sprintf("peer%d.%s:7051", i, org), PKIID: []byte(org + fmt.Sprint(i))})
		}
	}
	return out
}

// Fabric's dissemination plan: at most maximumPeerCount member peers, one
// of each member organisation before a second of any; never a non-member.
func TestDisseminationTargets(t *testing.T) {
	t.Parallel()
	peers := channelPeers(map[string]int{"Org1MSP": 3, "Org2MSP": 2, "Org3MSP": 2})
	tests := []struct {
		name     string
		members  []string
		max      int
		wantOrgs map[string]int
	}{
		{"one of each member org first", []string{"Org1MSP", "Org2MSP"}, 2, map[string]int{"Org1MSP": 1, "Org2MSP": 1}},
		{"then more, never a non-member", []string{"Org1MSP", "Org2MSP"}, 10, map[string]int{"Org1MSP": 3, "Org2MSP": 2}},
		{"maximumPeerCount 0 pushes nothing", []string{"Org1MSP"}, 0, map[string]int{}},
		{"three orgs, three peers", []string{"Org1MSP", "Org2MSP", "Org3MSP"}, 3, map[string]int{"Org1MSP": 1, "Org2MSP": 1, "Org3MSP": 1}},
		{"a member org with no peer", []string{"Org4MSP"}, 3, map[string]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			coll := lifecycle.Collection{Name: "c", MemberOrgs: tc.members, MaximumPeerCount: tc.max}
			for range 20 { // the choice is random: check it many times
				got := map[string]int{}
				for _, p := range disseminationTargets(coll, peers) {
					for _, ps := range peers {
						if ps.Endpoint == p.Endpoint {
							got[ps.MSPID]++
						}
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.wantOrgs) {
					t.Fatalf("targets by organisation = %v, want %v", got, tc.wantOrgs)
				}
			}
		})
	}
}
