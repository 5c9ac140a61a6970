package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/weft-ledger/weft/discovery"
	"github.com/weft-ledger/weft/gossip"
	"github.com/weft-ledger/weft/internal/flowcontrol"
	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/internal/rpclimit"
	"github.com/weft-ledger/weft/internal/rpcrecover"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/peer/deliver"
	"github.com/weft-ledger/weft/peer/endorser"
	"github.com/weft-ledger/weft/peer/gateway"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/peer/validator"
)

// maxMessageSize is the gRPC message limit, Fabric's default (100 MiB).
const maxMessageSize = 100 * 1024 * 1024

// ownSignaturesKept bounds the endorsements remembered until their blocks are
// validated (a few thousand transactions in flight; about 150 bytes each).
const ownSignaturesKept = 8192

// Node is one running peer.
type Node struct {
	cfg      Config
	log      *slog.Logger
	signer   *msp.SigningIdentity
	localMSP *msp.MSP
	// localManager holds the local MSP alone, for checks of gossip identities.
	localManager *msp.Manager
	tlsCert      *tls.Certificate // nil without TLS
	// ccCA signs the chaincode listener's certificate and each launched
	// chaincode's client certificate (nil without TLS).
	ccCA *chaincode.CA
	// overrides are peer.deliveryclient.addressOverrides, by the address
	// they replace.
	overrides map[string]deliver.Endpoint
	lifecycle *lifecycle.Lifecycle
	runtime   *chaincode.Runtime
	endorser  *endorser.Endorser
	deliver   *deliver.Server
	gateway   *gateway.Server
	notifier  *gateway.CommitNotifier
	transient *transientStores
	// own holds the endorsements this peer signed, which its validators
	// then need not verify.
	own *validator.OwnSignatures

	// metrics are served on the operations listener; logging is the level
	// control behind /logspec.
	metrics *metrics
	logging *operations.Logging

	mu       sync.RWMutex // guards channels and runCtx
	channels map[string]*channel

	runCtx context.Context    // set by Run; channels started by joins live in it
	ops    *operations.Server // set by Run when operations.listenAddress is set
	wg     sync.WaitGroup     // channel goroutines

	hooks hooks // fault injection for tests (peer/commit.go)

	// gossip is the peer's gossip service (gossip.go); discovery serves
	// Fabric's Discovery service from it (nil with peer.discovery.enabled
	// false).
	gossip    *gossip.Service
	discovery *discovery.Server

	// couch is the CouchDB server holding the channels' state, set by Run
	// before any channel opens when ledger.state.stateDatabase is CouchDB
	// (statedb.go); nil on LevelDB.
	couch *couchState
}

// Option adjusts a Node.
type Option func(*Node)

// WithLogging makes the node log through lg, whose levels the operations
// service's /logspec then reads and changes; the log argument of New is
// ignored. Without it, New's logger is wrapped with the level filter of
// cfg.Logging.Spec.
func WithLogging(lg *operations.Logging) Option { return func(n *Node) { n.logging = lg } }

