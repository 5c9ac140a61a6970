package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/statedb"
)

// memDB is a channel's committed state as a statedb.DB would serve it:
// private data of collection c in namespace ns under namespace ns$$pc.
type memDB struct{ st *memState }

func (d memDB) Get(ns, key string) (*statedb.VersionedValue, error) {
	var v []byte
	if i := strings.Index(ns, "$$p"); i >= 0 {
		v = d.st.priv[ns[:i]+"/"+ns[i+3:]][key]
	} else {
		v = d.st.pub[ns][key]
	}
	if v == nil {
		return nil, nil
	}
	return &statedb.VersionedValue{Value: v}, nil
}

func (d memDB) GetRange(ns, start, end string) (statedb.Iterator, error) {
	return newFakeSim(d.st).GetStateRange(ns, start, end)
}

// fakeJoined is a peer's joined channels, each with its committed state.
type fakeJoined struct {
	states map[string]*memState
	fail   map[string]error
}

func (f fakeJoined) JoinedChannelIDs() []string {
	var ids []string
	for id := range f.states {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (f fakeJoined) CommittedState(id string) (CommittedDB, error) {
	if err := f.fail[id]; err != nil {
		return nil, err
	}
	st, ok := f.states[id]
	if !ok {
		return nil, fmt.Errorf("peer has not joined channel %s", id)
	}
	return memDB{st}, nil
}

// refsPeer is one organisation's peer joined to several channels.
type refsPeer struct {
	t      *testing.T
	lc     *Lifecycle
	admin  []byte
	joined fakeJoined
}

func newRefsPeer(t *testing.T, mspID string, channels ...string) *refsPeer {
	t.Helper()
	admin := creator(mspID, "admin-"+mspID)
	joined := fakeJoined{states: map[string]*memState{}, fail: map[string]error{}}
	configs := map[string]ChannelConfig{}
	for _, ch := range channels {
		joined.states[ch] = newMemState()
		configs[ch] = twoOrgChannel()
	}
	lc, err := New(Config{
		PackageDir: t.TempDir(),
		LocalMSP:   &fakeMSP{id: mspID, admins: map[string]bool{string(admin): true}},
		Channels:   fakeChannels{ch: configs},
		Joined:     joined,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &refsPeer{t: t, lc: lc, admin: admin, joined: joined}
}

// do runs fn on channel and commits its writes to this peer's state and,
// as hashes, to the others' states of the same channel.
func (p *refsPeer) do(channel, fn string, m proto.Message, others ...*refsPeer) {
	p.t.Helper()
	sim := newFakeSim(p.joined.states[channel])
	resp := p.lc.Call(context.Background(), &Invocation{ChannelID: channel, TxID: "tx", Creator: p.admin, Simulator: sim}, input(fn, m))
	if resp.Status != 200 {
		p.t.Fatalf("%s on %s: %d %s", fn, channel, resp.Status, resp.Message)
	}
	var st []*memState
	for _, o := range others {
		st = append(st, o.joined.states[channel])
	}
	sim.commit(st...)
}

func (p *refsPeer) local(fn string, m proto.Message) *pb.Response {
	return p.lc.Call(context.Background(), &Invocation{Creator: p.admin}, input(fn, m))
}

func (p *refsPeer) install(label string) string {
	p.t.Helper()
	pkg := makePackage(p.t, map[string]string{"metadata.json": `{"type":"golang","label":"` + label + `","path":"x"}`, "code.tar.gz": "code of " + label})
	resp := p.local(FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg})
	res := &lb.InstallChaincodeResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, res) != nil {
		p.t.Fatalf("install %s: %d %s", label, resp.Status, resp.Message)
	}
	return res.PackageId
}

// listRefs is QueryInstalledChaincodes' References flattened to "channel/name:version", sorted.
func (p *refsPeer) listRefs() map[string][]string {
	p.t.Helper()
	resp := p.local(FuncQueryInstalledChaincodes, &lb.QueryInstalledChaincodesArgs{})
	res := &lb.QueryInstalledChaincodesResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, res) != nil {
		p.t.Fatalf("QueryInstalledChaincodes: %d %s", resp.Status, resp.Message)
	}
	out := map[string][]string{}
	for _, ic := range res.InstalledChaincodes {
		out[ic.PackageId] = []string{}
		for ch, r := range ic.References {
			for _, cc := range r.Chaincodes {
				out[ic.PackageId] = append(out[ic.PackageId], ch+"/"+cc.Name+":"+cc.Version)
			}
		}
		sort.Strings(out[ic.PackageId])
	}
	return out
}

func (p *refsPeer) oneRefs(id string) []string {
	p.t.Helper()
	resp := p.local(FuncQueryInstalledChaincode, &lb.QueryInstalledChaincodeArgs{PackageId: id})
	res := &lb.QueryInstalledChaincodeResult{}
	if resp.Status != 200 || proto.Unmarshal(resp.Payload, res) != nil {
		p.t.Fatalf("QueryInstalledChaincode %s: %d %s", id, resp.Status, resp.Message)
	}
	out := []string{}
	for ch, r := range res.References {
		for _, cc := range r.Chaincodes {
			out = append(out, ch+"/"+cc.Name+":"+cc.Version)
		}
	}
	sort.Strings(out)
	return out
}

func approveVersion(name, version string, seq int64, pkg string) *lb.ApproveChaincodeDefinitionForMyOrgArgs {
	a := approveArgs(name, seq, pkg)
	a.Version = version
	if pkg == "" {
		a.Source = &lb.ChaincodeSource{Type: &lb.ChaincodeSource_Unavailable_{Unavailable: &lb.ChaincodeSource_Unavailable{}}}
	}
	return a
}

func commitVersion(name, version string, seq int64) *lb.CommitChaincodeDefinitionArgs {
	c := commitArgs(name, seq)
	c.Version = version
	return c
}

// TestInstalledPackageReferences checks Fabric's rule for References: a
// package is used by the definitions committed on a joined channel for which
// this organisation approved that package, with exactly the committed
// parameters, at the committed sequence.
func TestInstalledPackageReferences(t *testing.T) {
	org1 := newRefsPeer(t, "Org1MSP", "mychannel", "other")
	org2 := newRefsPeer(t, "Org2MSP", "mychannel", "other")
	pkgA := org1.install("basic_1.0")
	pkgB := org1.install("next_1.0")
	pkgC := org1.install("unused_1.0")

	want := func(step string, w map[string][]string) {
		t.Helper()
		got := org1.listRefs()
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("%s: QueryInstalledChaincodes references = %v, want %v", step, got, w)
		}
		for id, refs := range w {
			if one := org1.oneRefs(id); !reflect.DeepEqual(one, refs) {
				t.Fatalf("%s: QueryInstalledChaincode(%s) references = %v, want %v", step, id, one, refs)
			}
		}
	}
	want("nothing approved", map[string][]string{pkgA: {}, pkgB: {}, pkgC: {}})

	// Approved but not committed: not a reference.
	org1.do("mychannel", FuncApproveChaincodeDefinitionForMyOrg, approveVersion("basic", "1.0", 1, pkgA), org2)
	want("approved only", map[string][]string{pkgA: {}, pkgB: {}, pkgC: {}})

	// Committed with this org's approval of pkgA: a reference, on each channel
	// and for each chaincode name using the package.
	org1.do("mychannel", FuncCommitChaincodeDefinition, commitVersion("basic", "1.0", 1), org2)
	org1.do("mychannel", FuncApproveChaincodeDefinitionForMyOrg, approveVersion("abasic", "1.0", 1, pkgA), org2)
	org1.do("mychannel", FuncCommitChaincodeDefinition, commitVersion("abasic", "1.0", 1), org2)
	org1.do("other", FuncApproveChaincodeDefinitionForMyOrg, approveVersion("basic", "3.1", 1, pkgA), org2)
	org1.do("other", FuncCommitChaincodeDefinition, commitVersion("basic", "3.1", 1), org2)
	// Approved without a package and committed: references nothing.
	org1.do("other", FuncApproveChaincodeDefinitionForMyOrg, approveVersion("nopkg", "1.0", 1, ""), org2)
	org1.do("other", FuncCommitChaincodeDefinition, commitVersion("nopkg", "1.0", 1), org2)
	committed := map[string][]string{pkgA: {"mychannel/abasic:1.0", "mychannel/basic:1.0", "other/basic:3.1"}, pkgB: {}, pkgC: {}}
	want("committed", committed)

	// A newer approval of another package moves nothing until it is committed.
	org1.do("mychannel", FuncApproveChaincodeDefinitionForMyOrg, approveVersion("basic", "2.0", 2, pkgB), org2)
	want("sequence 2 approved", committed)
	org1.do("mychannel", FuncCommitChaincodeDefinition, commitVersion("basic", "2.0", 2), org2)
	want("sequence 2 committed", map[string][]string{pkgA: {"mychannel/abasic:1.0", "other/basic:3.1"}, pkgB: {"mychannel/basic:2.0"}, pkgC: {}})

	// A definition committed with parameters this org did not approve (Org1
	// approved version 1.0, Org2 committed version 9.0) uses no package of Org1's.
	org1.do("other", FuncApproveChaincodeDefinitionForMyOrg, approveVersion("foreign", "1.0", 1, pkgC), org2)
	org2.do("other", FuncApproveChaincodeDefinitionForMyOrg, approveVersion("foreign", "9.0", 1, ""), org1)
	org2.do("other", FuncCommitChaincodeDefinition, commitVersion("foreign", "9.0", 1), org1)
	if d, err := ReadDefinition(fakeReader{org1.joined.states["other"]}, "foreign"); err != nil || d.Version != "9.0" {
		t.Fatalf("foreign is not committed at version 9.0 on Org1's peer: %v %v", d, err)
	}
	want("committed without this org's approval", map[string][]string{pkgA: {"mychannel/abasic:1.0", "other/basic:3.1"}, pkgB: {"mychannel/basic:2.0"}, pkgC: {}})

	// Org2's peer has none of these packages, and its own approvals are its
	// own: Org1's approvals of pkgA give Org2's packages no references.
	pkgA2 := org2.install("basic_1.0")
	if pkgA2 != pkgA {
		t.Fatalf("same package, different IDs: %s %s", pkgA2, pkgA)
	}
	if got := org2.oneRefs(pkgA); len(got) != 0 {
		t.Fatalf("Org2's peer reports references %v for a package only Org1 approved", got)
	}
}

