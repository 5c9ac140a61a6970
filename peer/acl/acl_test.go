package acl

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/protos"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

// fakeConfig has the given ACLs and policies.
type fakeConfig struct {
	acls     map[string]string
	policies map[string]channelconfig.Policy
}

func (c fakeConfig) ACLPolicyRef(r string) (string, bool) { p, ok := c.acls[r]; return p, ok }
func (c fakeConfig) Policy(path string) (channelconfig.Policy, error) {
	if p, ok := c.policies[path]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("%w: %s", channelconfig.ErrPolicyNotFound, path)
}

type verdict struct{ err error }

func (v verdict) Evaluate([]protos.SignedData) error { return v.err }

func TestPolicyPathDefaultsAndConfig(t *testing.T) {
	cfg := fakeConfig{acls: map[string]string{QSCCGetChainInfo: "/Channel/Application/Admins"}}
	for _, tc := range []struct{ resource, want string }{
		{QSCCGetChainInfo, "/Channel/Application/Admins"}, // from the channel's ACLs
		{QSCCGetBlockByNumber, ChannelReaders},            // Fabric's defaults
		{PeerPropose, ChannelWriters},
		{PeerChaincodeToChaincode, ChannelWriters},
		{EventBlock, ChannelReaders},
		{EventFilteredBlock, ChannelReaders},
		{CSCCGetConfigBlock, ChannelReaders},
		{CSCCGetChannelConfig, ChannelReaders},
		{GatewayCommitStatus, ChannelReaders},
		{GatewayChaincodeEvents, ChannelReaders},
		{"_lifecycle/CommitChaincodeDefinition", ChannelWriters},
	} {
		if got, err := PolicyPath(cfg, tc.resource); err != nil || got != tc.want {
			t.Errorf("PolicyPath(%s) = %q, %v; want %q", tc.resource, got, err, tc.want)
		}
	}
	if _, err := PolicyPath(cfg, "qscc/GetEverything"); err == nil || !strings.Contains(err.Error(), "qscc/GetEverything") {
		t.Errorf("unknown resource: %v", err)
	}
}

// A refusal names the channel, the resource, the policy, the identity and
// the policy's reason; a missing policy is a refusal too.
func TestCheckNamesTheCause(t *testing.T) {
	user := testnet.SampleNet(t).User(t, "User1", "Org1MSP")
	sd := protos.SignedData{Data: []byte("request"), Identity: user.Serialized, Signature: []byte("sig")}
	cfg := fakeConfig{
		acls:     map[string]string{EventBlock: "/Channel/Application/Nobody"},
		policies: map[string]channelconfig.Policy{ChannelReaders: verdict{errors.New("no reader signed")}},
	}
	err := CheckSigned(cfg, "mychannel", QSCCGetChainInfo, sd)
	var d *DeniedError
	if !errors.As(err, &d) || d.Resource != QSCCGetChainInfo || d.Policy != ChannelReaders {
		t.Fatalf("refusal = %#v", err)
	}
	for _, want := range []string{"access denied", "qscc/GetChainInfo", "mychannel", ChannelReaders, "User1@org1.example.com", "Org1MSP", "no reader signed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}
	err = CheckSigned(cfg, "mychannel", EventBlock, sd)
	if !errors.As(err, &d) || !errors.Is(err, channelconfig.ErrPolicyNotFound) || !strings.Contains(err.Error(), "/Channel/Application/Nobody") {
		t.Fatalf("missing policy: %v", err)
	}
	cfg.policies[ChannelReaders] = verdict{}
	if err := CheckSigned(cfg, "mychannel", QSCCGetChainInfo, sd); err != nil {
		t.Fatalf("satisfied policy: %v", err)
	}
}