// New loads the peer's identity and builds its services. It opens no port and
// starts nothing: Run does.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Node, error) {
	var o Node
	for _, opt := range opts {
		opt(&o)
	}
	logging := o.logging
	if logging == nil {
		if log == nil {
			log = slog.Default()
		}
		var err error
		if logging, err = operations.NewLogging(log.Handler(), cfg.Logging.Spec); err != nil {
			return nil, fmt.Errorf("logging.spec: %w", err)
		}
	}
	log = logging.Logger().With("peer", cfg.ID)
	signer, err := msp.LoadSigningIdentity(cfg.MSPConfigPath, cfg.LocalMSPID)
	if err != nil {
		return nil, fmt.Errorf("load the peer's signing identity: %w", err)
	}
	conf, err := msp.LoadMSPDir(cfg.MSPConfigPath, cfg.LocalMSPID)
	if err != nil {
		return nil, fmt.Errorf("load the peer's MSP: %w", err)
	}
	local, err := msp.New(conf)
	if err != nil {
		return nil, fmt.Errorf("load the peer's MSP: %w", err)
	}
	n := &Node{
		cfg: cfg, log: log, signer: signer, localMSP: local, localManager: msp.NewManager(local),
		notifier: gateway.NewCommitNotifier(),
		channels: map[string]*channel{},
		own:      validator.NewOwnSignatures(signer.Serialized, ownSignaturesKept),
		metrics:  newMetrics(),
		logging:  logging,
	}
	n.transient = newTransientStores(filepath.Join(cfg.FileSystemPath, "transientstore"), uint64(cfg.Gossip.withDefaults().TransientstoreMaxBlockRetention), n.ledgerHeight, log)
	n.metrics.reg.OnScrape(n.scrape)
	if cfg.TLS.Enabled {
		pair, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load peer TLS key pair (peer.tls.cert.file, peer.tls.key.file): %w", err)
		}
		n.tlsCert = &pair
	}
	if n.overrides, err = addressOverrides(cfg.DeliveryClient.AddressOverrides); err != nil {
		return nil, err
	}
	n.lifecycle, err = lifecycle.New(lifecycle.Config{
		PackageDir: filepath.Join(cfg.FileSystemPath, "lifecycle", "chaincodes"),
		LocalMSP:   local,
		Channels:   lifecycleChannels{n},
		Joined:     lifecycleChannels{n},
		Logger:     log,
		// Packages over peer.limits.chaincodePackage are refused at install.
		PackageLimits: cfg.Limits.Package,
		// A package installed may let the peer run a chaincode defined on a
		// channel: advertise it in gossip state info.
		Installed: func(string) { n.advertiseChaincodes() },
	})
	if err != nil {
		return nil, err
	}
	if n.ccCA, err = newChaincodeCA(cfg); err != nil {
		return nil, err
	}
	launcher := &chaincode.PackageLauncher{
		PackageDir:  filepath.Join(cfg.FileSystemPath, "lifecycle", "chaincodes"),
		BuildDir:    filepath.Join(cfg.FileSystemPath, "chaincode-builds"),
		PeerAddress: cfg.chaincodeEndpoint(),
		LocalMSPID:  cfg.LocalMSPID,
		Logger:      log,
		// External builders are tried first, as in Fabric.
		ExternalBuilders: cfg.ExternalBuilders,
		PackageLimits:    cfg.Limits.Package,
	}
	n.runtime = chaincode.NewRuntime(chaincode.Config{
		ExecuteTimeout:  cfg.ExecuteTimeout,
		RegisterTimeout: cfg.StartupTimeout,
		TotalQueryLimit: cfg.Ledger.TotalQueryLimit,
		Logger:          log,
		Metrics:         n.metrics.chaincode,
		CA:              n.ccCA,
	}, launcher)
	n.endorser, err = endorser.New(endorser.Config{
		Signer:      n.own.Signer(signer),
		LocalMSP:    local,
		Channels:    endorserChannels{n},
		System:      []chaincode.SystemChaincode{n.lifecycle, &cscc{node: n}, &qscc{blocks: n.committedBlocks, configs: n.channelConfig}},
		Runtime:     n.runtime,
		Definitions: n.lifecycle,
		Transient:   privateEndorsements{n},
		Logger:      log,
		Metrics:     n.metrics.endorser,
	})
	if err != nil {
		return nil, err
	}
	if err := n.newGossip(); err != nil {
		return nil, err
	}
	n.deliver = deliver.NewServer(deliverChannels{n}, log)
	n.deliver.Metrics = n.metrics.deliver
	n.deliver.TimeWindow = cfg.AuthTimeWindow // 0: Fabric's 15 minutes
	n.deliver.MutualTLS = cfg.TLS.Enabled && cfg.TLS.ClientAuthRequired
	if cfg.GatewayEnabled {
		n.gateway, err = gateway.New(gateway.Config{
			MSPID:          cfg.LocalMSPID,
			Endpoint:       cfg.Address,
			Endorser:       n.endorser,
			Channels:       gatewayChannels{n},
			Chaincodes:     gatewayChaincodes{n},
			Notifier:       n.notifier,
			ClientCert:     n.tlsCert,
			EndorseTimeout: cfg.EndorsementTimeout,
			Logger:         log,
		})
		if err != nil {
			return nil, err
		}
	}
	return n, nil
}

