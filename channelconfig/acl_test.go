package channelconfig

import (
	"path/filepath"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// ACLPolicyRef reads /Channel/Application/ACLs as Fabric does: an absolute
// reference as it is, a relative one under /Channel/Application, an empty
// one or an unnamed resource not at all (the caller's default applies).
func TestACLPolicyRef(t *testing.T) {
	cfg, ch, err := ConfigFromBlock(readBlock(t, filepath.Join(fixtureDir, "mychannel-genesis.block")))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewBundle(ch, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ref, ok := plain.ACLPolicyRef("qscc/GetChainInfo"); ok {
		t.Errorf("a channel without ACLs gives qscc/GetChainInfo %q", ref)
	}

	cfg = proto.Clone(cfg).(*cb.Config)
	app := cfg.ChannelGroup.Groups[ApplicationGroupKey]
	app.Values[ACLsKey] = &cb.ConfigValue{ModPolicy: AdminsPolicyKey, Value: protos.Marshal(&pb.ACLs{Acls: map[string]*pb.APIResource{
		"qscc/GetChainInfo": {PolicyRef: "/Channel/Application/Admins"},
		"event/Block":       {PolicyRef: "Admins"},
		"peer/Propose":      {PolicyRef: ""},
	}})}
	b, err := NewBundle(ch, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		resource, want string
		ok             bool
	}{
		{"qscc/GetChainInfo", "/Channel/Application/Admins", true},
		{"event/Block", "/Channel/Application/Admins", true},
		{"peer/Propose", "", false},
		{"cscc/GetConfigBlock", "", false},
	} {
		if ref, ok := b.ACLPolicyRef(tc.resource); ref != tc.want || ok != tc.ok {
			t.Errorf("ACLPolicyRef(%s) = %q, %t; want %q, %t", tc.resource, ref, ok, tc.want, tc.ok)
		}
	}
}
