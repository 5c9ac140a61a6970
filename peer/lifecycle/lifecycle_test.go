package lifecycle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"strings"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

type testPeer struct {
	lc    *Lifecycle
	state *memState
	admin []byte
}

func newTestPeer(t *testing.T, mspID string, ch ChannelConfig) *testPeer {
	t.Helper()
	admin := creator(mspID, "admin-"+mspID)
	lc, err := New(Config{
		PackageDir: t.TempDir(),
		LocalMSP:   &fakeMSP{id: mspID, admins: map[string]bool{string(admin): true}},
		Channels:   fakeChannels{ch: map[string]ChannelConfig{"mychannel": ch}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testPeer{lc: lc, state: newMemState(), admin: admin}
}

func twoOrgChannel() *fakeChannel {
	return &fakeChannel{orgs: []string{"Org1MSP", "Org2MSP"}}
}

// call runs one function on the channel and returns the simulator it used.
func (p *testPeer) call(t *testing.T, input *pb.ChaincodeInput) (*pb.Response, *fakeSim) {
	t.Helper()
	sim := newFakeSim(p.state)
	resp := p.lc.Call(context.Background(), &Invocation{ChannelID: "mychannel", TxID: "tx", Creator: p.admin, Simulator: sim}, input)
	return resp, sim
}

func input(fn string, m proto.Message) *pb.ChaincodeInput {
	return &pb.ChaincodeInput{Args: [][]byte{[]byte(fn), protos.Marshal(m)}}
}

// TestFixtureApproveCommitWriteSets replays Fabric's lifecycle transactions of
// fixture blocks 1-6 and checks that Weft reads and writes exactly the keys
// and values Fabric's peers did.
func TestFixtureApproveCommitWriteSets(t *testing.T) {
	ch := twoOrgChannel()
	org1 := newTestPeer(t, "Org1MSP", ch)
	org2 := newTestPeer(t, "Org2MSP", ch)
	steps := []struct {
		block int
		peer  *testPeer
		other *testPeer
	}{
		{1, org1, org2}, {2, org2, org1}, {3, org1, org2},
		{4, org1, org2}, {5, org2, org1}, {6, org1, org2},
	}
	for _, s := range steps {
		in, want := fixtureTx(t, s.block)
		resp, sim := s.peer.call(t, in)
		if resp.Status != 200 {
			t.Fatalf("block %d (%s): status %d: %s", s.block, in.Args[0], resp.Status, resp.Message)
		}
		assertSameSummary(t, "block "+string(rune('0'+s.block)), sim.sum, want)
		sim.commit(s.other.state)
	}

	// Both peers now read the same committed definitions.
	for _, p := range []*testPeer{org1, org2} {
		d, err := ReadDefinition(fakeReader{p.state}, "basic")
		if err != nil {
			t.Fatal(err)
		}
		if d.Sequence != 1 || d.Version != "1.0" || d.ValidationPlugin != "vscc" || d.EndorsementPlugin != "escc" || d.InitRequired {
			t.Fatalf("definition of basic = %+v", d)
		}
		pol := &pb.ApplicationPolicy{}
		if err := proto.Unmarshal(d.EndorsementPolicy, pol); err != nil || pol.GetSignaturePolicy() == nil {
			t.Fatalf("endorsement policy of basic is not a signature policy: %v %v", pol, err)
		}
		id, err := p.lc.ApprovedPackageID("mychannel", fakeReader{p.state}, "basicor", 1)
		if err != nil {
			t.Fatal(err)
		}
		if id != "basic_1.0:2a83ae8c52568c0627515bec93e084f25306b4db5758812ed19993eb34695e6c" {
			t.Fatalf("approved package of basicor = %q", id)
		}
	}

	// Queries answer from the committed state.
	resp, _ := org1.call(t, input(FuncQueryChaincodeDefinitions, &lb.QueryChaincodeDefinitionsArgs{}))
	defs := &lb.QueryChaincodeDefinitionsResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, defs) != nil || len(defs.ChaincodeDefinitions) != 2 ||
		defs.ChaincodeDefinitions[0].Name != "basic" || defs.ChaincodeDefinitions[1].Name != "basicor" {
		t.Fatalf("QueryChaincodeDefinitions = %d %s %v", resp.Status, resp.Message, defs)
	}
	resp, _ = org2.call(t, input(FuncQueryChaincodeDefinition, &lb.QueryChaincodeDefinitionArgs{Name: "basic"}))
	def := &lb.QueryChaincodeDefinitionResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, def) != nil || !def.Approvals["Org1MSP"] || !def.Approvals["Org2MSP"] || def.Sequence != 1 {
		t.Fatalf("QueryChaincodeDefinition = %d %s %v", resp.Status, resp.Message, def)
	}
	resp, _ = org2.call(t, input(FuncQueryApprovedChaincodeDefinition, &lb.QueryApprovedChaincodeDefinitionArgs{Name: "basic"}))
	appr := &lb.QueryApprovedChaincodeDefinitionResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, appr) != nil || appr.Sequence != 1 ||
		appr.GetSource().GetLocalPackage().GetPackageId() != "basic_1.0:2a83ae8c52568c0627515bec93e084f25306b4db5758812ed19993eb34695e6c" {
		t.Fatalf("QueryApprovedChaincodeDefinition = %d %s %v", resp.Status, resp.Message, appr)
	}
	resp, _ = org2.call(t, input(FuncQueryChaincodeDefinition, &lb.QueryChaincodeDefinitionArgs{Name: "nope"}))
	if resp.Status != 404 || !strings.Contains(resp.Message, "namespace nope is not defined") {
		t.Fatalf("query of undefined chaincode = %d %q", resp.Status, resp.Message)
	}

	// Re-committing sequence 1 is refused with the expected sequence.
	in, _ := fixtureTx(t, 3)
	resp, _ = org1.call(t, in)
	if resp.Status != 500 || !strings.Contains(resp.Message, "requested sequence is 1, but new definition must be sequence 2") {
		t.Fatalf("second commit of sequence 1 = %d %q", resp.Status, resp.Message)
	}
	// Approving the same thing again is refused as unchanged.
	in, _ = fixtureTx(t, 1)
	resp, _ = org1.call(t, in)
	if resp.Status != 500 || !strings.Contains(resp.Message, "attempted to redefine the current committed sequence (1)") {
		t.Fatalf("re-approval of committed sequence = %d %q", resp.Status, resp.Message)
	}
}

