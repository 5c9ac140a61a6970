package devnettest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/msp"
)

// ChaincodeService is a chaincode program of a test's own (a module under
// testdata, say), built from source and run as a chaincode service that every
// peer of the network dials; Package is its chaincode-as-a-service package.
type ChaincodeService struct {
	*devnet.Process
	Label     string
	Package   []byte
	PackageID string
}

// StartChaincodeService builds the main package in dir (with -mod=mod, as
// a module of its own resolves its requirements) into the network's bin
// folder, and runs it as a chaincode service under label on a free loopback
// port, logging to logs/<label>.log. It is meant for a TestMain, which stops
// it (Stop) after the tests.
func StartChaincodeService(ctx context.Context, n *devnet.Network, dir, label string) (*ChaincodeService, error) {
	cfg := n.Config()
	bin := filepath.Join(cfg.BinDir, label)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the chaincode in %s: %w\n%s", dir, err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	pkg, err := wclient.CCaaSPackage(label, wclient.ConnectionJSON{Address: addr, DialTimeout: "10s"})
	if err != nil {
		return nil, err
	}
	s := &ChaincodeService{Label: label, Package: pkg, PackageID: wclient.PackageID(label, pkg)}
	s.Process = &devnet.Process{
		Name:    label + " chaincode",
		Binary:  bin,
		Env:     []string{"CHAINCODE_SERVER_ADDRESS=" + addr, "CHAINCODE_ID=" + s.PackageID},
		Dir:     cfg.Dir,
		LogPath: cfg.Path("logs", label+".log"),
		Ports:   []int{port},
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	if err := s.WaitReady(ctx); err != nil {
		_ = s.Stop(5 * time.Second)
		return nil, err
	}
	return s, nil
}

// freePort returns a loopback port nothing listens on (for now).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DeployDefinition does what Fabric admins do with `peer lifecycle
// chaincode` for a chaincode with a definition of their choosing (with
// collections, say): install pkg on every peer of the network (PeerNodes),
// approve def for each organisation (def.PackageID is set from pkg), commit
// it, and wait until every peer has committed each step. It then evaluates
// warmUp (a read-only function and its arguments, as User1 of the peer's
// organisation) on every peer until it succeeds, so that the tests start
// once each peer can run the chaincode; empty warmUp skips that.
func DeployDefinition(ctx context.Context, n *devnet.Network, label string, pkg []byte, def wclient.Definition, warmUp ...string) error {
	cfg := n.Config()
	def.PackageID = wclient.PackageID(label, pkg)
	admins := map[string]*msp.SigningIdentity{}
	for _, o := range n.Orgs {
		admin, err := cfg.Signer(o, "Admin")
		if err != nil {
			return err
		}
		admins[o.MSPID] = admin
	}
	for _, o := range n.PeerNodes {
		conn, err := wclient.Dial(cfg.PeerEndpoint(o))
		if err != nil {
			return err
		}
		out, err := wclient.Query(ctx, admins[o.MSPID], wclient.Invocation{Chaincode: wclient.LifecycleName, Args: wclient.InstallArgs(pkg)}, pb.NewEndorserClient(conn))
		conn.Close()
		// A package installed before (a rerun on the same network) is no
		// reason to stop.
		if err != nil && !strings.Contains(err.Error(), "already successfully installed") {
			return fmt.Errorf("install %s on %s: %w", label, o.Peer, err)
		}
		if err == nil {
			if res, err := wclient.InstallResult(out); err != nil || res.PackageId != def.PackageID {
				return fmt.Errorf("install %s on %s: got %v (%v), want package %s", label, o.Peer, res, err, def.PackageID)
			}
		}
	}
	for _, o := range n.Orgs {
		inv := wclient.Invocation{Channel: devnet.ChannelID, Chaincode: wclient.LifecycleName, Args: wclient.ApproveArgs(def)}
		if err := invokeEverywhere(ctx, n, admins[o.MSPID], inv, []devnet.Org{o}); err != nil {
			return fmt.Errorf("approve %s for %s: %w", def.Name, o.MSPID, err)
		}
	}
	inv := wclient.Invocation{Channel: devnet.ChannelID, Chaincode: wclient.LifecycleName, Args: wclient.CommitArgs(def)}
	if err := invokeEverywhere(ctx, n, admins[n.Orgs[0].MSPID], inv, n.Orgs); err != nil {
		return fmt.Errorf("commit %s: %w", def.Name, err)
	}
	if len(warmUp) == 0 {
		return nil
	}
	var args [][]byte
	for _, a := range warmUp {
		args = append(args, []byte(a))
	}
	for _, o := range n.PeerNodes {
		user, err := cfg.Signer(o, "User1")
		if err != nil {
			return err
		}
		err = eventually.Wait(FirstLaunchTimeout, func(ctx context.Context) error {
			conn, err := wclient.Dial(cfg.PeerEndpoint(o))
			if err != nil {
				return err
			}
			defer conn.Close()
			_, err = wclient.Query(ctx, user, wclient.Invocation{Channel: devnet.ChannelID, Chaincode: def.Name, Args: args}, pb.NewEndorserClient(conn))
			return err
		})
		if err != nil {
			return fmt.Errorf("first invocation of %s on %s (%q): %w", def.Name, o.Peer, warmUp, err)
		}
	}
	return nil
}

// invokeEverywhere endorses inv on the peers endorsers, orders it and
// waits until every peer of the network (PeerNodes) has committed it as
// valid.
func invokeEverywhere(ctx context.Context, n *devnet.Network, signer *msp.SigningIdentity, inv wclient.Invocation, endorsers []devnet.Org) error {
	cfg := n.Config()
	var watchers []*wclient.CommitWatcher
	for _, o := range n.PeerNodes {
		conn, err := wclient.Dial(cfg.PeerEndpoint(o))
		if err != nil {
			return err
		}
		defer conn.Close()
		w, err := wclient.WatchCommits(ctx, conn, signer, devnet.ChannelID, wclient.SeekNewest())
		if err != nil {
			return fmt.Errorf("%s: %w", o.Peer, err)
		}
		defer w.Close()
		watchers = append(watchers, w)
	}
	eps := map[string]pb.EndorserClient{}
	for _, o := range endorsers {
		conn, err := wclient.Dial(cfg.PeerEndpoint(o))
		if err != nil {
			return err
		}
		defer conn.Close()
		eps[o.Peer] = pb.NewEndorserClient(conn)
	}
	oconn, err := wclient.Dial(cfg.OrdererEndpoint())
	if err != nil {
		return err
	}
	defer oconn.Close()
	res, err := wclient.Invoke(ctx, signer, inv, eps, oconn, nil)
	if err != nil {
		return err
	}
	for i, w := range watchers {
		st, err := w.Wait(res.TxID)
		if err != nil {
			return fmt.Errorf("%s: %w", n.PeerNodes[i].Peer, err)
		}
		if st.Code != pb.TxValidationCode_VALID {
			return fmt.Errorf("transaction %s ended %s on %s", res.TxID, st.Code, n.PeerNodes[i].Peer)
		}
	}
	return nil
}
