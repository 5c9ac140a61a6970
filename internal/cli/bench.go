package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/loadgen"
	"github.com/weft-ledger/weft/msp"
)

// runBench drives transactions through a network and prints the figures
// docs/benchmarks.md asks for. With --devnet it starts a fresh development
// network in a temporary folder first (and measures every one of its
// processes), with the peers' state on CouchDB when --couchdb (or
// WEFT_COUCHDB) names a server; otherwise it drives the network named by
// connection profiles, as it would a Fabric one.
func runBench(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench")
	useDevnet := fs.Bool("devnet", false, "start a fresh development network for the run")
	bin := fs.String("bin", "", "with --devnet: folder of the peer, orderer and basic binaries (default: next to weft)")
	couch := fs.String("couchdb", os.Getenv(devnet.CouchDBEnv), "with --devnet: keep the peers' world state in CouchDB at this URL (http://USER:PASSWORD@host:port), "+
		"both peers on one server under the database prefix "+benchDatabasePrefix+", dropped after the run; or one URL per peer, comma-separated (default $"+devnet.CouchDBEnv+"; empty: LevelDB)")
	orderers := fs.Int("orderers", 1, "with --devnet: orderers of the network (1, 3 or 5); otherwise the orderers of the network driven, for the signature bound")
	peers := fs.Int("peers", 0, "with --devnet: peers per organisation (1 or 2; default 1); otherwise the peers per organisation of the network driven, for the signature bound (default: those in each connection profile)")
	orgs := fs.Int("orgs", 2, "with --devnet: application organisations (2, 3 or 4); when given, basic's endorsement policy is the AND of all of them (default: 2, the channel's MAJORITY, i.e. both)")
	batchSize := fs.Uint("batch-size", 0, "with --devnet: the channel's Orderer.BatchSize.MaxMessageCount (default: configtx.yaml's, 500)")
	batchTimeout := fs.Duration("batch-timeout", 0, "with --devnet: the channel's Orderer.BatchTimeout (default: configtx.yaml's, 200ms)")
	var others multiFlag
	fs.Var(&others, "pid", "NAME=PID: also account the CPU of this process, e.g. the CouchDB server on this machine (repeatable)")
	var profiles multiFlag
	fs.Var(&profiles, "profile", "connection profile of an endorsing organisation (repeat per organisation)")
	mspID := fs.String("mspid", "Org1MSP", "MSP ID of the submitting identity")
	mspDir := fs.String("msp", "", "MSP folder of the submitting identity")
	o := addOrdererFlags(fs)
	channel := fs.String("channel", "mychannel", "channel")
	chaincode := fs.String("chaincode", "basic", "chaincode (must have CreateAsset(id, color, size, owner, value), and TransferValue(from, to, amount) for --keys)")
	txs := fs.Int("txs", 20000, "transactions to measure")
	warmup := fs.Int("warmup", 1000, "transactions to commit before measuring")
	conc := fs.Int("concurrency", defaultBenchConcurrency, "closed loop: transactions in flight, each from its proposal sent until its commit is seen; with --rate: the in-flight cap (default 10 s of the rate)")
	rate := fs.Float64("rate", 0, "open loop: start proposals at this many per second whatever the commits (0: closed loop at --concurrency)")
	timeout := fs.Duration("timeout", 10*time.Minute, "stop each run (set-up, warm-up, measurement) after this long")
	keys := fs.Int("keys", 0, "hot keys: create this many accounts first (not measured), then measure TransferValue between two of them (0: CreateAsset with unique keys)")
	zipf := fs.Float64("zipf", 0, "with --keys: draw both accounts of a transfer from Zipf(s) over the keys (0: uniform)")
	ecdsaOps := fs.Int("ecdsa", 1500, "ECDSA P-256 verifications and signatures to time for the signature bound, before and after the load")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkBenchFlags(fs, *useDevnet, *keys, *zipf, *rate, *conc); err != nil {
		return err
	}
	cfg := loadgen.Config{Channel: *channel, Chaincode: *chaincode, Concurrency: *conc, Rate: *rate, Timeout: *timeout}
	if *rate > 0 && !flagSet(fs, "concurrency") {
		cfg.Concurrency = 0 // the open loop's default cap
	}
	pids := map[string]int{}
	for _, o := range others {
		name, raw, ok := strings.Cut(o, "=")
		pid, err := strconv.Atoi(raw)
		if !ok || name == "" || err != nil || pid <= 0 {
			return fmt.Errorf("--pid %q: give NAME=PID, e.g. --pid couchdb=4242", o)
		}
		if _, err := loadgen.ReadProcStat(pid); err != nil {
			return fmt.Errorf("--pid %s: %w", o, err)
		}
		pids[name] = pid
	}
	rep := benchReport{cores: runtime.NumCPU(), cpu: cpuModel(), keys: *keys, zipf: *zipf, rate: *rate}
	if *useDevnet {
		if *bin == "" {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			*bin = filepath.Dir(exe)
		}
		dir, err := os.MkdirTemp("", "weft-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		ports := devnet.DefaultPorts()
		ports.RESTGateway, ports.RESTGatewayOps = 0, 0 // not on the measured path: left out
		ncfg := devnet.Config{Dir: dir, BinDir: *bin, Ports: ports, Timeout: 3 * time.Minute,
			Orderers: *orderers, Peers: max(*peers, 1), Organizations: *orgs, BatchSize: uint32(*batchSize), BatchTimeout: *batchTimeout}
		policy := "channel default MAJORITY Endorsement"
		if flagSet(fs, "orgs") {
			if err := devnet.CheckOrgs(*orgs); err != nil {
				return fmt.Errorf("--orgs %d: %w", *orgs, err)
			}
			// The cost of each organisation in an AND: every one must endorse.
			ncfg.EndorsementPolicy = ncfg.AllOrgsPolicy()
			policy = ncfg.EndorsementPolicy
		}
		state := "LevelDB"
		if ncfg.CouchDB = devnet.ParseCouchDBList(*couch); len(ncfg.CouchDB) > 0 {
			if err := devnet.CheckCouchDB(ncfg.CouchDB, len(ncfg.PeerNodes())); err != nil {
				return fmt.Errorf("--couchdb: %w", err)
			}
			// A prefix of the benchmark's own: a fresh network clears what
			// is under its prefixes, which must not be a `weft up` network's.
			ncfg.DatabasePrefix = benchDatabasePrefix
			state = "CouchDB"
		}
		fmt.Fprintf(env.Stderr, "starting a development network in %s, state on %s\n", dir, state)
		n, err := devnet.Up(ctx, ncfg)
		if err != nil {
			return err
		}
		defer func() {
			n.Stop()
			if err := devnet.DropDatabases(context.Background(), ncfg); err != nil {
				fmt.Fprintf(env.Stderr, "drop the benchmark's CouchDB databases: %v\n", err)
			}
		}()
		nc := n.Config()
		for _, org := range n.Orgs {
			cfg.Endorsers = append(cfg.Endorsers, nc.PeerEndpoint(org))
		}
		for _, p := range n.AllPeers {
			pids[p.Name] = p.Pid()
		}
		for _, p := range n.Orderers {
			pids[p.Name] = p.Pid()
		}
		pids[n.Chaincode.Name] = n.Chaincode.Pid()
		cfg.Orderer = nc.OrdererEndpoint()
		if cfg.Signer, err = nc.Signer(n.Orgs[0], "User1"); err != nil {
			return err
		}
		rep.topology = loadgen.Topology{Orgs: len(n.Orgs), PeersPerOrg: len(n.PeerNodes) / len(n.Orgs), Orderers: len(n.Orderers)}
		rep.network = fmt.Sprintf("devnet, state on %s, %s, basic's policy %s", stateDatabase(*couch), blockSettings(uint32(*batchSize), *batchTimeout), policy)
	} else {
		if len(profiles) == 0 || *mspDir == "" {
			return fmt.Errorf("give --devnet, or --profile (per organisation), --msp, --mspid and -o/--cafile for the network to drive")
		}
		perOrg := 0
		for _, p := range profiles {
			cp, err := client.LoadConnectionProfile(p)
			if err != nil {
				return err
			}
			eps, err := cp.PeerEndpoints()
			if err != nil {
				return err
			}
			cfg.Endorsers = append(cfg.Endorsers, eps[0])
			perOrg = max(perOrg, len(eps))
		}
		if *peers > 0 {
			perOrg = *peers
		}
		oe, err := o.endpoint()
		if err != nil {
			return err
		}
		cfg.Orderer = oe
		if cfg.Signer, err = msp.LoadSigningIdentity(*mspDir, *mspID); err != nil {
			return err
		}
		rep.topology = loadgen.Topology{Orgs: len(profiles), PeersPerOrg: perOrg, Orderers: *orderers}
		rep.network = "given by connection profiles"
	}

	// The signature bound of this machine at this moment, measured before
	// the load so that the load does not slow it down.
	cost, err := loadgen.MeasureECDSA(*ecdsaOps)
	if err != nil {
		return err
	}
	rep.ecdsa, rep.ecdsaBefore = cost, cost

	if *keys > 0 {
		prefix := fmt.Sprintf("bench-acct-%d", time.Now().UnixNano())
		setup := cfg
		setup.Txs, setup.Rate, setup.Concurrency, setup.Args = *keys, 0, max(*conc, 1), loadgen.CreateAccounts(prefix)
		fmt.Fprintf(env.Stderr, "creating %d accounts\n", *keys)
		res, err := loadgen.Run(ctx, setup)
		if err != nil {
			return fmt.Errorf("create the accounts: %w", err)
		}
		if res.Valid < *keys {
			return fmt.Errorf("create the accounts: only %d of %d committed as valid (%s)", res.Valid, *keys, strings.Join(res.Errors, "; "))
		}
		if cfg.Args, err = loadgen.Transfers(prefix, *keys, *zipf, uint64(time.Now().UnixNano())); err != nil {
			return err
		}
	}
	if *warmup > 0 {
		w := cfg
		w.Txs = *warmup
		fmt.Fprintf(env.Stderr, "warming up with %d transactions\n", *warmup)
		if _, err := loadgen.Run(ctx, w); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	before := map[string]loadgen.ProcStat{}
	for name, pid := range pids {
		before[name], _ = loadgen.ReadProcStat(pid)
	}
	selfBefore := loadgen.SelfCPU()
	cfg.Txs = *txs
	fmt.Fprintf(env.Stderr, "measuring %d transactions\n", *txs)
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep.loadgenCPU = loadgen.SelfCPU() - selfBefore
	rep.res = res
	// And again after: the host's speed drifts over a run, and the bound
	// takes the faster of the two (the higher bound, the stricter fraction).
	if after, err := loadgen.MeasureECDSA(*ecdsaOps); err == nil {
		rep.ecdsaAfter = after
		rep.ecdsa = rep.ecdsaBefore.Faster(after)
	}
	for name, pid := range pids {
		after, err := loadgen.ReadProcStat(pid)
		if err != nil {
			continue
		}
		rep.procs = append(rep.procs, procFigures{name: name, cpu: after.CPU - before[name].CPU, peakRSS: after.PeakRSS})
	}
	slices.SortFunc(rep.procs, func(a, b procFigures) int { return strings.Compare(a.name, b.name) })
	rep.print(env.Stdout)

	return benchOutcome(res, *txs, *keys > 0)
}

// benchOutcome fails a run that did not finish, and one of unique keys
// where any transaction failed or was invalidated: those cannot conflict, so
// that is a fault. Hot keys are expected to conflict (MVCC_READ_CONFLICT)
// and to fail endorsement now and then (two peers read different versions).
func benchOutcome(res *loadgen.Result, txs int, hotKeys bool) error {
	switch done := res.Valid + res.Invalid + res.Failed; {
	case done < txs:
		return fmt.Errorf("only %d of %d transactions were seen committed or failed before the run's timeout", done, txs)
	case hotKeys && res.Valid == 0:
		return fmt.Errorf("none of %d transfers committed as valid", txs)
	case !hotKeys && res.Valid < txs:
		return fmt.Errorf("only %d of %d transactions committed as valid (%d invalid, %d failed before ordering)", res.Valid, txs, res.Invalid, res.Failed)
	}
	return nil
}

// defaultBenchConcurrency fills a block of the devnet's channel
// (MaxMessageCount 500): with fewer in flight a closed loop measures how
// long a block waits for its timeout, not what the nodes can carry (128 in
// flight, counted until commit, gave 128 / 0.33 s ≈ 380 tx/s whatever the
// nodes' speed).
const defaultBenchConcurrency = 500

// checkBenchFlags refuses flag combinations that cannot mean what they say.
func checkBenchFlags(fs *flag.FlagSet, useDevnet bool, keys int, zipf, rate float64, conc int) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !useDevnet {
		if set["couchdb"] {
			return fmt.Errorf("--couchdb chooses the state database of the network --devnet starts; a network given by --profile keeps its own")
		}
		for _, name := range []string{"batch-size", "batch-timeout", "bin", "orgs"} {
			if set[name] {
				return fmt.Errorf("--%s sets up the network --devnet starts; a network given by --profile keeps its own", name)
			}
		}
	}
	if keys < 0 || keys == 1 {
		return fmt.Errorf("--keys %d: give 0 (unique keys) or at least 2 accounts to transfer between", keys)
	}
	if set["zipf"] && keys == 0 {
		return fmt.Errorf("--zipf draws the accounts of --keys: give --keys N too")
	}
	if zipf < 0 {
		return fmt.Errorf("--zipf %g: give an exponent >= 0 (0 is uniform)", zipf)
	}
	if rate < 0 {
		return fmt.Errorf("--rate %g: give transactions per second, or 0 for a closed loop", rate)
	}
	if conc <= 0 {
		return fmt.Errorf("--concurrency %d: give at least 1", conc)
	}
	return nil
}

// blockSettings describes the devnet channel's block cutting for the report.
func blockSettings(size uint32, timeout time.Duration) string {
	s := "blocks of at most "
	if size == 0 {
		s += "500 (configtx.yaml)"
	} else {
		s += strconv.Itoa(int(size))
	}
	s += " tx, timeout "
	if timeout == 0 {
		return s + "200ms (configtx.yaml)"
	}
	return s + timeout.String()
}

// benchReport is everything one measured run prints.
type benchReport struct {
	cores      int
	cpu        string
	network    string
	topology   loadgen.Topology
	keys       int
	zipf, rate float64
	ecdsa      loadgen.ECDSACost // the faster of ecdsaBefore and ecdsaAfter, the bound's
	res        *loadgen.Result
	procs      []procFigures
	loadgenCPU time.Duration

	// ecdsaBefore and ecdsaAfter are timed before and after the load
	// (ecdsaAfter zero when not timed).
	ecdsaBefore, ecdsaAfter loadgen.ECDSACost
}

type procFigures struct {
	name    string
	cpu     time.Duration
	peakRSS int64
}

func (r benchReport) print(w io.Writer) {
	res := r.res
	fmt.Fprintf(w, "machine        %d cores, %s\n", r.cores, r.cpu)
	t := r.topology
	fmt.Fprintf(w, "network        %s; %d organisations (all endorse), %d peer(s) each, %d orderer(s)\n", r.network, t.Orgs, t.PeersPerOrg, t.Orderers)
	if r.keys > 0 {
		fmt.Fprintf(w, "workload       TransferValue between 2 of %d accounts drawn from Zipf(%g) (reads and writes both)\n", r.keys, r.zipf)
	} else {
		fmt.Fprintf(w, "workload       CreateAsset, a unique key per transaction\n")
	}
	if r.rate > 0 {
		fmt.Fprintf(w, "load           open loop, %g tx/s offered; in-flight cap %d, reached by %d proposals (started late); most in flight %d\n",
			r.rate, res.Limit, res.CapWaits, res.MaxInFlight)
	} else {
		fmt.Fprintf(w, "load           closed loop, %d in flight (proposal sent -> commit seen); most in flight %d\n", res.Limit, res.MaxInFlight)
	}
	committed := res.Valid + res.Invalid
	fmt.Fprintf(w, "transactions   %d accepted by the orderer, %d failed before; %d committed in %.2fs: %d valid, %d invalid; %d blocks, %.1f tx/block\n",
		res.Submitted, res.Failed, committed, res.Elapsed.Seconds(), res.Valid, res.Invalid, res.Blocks, res.TxsPerBlock())
	mvcc := res.ByCode[pb.TxValidationCode_MVCC_READ_CONFLICT]
	fmt.Fprintf(w, "MVCC conflicts %d MVCC_READ_CONFLICT (%.1f%% of committed), %.0f/s\n", mvcc, pct(mvcc, committed), perSecond(mvcc, res.Elapsed))
	var codes []string
	for code, n := range res.ByCode {
		if code != pb.TxValidationCode_VALID && code != pb.TxValidationCode_MVCC_READ_CONFLICT {
			codes = append(codes, fmt.Sprintf("%s %d", code, n))
		}
	}
	if len(codes) > 0 {
		slices.Sort(codes)
		fmt.Fprintf(w, "other invalid  %s\n", strings.Join(codes, ", "))
	}
	fmt.Fprintf(w, "throughput     %.0f valid committed tx/s\n", res.TPS())
	fmt.Fprintf(w, "latency        p50 %s  p90 %s  p99 %s (proposal sent -> commit seen, %d committed)\n",
		res.Percentile(50).Round(time.Millisecond), res.Percentile(90).Round(time.Millisecond), res.Percentile(99).Round(time.Millisecond), len(res.Latencies))
	var total time.Duration
	for _, p := range r.procs {
		total += p.cpu
		fmt.Fprintf(w, "process        %-24s cpu %6.2fs  %.3f ms/tx  peak rss %d MiB\n", p.name, p.cpu.Seconds(), perTx(p.cpu, res.Valid), p.peakRSS>>20)
	}
	if len(r.procs) > 0 {
		fmt.Fprintf(w, "nodes total    cpu %6.2fs  %.3f ms/tx", total.Seconds(), perTx(total, res.Valid))
		if res.Invalid > 0 {
			fmt.Fprintf(w, " (ms per valid tx; %.3f per committed tx)", perTx(total, committed))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "load generator cpu %6.2fs  %.3f ms/tx\n", r.loadgenCPU.Seconds(), perTx(r.loadgenCPU, res.Valid))

	bv, bs := t.PerBlock()
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Nanosecond) }
	if r.ecdsaAfter.N > 0 {
		fmt.Fprintf(w, "ecdsa p-256    verify %s, sign %s CPU each, the faster of before the load (%s, %s) and after it (%s, %s); median of 3 rounds, %d of each\n",
			round(r.ecdsa.Verify), round(r.ecdsa.Sign), round(r.ecdsaBefore.Verify), round(r.ecdsaBefore.Sign),
			round(r.ecdsaAfter.Verify), round(r.ecdsaAfter.Sign), r.ecdsa.N)
	} else {
		fmt.Fprintf(w, "ecdsa p-256    verify %s, sign %s CPU each (median of 3 rounds, %d of each, before the load)\n",
			round(r.ecdsa.Verify), round(r.ecdsa.Sign), r.ecdsa.N)
	}
	// The bound of issue 15 counts the protocol's signature work; Weft
	// does less (each peer skips its own endorsement), so its own count is
	// printed beside it.
	pv, ps := t.ProtocolPerTx()
	pfv, pfs := t.ProtocolWork(res.TxsPerBlock())
	pwork := r.ecdsa.PerTx(pfv, pfs)
	bound := loadgen.Bound(r.cores, pwork)
	fmt.Fprintf(w, "signature work %d verifies + %d signs per tx (orderer 1 verify; each endorsing peer 1 verify + 1 sign; each peer 1 + %d endorsements)"+
		" + per block %d verifies + %d signs: %.2f verifies + %.2f signs = %.3f ms CPU per tx\n",
		pv, ps, t.Orgs, bv, bs, pfv, pfs, float64(pwork.Microseconds())/1000)
	fmt.Fprintf(w, "signature bound %.0f tx/s on %d cores\n", bound, r.cores)
	if bound > 0 {
		fmt.Fprintf(w, "fraction       %.3f of the signature bound (%.0f / %.0f tx/s)\n", res.TPS()/bound, res.TPS(), bound)
	}
	v, s := t.PerTx()
	fv, fsg := t.Work(res.TxsPerBlock())
	work := r.ecdsa.PerTx(fv, fsg)
	own := loadgen.Bound(r.cores, work)
	fmt.Fprintf(w, "as weft signs  %d verifies + %d signs per tx (each peer skips its own endorsement) + per block: %.3f ms CPU per tx, bound %.0f tx/s",
		v, s, float64(work.Microseconds())/1000, own)
	if own > 0 {
		fmt.Fprintf(w, ", fraction %.3f", res.TPS()/own)
	}
	fmt.Fprintln(w)
	for _, e := range res.Errors {
		fmt.Fprintln(w, "error         ", e)
	}
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// benchDatabasePrefix goes before each peer's own database prefix on
// CouchDB (bench_peer0org1_...).
const benchDatabasePrefix = "bench_"

// stateDatabase names the devnet's state database for the report, without
// credentials.
func stateDatabase(couch string) string {
	urls := devnet.ParseCouchDBList(couch)
	if len(urls) == 0 {
		return "LevelDB"
	}
	for i, u := range urls {
		if p, err := url.Parse(u); err == nil && p.User != nil {
			urls[i] = p.Redacted()
		}
	}
	return "CouchDB at " + strings.Join(urls, ", ")
}

func perTx(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / 1000 / float64(n)
}

func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}