// serverOptions returns the gRPC options of the peer's listeners.
func (n *Node) serverOptions() ([]grpc.ServerOption, error) {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.MaxSendMsgSize(maxMessageSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if n.tlsCert != nil {
		// As Fabric's peer, ask every client for a certificate: gossip binds
		// its handshake to the certificate the other peer presents.
		cfg := &tls.Config{Certificates: []tls.Certificate{*n.tlsCert}, MinVersion: tls.VersionTLS12, ClientAuth: tls.RequestClientCert}
		if n.cfg.TLS.ClientAuthRequired {
			pem, err := os.ReadFile(n.cfg.TLS.RootCertFile)
			if err != nil {
				return nil, fmt.Errorf("read peer.tls.rootcert.file: %w", err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			cfg.ClientCAs = pool
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	return opts, nil
}

// streamWorkers is the number of goroutines the peer's gRPC server keeps to
// run calls. Without them every call (each proposal) runs on a new goroutine
// whose stack grows, by copying, to the depth signature checking needs:
// about a tenth of the peer's CPU at 200 proposals a second. A kept worker
// keeps its grown stack. Long-lived streams (Deliver, gossip) may hold
// workers; calls arriving while all are busy get a goroutine of their own,
// as without workers. At saturation a peer has hundreds of proposals in
// flight: with 32 workers most calls still took a fresh goroutine and stack
// growth was 3.1–3.3% of the peer's CPU, with 256 it is 1.3–1.7%. An idle
// worker's stack shrinks back at garbage collection.
const streamWorkers = 256

// Run serves until ctx ends, then stops every channel and listener.
func (n *Node) Run(ctx context.Context) error {
	opts, err := n.serverOptions()
	if err != nil {
		return err
	}
	if err := n.connectState(ctx); err != nil {
		return err
	}
	defer n.closeState() // after closeChannels below
	lis, err := net.Listen("tcp", n.cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("listen on peer.listenAddress %s: %w", n.cfg.ListenAddress, err)
	}
	ccOpts, err := n.chaincodeServerOptions()
	if err != nil {
		lis.Close()
		return err
	}
	ccLis, err := net.Listen("tcp", n.cfg.ChaincodeListenAddress)
	if err != nil {
		lis.Close()
		return fmt.Errorf("listen on peer.chaincodeListenAddress %s: %w", n.cfg.ChaincodeListenAddress, err)
	}
	// The metrics interceptors come first, so they see the Internal code
	// rpcrecover turns a panic into.
	opts = append(opts, operations.GRPCServerOptions(n.metrics.reg)...)
	// Then the concurrency limits (peer.limits.concurrency), so refused
	// calls are counted too.
	opts = append(opts, rpclimit.New(map[string]int{
		rpclimit.EndorserService: n.cfg.Limits.EndorserService,
		rpclimit.DeliverService:  n.cfg.Limits.DeliverService,
		rpclimit.GatewayService:  n.cfg.Limits.GatewayService,
	}, n.log).ServerOptions()...)
	opts = append(opts, rpcrecover.ServerOptions(n.log)...)
	opts = append(opts, flowcontrol.ServerOptions()...)
	srv := grpc.NewServer(append(opts, grpc.NumStreamWorkers(streamWorkers))...)
	pb.RegisterEndorserServer(srv, n.endorser)
	pb.RegisterDeliverServer(srv, n.deliver)
	n.gossip.Register(srv)
	if n.discovery != nil {
		n.discovery.Register(srv)
	}
	if n.gateway != nil {
		gwpb.RegisterGatewayServer(srv, n.gateway)
	}
	// Launched chaincode dials the chaincode listener: with TLS over mutual
	// TLS with the chaincode CA, plain gRPC without (chaincodelistener.go).
	ccSrv := grpc.NewServer(append(rpcrecover.ServerOptions(n.log), ccOpts...)...)
	pb.RegisterChaincodeSupportServer(ccSrv, n.runtime)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.mu.Lock()
	n.runCtx = runCtx
	n.mu.Unlock()
	// Gossip runs before any channel opens: each joins it.
	gossipDone := n.gossip.Start(runCtx)
	defer func() { <-gossipDone }()
	if err := n.reopenChannels(runCtx); err != nil {
		lis.Close()
		ccLis.Close()
		return err
	}

	if n.cfg.ProfileAddress != "" {
		stopProfile, err := operations.ServeProfile(n.cfg.ProfileAddress, "peer.profile.listenAddress", n.log)
		if err != nil {
			lis.Close()
			ccLis.Close()
			return err
		}
		defer stopProfile()
	}
	if n.cfg.OperationsAddress != "" {
		ops, err := n.newOperations()
		if err == nil {
			err = ops.Listen()
		}
		if err != nil {
			lis.Close()
			ccLis.Close()
			return fmt.Errorf("operations.listenAddress %s: %w", n.cfg.OperationsAddress, err)
		}
		ops.Serve()
		n.mu.Lock()
		n.ops = ops
		n.mu.Unlock()
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ops.Stop(ctx)
		}()
	}

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(lis) }()
	go func() { errc <- ccSrv.Serve(ccLis) }()
	n.log.Info("peer started", "address", n.cfg.Address, "listen", n.cfg.ListenAddress,
		"chaincode_listen", n.cfg.ChaincodeListenAddress, "msp_id", n.cfg.LocalMSPID, "tls", n.cfg.TLS.Enabled)

	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("gRPC server stopped: %w", err)
	}
	cancel()
	n.mu.Lock()
	n.runCtx = nil // joins arriving from now on are refused
	n.mu.Unlock()
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		srv.Stop()
	}
	ccSrv.Stop()
	n.wg.Wait()
	n.closeChannels()
	n.runtime.Close()
	if n.gateway != nil {
		n.gateway.Close()
	}
	n.notifier.Close()
	n.log.Info("peer stopped")
	return err
}

// OperationsAddr is the operations listener's address while Run serves it
// ("" otherwise): with operations.listenAddress port 0, the port picked.
func (n *Node) OperationsAddr() string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.ops == nil {
		return ""
	}
	return n.ops.Addr()
}