type fakeReader struct{ st *memState }

func (r fakeReader) GetState(ns, key string) ([]byte, error) { return r.st.pub[ns][key], nil }
func (r fakeReader) GetPrivateData(ns, coll, key string) ([]byte, error) {
	return r.st.priv[ns+"/"+coll][key], nil
}

func approveArgs(name string, seq int64, pkg string) *lb.ApproveChaincodeDefinitionForMyOrgArgs {
	return &lb.ApproveChaincodeDefinitionForMyOrgArgs{
		Sequence: seq, Name: name, Version: "1.0",
		Source: &lb.ChaincodeSource{Type: &lb.ChaincodeSource_LocalPackage{LocalPackage: &lb.ChaincodeSource_Local{PackageId: pkg}}},
	}
}

func commitArgs(name string, seq int64) *lb.CommitChaincodeDefinitionArgs {
	return &lb.CommitChaincodeDefinitionArgs{Sequence: seq, Name: name, Version: "1.0"}
}

func TestCommitNamesMissingApproval(t *testing.T) {
	ch := twoOrgChannel()
	org1 := newTestPeer(t, "Org1MSP", ch)
	org2 := newTestPeer(t, "Org2MSP", ch)

	resp, sim := org1.call(t, input(FuncApproveChaincodeDefinitionForMyOrg, approveArgs("cc", 1, "cc_1:"+strings.Repeat("ab", 32))))
	if resp.Status != 200 {
		t.Fatalf("approve: %s", resp.Message)
	}
	sim.commit(org2.state)

	// Readiness shows who approved the default-policy definition.
	resp, _ = org2.call(t, input(FuncCheckCommitReadiness, &lb.CheckCommitReadinessArgs{Sequence: 1, Name: "cc", Version: "1.0"}))
	ready := &lb.CheckCommitReadinessResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, ready) != nil || !ready.Approvals["Org1MSP"] || ready.Approvals["Org2MSP"] {
		t.Fatalf("CheckCommitReadiness = %d %q %v", resp.Status, resp.Message, ready.Approvals)
	}
	// A different version is approved by nobody.
	resp, _ = org2.call(t, input(FuncCheckCommitReadiness, &lb.CheckCommitReadinessArgs{Sequence: 1, Name: "cc", Version: "2.0"}))
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, ready) != nil || ready.Approvals["Org1MSP"] {
		t.Fatalf("CheckCommitReadiness v2 = %d %q %v", resp.Status, resp.Message, ready.Approvals)
	}

	// Org2's peer refuses to endorse a commit its org has not approved, naming it.
	resp, _ = org2.call(t, input(FuncCommitChaincodeDefinition, commitArgs("cc", 1)))
	if resp.Status != 500 || !strings.Contains(resp.Message, "chaincode cc: approval missing from Org2MSP") {
		t.Fatalf("commit without Org2 approval = %d %q", resp.Status, resp.Message)
	}
	// Wrong sequence is refused with the expected one.
	resp, _ = org1.call(t, input(FuncCommitChaincodeDefinition, commitArgs("cc", 3)))
	if resp.Status != 500 || !strings.Contains(resp.Message, "requested sequence is 3, but new definition must be sequence 1") {
		t.Fatalf("commit at sequence 3 = %d %q", resp.Status, resp.Message)
	}
	// Org1's peer endorses (Fabric leaves the quorum to LifecycleEndorsement at validation).
	resp, sim = org1.call(t, input(FuncCommitChaincodeDefinition, commitArgs("cc", 1)))
	if resp.Status != 200 {
		t.Fatalf("commit by approving org: %q", resp.Message)
	}
	if sim.sum.writes["_lifecycle/namespaces/fields/cc/Sequence"] != "0801" {
		t.Fatalf("commit did not write sequence 1: %v", sim.sum.writes)
	}
	// The default endorsement policy is the channel's Endorsement policy reference.
	sim.commit()
	d, err := ReadDefinition(fakeReader{org1.state}, "cc")
	if err != nil {
		t.Fatal(err)
	}
	pol := &pb.ApplicationPolicy{}
	if err := proto.Unmarshal(d.EndorsementPolicy, pol); err != nil || pol.GetChannelConfigPolicyReference() != DefaultEndorsementPolicyRef {
		t.Fatalf("default policy = %v %v", pol, err)
	}
	if _, err := ReadDefinition(fakeReader{org1.state}, "other"); !errors.Is(err, ErrNotDefined) {
		t.Fatalf("undefined chaincode: %v", err)
	}
}