// TestReferencesErrorNamesChannel checks that a channel whose state cannot be
// read fails the query with an error naming it.
func TestReferencesErrorNamesChannel(t *testing.T) {
	p := newRefsPeer(t, "Org1MSP", "mychannel", "broken")
	id := p.install("basic_1.0")
	p.joined.fail["broken"] = errors.New("ledger closed")
	for _, c := range []struct {
		fn string
		m  proto.Message
	}{
		{FuncQueryInstalledChaincodes, &lb.QueryInstalledChaincodesArgs{}},
		{FuncQueryInstalledChaincode, &lb.QueryInstalledChaincodeArgs{PackageId: id}},
	} {
		resp := p.local(c.fn, c.m)
		if resp.Status != 500 || !strings.Contains(resp.Message, "channel broken") || !strings.Contains(resp.Message, "ledger closed") {
			t.Errorf("%s with an unreadable channel = %d %q, want an error naming channel broken and the cause", c.fn, resp.Status, resp.Message)
		}
	}
	// Corrupt definition metadata is reported with the channel too.
	delete(p.joined.fail, "broken")
	put(p.joined.states["broken"].pub, Namespace, definitionsStart+"cc", []byte("\xff\xff"))
	resp := p.local(FuncQueryInstalledChaincodes, &lb.QueryInstalledChaincodesArgs{})
	if resp.Status != 500 || !strings.Contains(resp.Message, "channel broken") || !strings.Contains(resp.Message, definitionsStart+"cc") {
		t.Errorf("QueryInstalledChaincodes with corrupt metadata = %d %q, want an error naming channel broken and the key", resp.Status, resp.Message)
	}
}