// ledgersDir holds one folder per joined channel.
func (n *Node) ledgersDir() string {
	return filepath.Join(n.cfg.FileSystemPath, "ledgersData", "chains")
}

// reopenChannels opens the ledger of every channel joined before a restart.
func (n *Node) reopenChannels(ctx context.Context) error {
	entries, err := os.ReadDir(n.ledgersDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		ch, err := openChannel(n, e.Name())
		if err != nil {
			return fmt.Errorf("reopen channel %s: %w", e.Name(), err)
		}
		n.addChannel(ctx, ch)
	}
	return nil
}

func (n *Node) addChannel(ctx context.Context, ch *channel) {
	n.mu.Lock()
	n.channels[ch.id] = ch
	n.mu.Unlock()
	if err := n.joinGossip(ch); err != nil {
		// The channel still commits from the orderers.
		n.log.Error("channel runs without gossip", "channel", ch.id, "err", err)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ch.run(ctx)
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ch.reconcile(ctx)
	}()
	if every := n.cfg.CommitHashCheckInterval; every > 0 {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			ch.checkCommitHashes(ctx, every)
		}()
	}
	n.log.Info("channel open", "channel", ch.id, "height", ch.ledger.Blocks().Height())
}

func (n *Node) closeChannels() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, ch := range n.channels {
		ch.pipe.wg.Wait() // an early check reads the ledger
		if err := ch.ledger.Close(); err != nil {
			n.log.Error("close ledger", "channel", id, "err", err)
		}
	}
	n.channels = map[string]*channel{}
	if err := n.transient.Close(); err != nil {
		n.log.Error("close transient stores", "err", err)
	}
}

// ledgerHeight is a joined channel's ledger height, recorded with the
// private write sets its endorsements leave in the transient store.
func (n *Node) ledgerHeight(channelID string) (uint64, error) {
	ch, err := n.channel(channelID)
	if err != nil {
		return 0, err
	}
	return ch.ledger.Blocks().Height(), nil
}

// channel returns a joined channel or an error naming it.
func (n *Node) channel(id string) (*channel, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	ch, ok := n.channels[id]
	if !ok {
		return nil, fmt.Errorf("peer %s has not joined channel %q", n.cfg.ID, id)
	}
	return ch, nil
}

// channelIDs lists the joined channels, sorted.
func (n *Node) channelIDs() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	ids := make([]string, 0, len(n.channels))
	for id := range n.channels {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// addressOverrides loads peer.deliveryclient.addressOverrides: each maps an
// orderer address from the channel config to another one, trusted with the
// CA certificates in caCertsFile.
func addressOverrides(list []AddressOverride) (map[string]deliver.Endpoint, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string]deliver.Endpoint{}
	for i, o := range list {
		ep := deliver.Endpoint{Address: o.To}
		if o.CACertsFile != "" {
			raw, err := os.ReadFile(o.CACertsFile)
			if err != nil {
				return nil, fmt.Errorf("peer.deliveryclient.addressOverrides[%d].caCertsFile: %w", i, err)
			}
			ep.TLSRoots = x509.NewCertPool()
			if !ep.TLSRoots.AppendCertsFromPEM(raw) {
				return nil, fmt.Errorf("peer.deliveryclient.addressOverrides[%d].caCertsFile %s holds no PEM certificate", i, o.CACertsFile)
			}
		}
		out[o.From] = ep
	}
	return out, nil
}

// advertiseChaincodes refreshes the chaincodes every joined channel's gossip
// state info lists (after an install).
func (n *Node) advertiseChaincodes() {
	for _, id := range n.channelIDs() {
		if ch, err := n.channel(id); err == nil {
			ch.advertiseChaincodes()
		}
	}
}
