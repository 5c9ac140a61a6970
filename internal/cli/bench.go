package cli

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/loadgen"
	"github.com/weft-ledger/weft/msp"
)

// runBench drives CreateAsset transactions through a network and prints the
// figures docs/benchmarks.md asks for. With --devnet it starts a fresh development
// network in a temporary folder first (and measures its processes), with the
// peers' state on CouchDB when --couchdb (or WEFT_COUCHDB) names a server;
// otherwise it drives the network named by connection profiles, as it would a
// Fabric one.
func runBench(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench")
	useDevnet := fs.Bool("devnet", false, "start a fresh development network for the run")
	bin := fs.String("bin", "", "with --devnet: folder of the peer, orderer and basic binaries (default: next to weft)")
	couch := fs.String("couchdb", os.Getenv(devnet.CouchDBEnv), "with --devnet: keep the peers' world state in CouchDB at this URL (http://USER:PASSWORD@host:port), "+
		"both peers on one server under the database prefix "+benchDatabasePrefix+", dropped after the run; or one URL per peer, comma-separated (default $"+devnet.CouchDBEnv+"; empty: LevelDB)")
	var others multiFlag
	fs.Var(&others, "pid", "NAME=PID: also account the CPU of this process, e.g. the CouchDB server on this machine (repeatable)")
	var profiles multiFlag
	fs.Var(&profiles, "profile", "connection profile of an endorsing organisation (repeat per organisation)")
	mspID := fs.String("mspid", "Org1MSP", "MSP ID of the submitting identity")
	mspDir := fs.String("msp", "", "MSP folder of the submitting identity")
	o := addOrdererFlags(fs)
	channel := fs.String("channel", "mychannel", "channel")
	chaincode := fs.String("chaincode", "basic", "chaincode (must have CreateAsset(id, color, size, owner, value))")
	txs := fs.Int("txs", 20000, "transactions to commit")
	warmup := fs.Int("warmup", 1000, "transactions to commit before measuring")
	conc := fs.Int("concurrency", 128, "transactions in flight at most")
	rate := fs.Float64("rate", 0, "offered load in transactions per second (0: as fast as possible)")
	timeout := fs.Duration("timeout", 10*time.Minute, "stop the run after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := loadgen.Config{Channel: *channel, Chaincode: *chaincode, Concurrency: *conc, Rate: *rate, Timeout: *timeout}
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
	couchGiven := false
	fs.Visit(func(f *flag.Flag) { couchGiven = couchGiven || f.Name == "couchdb" })
	if couchGiven && !*useDevnet {
		return fmt.Errorf("--couchdb chooses the state database of the network --devnet starts; a network given by --profile keeps its own")
	}
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
		ncfg := devnet.Config{Dir: dir, BinDir: *bin, Ports: devnet.DefaultPorts(), Timeout: 3 * time.Minute}
		state := "LevelDB"
		if ncfg.CouchDB = devnet.ParseCouchDBList(*couch); len(ncfg.CouchDB) > 0 {
			if err := devnet.CheckCouchDB(ncfg.CouchDB, len(ncfg.Orgs())); err != nil {
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
			pids[org.Peer] = n.Peers[org.MSPID].Pid()
		}
		pids["orderer.example.com"] = n.Orderer.Pid()
		pids["chaincode basic"] = n.Chaincode.Pid()
		cfg.Orderer = nc.OrdererEndpoint()
		if cfg.Signer, err = nc.Signer(n.Orgs[0], "User1"); err != nil {
			return err
		}
	} else {
		if len(profiles) == 0 || *mspDir == "" {
			return fmt.Errorf("give --devnet, or --profile (per organisation), --msp, --mspid and -o/--cafile for the network to drive")
		}
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
		}
		oe, err := o.endpoint()
		if err != nil {
			return err
		}
		cfg.Orderer = oe
		if cfg.Signer, err = msp.LoadSigningIdentity(*mspDir, *mspID); err != nil {
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
	fmt.Fprintf(env.Stderr, "measuring %d transactions, %d in flight\n", *txs, *conc)
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	selfCPU := loadgen.SelfCPU() - selfBefore

	w := env.Stdout
	fmt.Fprintf(w, "machine        %d cores, %s\n", runtime.NumCPU(), cpuModel())
	if *useDevnet {
		fmt.Fprintf(w, "state database %s\n", stateDatabase(*couch))
	}
	fmt.Fprintf(w, "transactions   %d submitted, %d valid, %d invalid in %.2fs\n", res.Submitted, res.Valid, res.Invalid, res.Elapsed.Seconds())
	fmt.Fprintf(w, "throughput     %.0f committed tx/s\n", res.TPS())
	fmt.Fprintf(w, "latency        p50 %s  p90 %s  p99 %s (proposal sent -> commit seen)\n",
		res.Percentile(50).Round(time.Millisecond), res.Percentile(90).Round(time.Millisecond), res.Percentile(99).Round(time.Millisecond))
	var total time.Duration
	for name, pid := range pids {
		after, err := loadgen.ReadProcStat(pid)
		if err != nil {
			continue
		}
		cpu := after.CPU - before[name].CPU
		total += cpu
		fmt.Fprintf(w, "process        %-24s cpu %6.2fs  %.3f ms/tx  peak rss %d MiB\n", name, cpu.Seconds(), perTx(cpu, res.Valid), after.PeakRSS>>20)
	}
	if len(pids) > 0 {
		fmt.Fprintf(w, "nodes total    cpu %6.2fs  %.3f ms/tx\n", total.Seconds(), perTx(total, res.Valid))
	}
	fmt.Fprintf(w, "load generator cpu %6.2fs  %.3f ms/tx\n", selfCPU.Seconds(), perTx(selfCPU, res.Valid))
	for _, e := range res.Errors {
		fmt.Fprintln(w, "error         ", e)
	}
	if res.Valid < *txs {
		return fmt.Errorf("only %d of %d transactions committed as valid", res.Valid, *txs)
	}
	return nil
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