func TestApproveRules(t *testing.T) {
	ch := twoOrgChannel()
	p := newTestPeer(t, "Org1MSP", ch)
	cases := []struct {
		name string
		args *lb.ApproveChaincodeDefinitionForMyOrgArgs
		want string
	}{
		{"sequence 0", approveArgs("cc", 0, ""), "requested sequence is 0, but first definable sequence number is 1"},
		{"sequence gap", approveArgs("cc", 2, ""), "requested sequence 2 is larger than the next available sequence number 1"},
		{"bad name", approveArgs("-cc", 1, ""), "invalid chaincode name '-cc'"},
		{"system name", approveArgs("lscc", 1, ""), "chaincode name 'lscc' is the name of a system chaincode"},
	}
	for _, c := range cases {
		resp, _ := p.call(t, input(FuncApproveChaincodeDefinitionForMyOrg, c.args))
		if resp.Status != 500 || !strings.Contains(resp.Message, c.want) {
			t.Errorf("%s: got %d %q, want %q", c.name, resp.Status, resp.Message, c.want)
		}
	}
	// Without an Endorsement policy in the channel, a definition needs an explicit one.
	ch.noPolicy = map[string]bool{DefaultEndorsementPolicyRef: true}
	resp, _ := p.call(t, input(FuncApproveChaincodeDefinitionForMyOrg, approveArgs("cc", 1, "")))
	if resp.Status != 500 || !strings.Contains(resp.Message, "policy '/Channel/Application/Endorsement' must be defined") {
		t.Fatalf("approve without default policy = %d %q", resp.Status, resp.Message)
	}
	// Only admins of the peer's MSP may approve.
	sim := newFakeSim(p.state)
	resp = p.lc.Call(context.Background(), &Invocation{ChannelID: "mychannel", Creator: creator("Org1MSP", "user"), Simulator: sim},
		input(FuncApproveChaincodeDefinitionForMyOrg, approveArgs("cc", 1, "")))
	if resp.Status != 500 || !strings.Contains(resp.Message, "Failed to authorize invocation") || !strings.Contains(resp.Message, "admins of the peer's MSP Org1MSP") {
		t.Fatalf("approve by non-admin = %d %q", resp.Status, resp.Message)
	}
	if len(sim.sum.hwrites) != 0 {
		t.Fatalf("refused approval wrote %v", sim.sum.hwrites)
	}
}

