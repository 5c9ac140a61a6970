package lifecycle

import (
	"context"
	"errors"
	"strings"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// Every function keeps where it runs and who may call it: arguments are
// decoded before the caller is checked; peer-local functions run without a
// channel and are for the peer's admins; this organisation's approval
// functions need a channel and are for the peer's admins; the channel-wide
// ones need a channel and its ACL (the Writers by default). Unknown names are
// refused.
func TestFunctionScopesAndACLs(t *testing.T) {
	ch := twoOrgChannel()
	ch.deny = map[string]error{ChannelWritersPolicy: errors.New("signature set did not satisfy policy")}
	p := newTestPeer(t, "Org1MSP", ch)
	user := creator("Org1MSP", "user")
	run := func(channel string, fn string, arg []byte) *pb.Response {
		inv := &Invocation{ChannelID: channel, TxID: "tx", Creator: user}
		if channel != "" {
			inv.Simulator = newFakeSim(p.state)
		}
		return p.lc.Call(context.Background(), inv, &pb.ChaincodeInput{Args: [][]byte{[]byte(fn), arg}})
	}
	const (
		peerLocal    = "the peer's admins, no channel"
		orgOnChannel = "the peer's admins, on a channel"
		channelWide  = "the channel's ACL"
	)
	for _, c := range []struct{ fn, who string }{
		{FuncInstallChaincode, peerLocal},
		{FuncQueryInstalledChaincode, peerLocal},
		{FuncQueryInstalledChaincodes, peerLocal},
		{FuncGetInstalledChaincodePackage, peerLocal},
		{FuncApproveChaincodeDefinitionForMyOrg, orgOnChannel},
		{FuncQueryApprovedChaincodeDefinition, orgOnChannel},
		{FuncCheckCommitReadiness, channelWide},
		{FuncCommitChaincodeDefinition, channelWide},
		{FuncQueryChaincodeDefinition, channelWide},
		{FuncQueryChaincodeDefinitions, channelWide},
	} {
		t.Run(c.fn, func(t *testing.T) {
			if r := run("mychannel", c.fn, []byte{0xff}); r.Status != 500 || !strings.Contains(r.Message, "failed to decode input arg to '"+c.fn+"'") {
				t.Errorf("undecodable arguments from a non-admin = %d %q, want the decoding error", r.Status, r.Message)
			}
			denied := "Failed to authorize invocation due to failed ACL check: _lifecycle/" + c.fn + " is restricted to admins of the peer's MSP Org1MSP"
			if c.who == channelWide {
				denied = "Failed to authorize invocation due to failed ACL check: _lifecycle/" + c.fn + " on channel mychannel requires policy " + ChannelWritersPolicy
			}
			if r := run("mychannel", c.fn, nil); r.Status != 500 || !strings.HasPrefix(r.Message, denied) {
				t.Errorf("on mychannel = %d %q, want %q", r.Status, r.Message, denied)
			}
			withoutChannel := "failed to invoke backing implementation of '" + c.fn + "': function " + c.fn + " needs a channel: send the proposal on a channel the peer has joined"
			if c.who == peerLocal {
				withoutChannel = denied
			}
			if r := run("", c.fn, nil); r.Status != 500 || !strings.HasPrefix(r.Message, withoutChannel) {
				t.Errorf("without a channel = %d %q, want %q", r.Status, r.Message, withoutChannel)
			}
		})
	}
	for channel, want := range map[string]string{
		"":             "failed to invoke backing implementation of 'Nope': unknown function 'Nope' of _lifecycle",
		"mychannel":    "failed to invoke backing implementation of 'Nope': unknown function 'Nope' of _lifecycle",
		"otherchannel": "failed to invoke backing implementation of 'Nope': could not get channel config for channel 'otherchannel'",
	} {
		if r := run(channel, "Nope", nil); r.Status != 500 || !strings.HasPrefix(r.Message, want) {
			t.Errorf("unknown function on channel %q = %d %q, want %q", channel, r.Status, r.Message, want)
		}
	}
}
