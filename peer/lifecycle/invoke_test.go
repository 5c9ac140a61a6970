package lifecycle

import (
	"context"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/protos"
)

// noPrivateSim is a simulator without GetPrivateData.
type noPrivateSim struct{ chaincode.TxSimulator }

func TestInvokeAsSystemChaincode(t *testing.T) {
	p := newTestPeer(t, "Org1MSP", twoOrgChannel())
	var scc chaincode.SystemChaincode = p.lc
	if scc.Name() != "_lifecycle" {
		t.Fatalf("name %q", scc.Name())
	}
	prop := &protos.Proposal{Signed: &pb.SignedProposal{}, SignatureHeader: &cb.SignatureHeader{Creator: p.admin}}
	pkg := makePackage(t, map[string]string{"metadata.json": `{"type":"golang","label":"cc_1"}`, "code.tar.gz": "c"})
	resp, _ := scc.Invoke(context.Background(), &chaincode.TxContext{Proposal: prop}, input(FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg}))
	res := &lb.InstallChaincodeResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, res) != nil || res.PackageId != PackageID("cc_1", pkg) {
		t.Fatalf("install through Invoke: %d %q", resp.Status, resp.Message)
	}
	got, err := p.lc.InstalledPackage(res.PackageId)
	if err != nil || len(got) != len(pkg) {
		t.Fatalf("InstalledPackage: %v", err)
	}

	sim := newFakeSim(p.state)
	resp, _ = scc.Invoke(context.Background(), &chaincode.TxContext{ChannelID: "mychannel", Proposal: prop, Simulator: sim},
		input(FuncApproveChaincodeDefinitionForMyOrg, approveArgs("cc", 1, res.PackageId)))
	if resp.Status != 200 || len(sim.sum.hwrites) != 6 {
		t.Fatalf("approve through Invoke: %d %q, %d hashed writes", resp.Status, resp.Message, len(sim.sum.hwrites))
	}
	resp, _ = scc.Invoke(context.Background(), &chaincode.TxContext{ChannelID: "mychannel", Proposal: prop, Simulator: noPrivateSim{sim}},
		input(FuncApproveChaincodeDefinitionForMyOrg, approveArgs("cc", 1, res.PackageId)))
	if resp.Status != 500 || !strings.Contains(resp.Message, "reads private data") {
		t.Fatalf("simulator without private reads: %d %q", resp.Status, resp.Message)
	}
}