// makeTarGz is a tar.gz of one entry holding body.
func makeTarGz(t *testing.T, hdr *tar.Header, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// makePackage builds an install package of files; a code.tar.gz given as
// plain text becomes a tar.gz holding it as src/code, since a peer only
// installs packages whose code.tar.gz it can extract.
func makePackage(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range []string{"metadata.json", "code.tar.gz", "extra"} {
		body, ok := files[name]
		if !ok {
			continue
		}
		if name == "code.tar.gz" && !strings.HasPrefix(body, "\x1f\x8b") {
			body = string(makeTarGz(t, &tar.Header{Name: "src/code", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, []byte(body)))
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInstallAndQueryPackages(t *testing.T) {
	p := newTestPeer(t, "Org1MSP", twoOrgChannel())
	pkg := makePackage(t, map[string]string{"metadata.json": `{"type":"golang","label":"basic_1.0","path":"x"}`, "code.tar.gz": "code"})
	local := func(creator []byte, fn string, m proto.Message) *pb.Response {
		return p.lc.Call(context.Background(), &Invocation{Creator: creator}, input(fn, m))
	}

	resp := local(p.admin, FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg})
	res := &lb.InstallChaincodeResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, res) != nil {
		t.Fatalf("install = %d %q", resp.Status, resp.Message)
	}
	if res.PackageId != PackageID("basic_1.0", pkg) || res.Label != "basic_1.0" || !strings.HasPrefix(res.PackageId, "basic_1.0:") {
		t.Fatalf("install result %v", res)
	}
	resp = local(p.admin, FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg})
	if resp.Status != 500 || !strings.Contains(resp.Message, "chaincode already successfully installed") {
		t.Fatalf("second install = %d %q", resp.Status, resp.Message)
	}
	resp = local(creator("Org1MSP", "user"), FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg})
	if resp.Status != 500 || !strings.Contains(resp.Message, "Failed to authorize") {
		t.Fatalf("install by non-admin = %d %q", resp.Status, resp.Message)
	}
	resp = local(creator("Org2MSP", "admin-Org2MSP"), FuncQueryInstalledChaincodes, &lb.QueryInstalledChaincodesArgs{})
	if resp.Status != 500 || !strings.Contains(resp.Message, "Failed to authorize") {
		t.Fatalf("query by other org's admin = %d %q", resp.Status, resp.Message)
	}

	resp = local(p.admin, FuncQueryInstalledChaincodes, &lb.QueryInstalledChaincodesArgs{})
	list := &lb.QueryInstalledChaincodesResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, list) != nil || len(list.InstalledChaincodes) != 1 || list.InstalledChaincodes[0].PackageId != res.PackageId {
		t.Fatalf("QueryInstalledChaincodes = %d %q %v", resp.Status, resp.Message, list)
	}
	resp = local(p.admin, FuncQueryInstalledChaincode, &lb.QueryInstalledChaincodeArgs{PackageId: res.PackageId})
	one := &lb.QueryInstalledChaincodeResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, one) != nil || one.Label != "basic_1.0" {
		t.Fatalf("QueryInstalledChaincode = %d %q %v", resp.Status, resp.Message, one)
	}
	resp = local(p.admin, FuncGetInstalledChaincodePackage, &lb.GetInstalledChaincodePackageArgs{PackageId: res.PackageId})
	got := &lb.GetInstalledChaincodePackageResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, got) != nil || !bytes.Equal(got.ChaincodeInstallPackage, pkg) {
		t.Fatalf("GetInstalledChaincodePackage = %d %q", resp.Status, resp.Message)
	}
	resp = local(p.admin, FuncGetInstalledChaincodePackage, &lb.GetInstalledChaincodePackageArgs{PackageId: "basic_1.0:" + strings.Repeat("0", 64)})
	if resp.Status != 404 {
		t.Fatalf("missing package = %d %q", resp.Status, resp.Message)
	}

	bad := []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"code.tar.gz": "c"}, "no metadata.json"},
		{map[string]string{"metadata.json": `{"type":"golang","label":"x"}`}, "no code.tar.gz"},
		{map[string]string{"metadata.json": `{"type":"golang","label":"a:b"}`, "code.tar.gz": "c"}, "invalid label 'a:b'"},
		{map[string]string{"metadata.json": `{"type":"golang","label":"x"}`, "code.tar.gz": "c", "extra": "e"}, "unexpected file 'extra'"},
	}
	for _, b := range bad {
		resp := local(p.admin, FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: makePackage(t, b.files)})
		if resp.Status != 500 || !strings.Contains(resp.Message, b.want) {
			t.Errorf("bad package: got %d %q, want %q", resp.Status, resp.Message, b.want)
		}
	}
	resp = local(p.admin, FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: []byte("not gzip")})
	if resp.Status != 500 || !strings.Contains(resp.Message, "not gzip") {
		t.Fatalf("non-gzip package = %d %q", resp.Status, resp.Message)
	}
	// Channel functions need a channel.
	resp = local(p.admin, FuncCommitChaincodeDefinition, commitArgs("cc", 1))
	if resp.Status != 500 || !strings.Contains(resp.Message, "needs a channel") {
		t.Fatalf("commit without channel = %d %q", resp.Status, resp.Message)
	}
	resp = p.lc.Call(context.Background(), &Invocation{}, &pb.ChaincodeInput{Args: [][]byte{[]byte("x")}})
	if resp.Status != 500 || !strings.Contains(resp.Message, "exactly two arguments but received 1") {
		t.Fatalf("one arg = %d %q", resp.Status, resp.Message)
	}
}
