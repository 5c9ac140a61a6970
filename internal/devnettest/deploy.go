package devnettest

import (
	"context"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/msp"
)

// FirstLaunchTimeout bounds the first invocation of a chaincode on a peer:
// a "golang" package is compiled by the peer then (module download included).
const FirstLaunchTimeout = 5 * time.Minute

// Chaincode is a chaincode to deploy.
type Chaincode struct {
	Name, Label string
	Package     []byte // a Fabric chaincode package (metadata.json and code.tar.gz)
	// WarmUp is a read-only invocation (function and arguments) evaluated on
	// every peer once the definition is committed, so that the first launch
	// (for a "golang" package, the peer's build) happens under
	// FirstLaunchTimeout rather than under the gateway's timeouts;
	// WarmUpResult, unless empty, is what it must return. Empty WarmUp
	// skips it.
	WarmUp       []string
	WarmUpResult string
}

// Install installs pkg on the peer of org as its admin, as `peer lifecycle
// chaincode install` does, and returns the peer's answer or its refusal.
func Install(ctx context.Context, t testing.TB, n *devnet.Network, org devnet.Org, pkg []byte) (*lb.InstallChaincodeResult, error) {
	t.Helper()
	admin, err := n.Config().Signer(org, "Admin")
	if err != nil {
		t.Fatal(err)
	}
	out, err := wclient.Query(ctx, admin, wclient.Invocation{Chaincode: wclient.LifecycleName, Args: wclient.InstallArgs(pkg)}, pb.NewEndorserClient(DialPeer(t, n, org)))
	if err != nil {
		return nil, err
	}
	return wclient.InstallResult(out)
}

// Deploy does what a Fabric admin does with `peer lifecycle chaincode`:
// install cc's package on every peer, approve the definition (sequence 1,
// the channel's default policy) for every org and commit it, waiting until
// every peer has committed each step; then it runs cc.WarmUp on every peer.
func Deploy(t testing.TB, n *devnet.Network, cc Chaincode) {
	t.Helper()
	cfg := n.Config()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	packageID := wclient.PackageID(cc.Label, cc.Package)
	admins := map[string]*msp.SigningIdentity{}
	for _, o := range n.Orgs {
		admin, err := cfg.Signer(o, "Admin")
		if err != nil {
			t.Fatal(err)
		}
		admins[o.MSPID] = admin
		res, err := Install(ctx, t, n, o, cc.Package)
		if err != nil {
			t.Fatalf("install %s on %s: %v", cc.Label, o.Peer, err)
		}
		if res.PackageId != packageID || res.Label != cc.Label {
			t.Fatalf("%s installed %s as %s (label %q), want %s", o.Peer, cc.Label, res.PackageId, res.Label, packageID)
		}
	}
	def := wclient.Definition{Name: cc.Name, Version: "1.0", Sequence: 1, PackageID: packageID}
	var all []string
	for _, o := range n.Orgs {
		inv := wclient.Invocation{Channel: devnet.ChannelID, Chaincode: wclient.LifecycleName, Args: wclient.ApproveArgs(def)}
		InvokeAllPeers(ctx, t, n, admins[o.MSPID], inv, []string{o.MSPID})
		all = append(all, o.MSPID)
	}
	inv := wclient.Invocation{Channel: devnet.ChannelID, Chaincode: wclient.LifecycleName, Args: wclient.CommitArgs(def)}
	InvokeAllPeers(ctx, t, n, admins[n.Orgs[0].MSPID], inv, all)
	if len(cc.WarmUp) == 0 {
		return
	}

	user, err := cfg.Signer(n.Orgs[0], "User1")
	if err != nil {
		t.Fatal(err)
	}
	launchCtx, cancelLaunch := context.WithTimeout(context.Background(), FirstLaunchTimeout)
	defer cancelLaunch()
	var args [][]byte
	for _, a := range cc.WarmUp {
		args = append(args, []byte(a))
	}
	for _, o := range n.Orgs {
		start := time.Now()
		inv := wclient.Invocation{Channel: devnet.ChannelID, Chaincode: cc.Name, Args: args}
		out, err := wclient.Query(launchCtx, user, inv, pb.NewEndorserClient(DialPeer(t, n, o)))
		if err != nil {
			t.Fatalf("first invocation of %s on %s (%q): %v", cc.Name, o.Peer, cc.WarmUp, err)
		}
		if cc.WarmUpResult != "" && string(out) != cc.WarmUpResult {
			t.Fatalf("warm-up %q of %s on %s = %q, want %q", cc.WarmUp, cc.Name, o.Peer, out, cc.WarmUpResult)
		}
		t.Logf("%s started on %s in %s", cc.Name, o.Peer, time.Since(start).Round(time.Millisecond))
	}
}

// InvokeAllPeers endorses inv on the peers of endorsers (MSP IDs), orders
// it and waits until every peer of the network has committed it as valid.
func InvokeAllPeers(ctx context.Context, t testing.TB, n *devnet.Network, signer *msp.SigningIdentity, inv wclient.Invocation, endorsers []string) {
	t.Helper()
	var watchers []*wclient.CommitWatcher
	for _, o := range n.Orgs {
		w, err := wclient.WatchCommits(ctx, DialPeer(t, n, o), signer, devnet.ChannelID, wclient.SeekNewest())
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		watchers = append(watchers, w)
	}
	eps := map[string]pb.EndorserClient{}
	for _, o := range n.Orgs {
		for _, id := range endorsers {
			if o.MSPID == id {
				eps[id] = pb.NewEndorserClient(DialPeer(t, n, o))
			}
		}
	}
	fn := string(inv.Args[0])
	res, err := wclient.Invoke(ctx, signer, inv, eps, DialOrderer(t, n), watchers[0])
	if err != nil {
		t.Fatalf("%s %s: %v", inv.Chaincode, fn, err)
	}
	for i, w := range watchers[1:] {
		st, err := w.Wait(res.TxID)
		if err != nil {
			t.Fatalf("%s %s on %s: %v", inv.Chaincode, fn, n.Orgs[i+1].Peer, err)
		}
		if st.Code != pb.TxValidationCode_VALID {
			t.Fatalf("%s %s (%s) ended %s on %s", inv.Chaincode, fn, res.TxID, st.Code, n.Orgs[i+1].Peer)
		}
	}
}
