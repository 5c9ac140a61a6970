package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/ledger"
	ccrt "github.com/weft-ledger/weft/peer/chaincode"
)

// suiteDir is the behavioural-suite chaincode: one source, built on Weft's
// shim with -tags weftshim and on the official shim without.
const suiteDir = "../e2e/testdata/suitecc"

// BenchmarkChaincodePut measures one transaction through the chaincode
// stream: the peer's Runtime sends TRANSACTION "put k v" to a chaincode
// process over gRPC on loopback, the chaincode answers one PUT_STATE, the
// simulator records the write on a real ledger, and COMPLETED comes back.
// "serial" keeps one transaction in flight (round-trip latency); "parallel"
// keeps 16 in flight on the one stream (throughput). Both shims run the same
// chaincode source.
//
// Wall time is noisy on a shared machine, so each run also reports CPU per
// transaction: cpu_us/tx is this process's (the peer side, the ledger
// simulator and the benchmark's own loop), cc_cpu_us/tx the chaincode
// process's (read from /proc in clock ticks, so run long enough for a few
// hundred ticks, e.g. -benchtime 3s). CPU on a busy machine still varies
// with what else runs; the system calls per transaction do not much:
// reads/tx and writes/tx (this process) and cc_reads/tx and cc_writes/tx
// (the chaincode's), from /proc/<pid>/io, count the socket writes and reads
// (each write on loopback wakes the other side) and failed non-blocking
// reads; cs/tx and cc_cs/tx count the context switches of all threads (a
// thread that sleeps and is woken costs one), from getrusage and
// /proc/<pid>/task/*/status.
func BenchmarkChaincodePut(b *testing.B) {
	for _, v := range []struct{ name, tags string }{{"weft-shim", "weftshim"}, {"official-shim", ""}} {
		b.Run(v.name, func(b *testing.B) {
			h := startChaincode(b, v.name, v.tags)
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				cpu := h.startCPU(b)
				for i := 0; b.Loop(); i++ {
					h.put(b, "serial", i)
				}
				cpu.report(b)
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
			})
			b.Run("parallel", func(b *testing.B) {
				var seq atomic.Int64
				b.SetParallelism(8) // 8 × GOMAXPROCS goroutines in flight
				cpu := h.startCPU(b)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						h.put(b, "parallel", int(seq.Add(1)))
					}
				})
				cpu.report(b)
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
			})
		})
	}
}

// ccHarness is a Runtime with one registered chaincode and a ledger to
// simulate on.
type ccHarness struct {
	rt        *ccrt.Runtime
	ledger    *ledger.Ledger
	packageID string
	pid       int // the chaincode process
	txs       atomic.Int64
}

// ccCPU is the CPU and system calls both processes have used since a run
// started.
type ccCPU struct {
	h               *ccHarness
	self, child     time.Duration
	selfIO, childIO [2]int64 // read and write system calls
	selfCS, childCS int64    // context switches
}

func (h *ccHarness) startCPU(b *testing.B) ccCPU {
	return ccCPU{h: h, self: processCPU(), child: childCPU(b, h.pid), selfIO: syscalls(b, "self"), childIO: syscalls(b, strconv.Itoa(h.pid)),
		selfCS: selfSwitches(), childCS: childSwitches(b, h.pid)}
}

// report adds cpu_us/tx (this process) and cc_cpu_us/tx (the chaincode's),
// and their read and write system calls, over the b.N transactions run
// since startCPU.
func (c ccCPU) report(b *testing.B) {
	self := processCPU() - c.self
	child := childCPU(b, c.h.pid) - c.child
	selfIO, childIO := syscalls(b, "self"), syscalls(b, strconv.Itoa(c.h.pid))
	n := float64(b.N)
	b.ReportMetric(float64(self.Microseconds())/n, "cpu_us/tx")
	b.ReportMetric(float64(child.Microseconds())/n, "cc_cpu_us/tx")
	b.ReportMetric(float64(selfIO[0]-c.selfIO[0])/n, "reads/tx")
	b.ReportMetric(float64(selfIO[1]-c.selfIO[1])/n, "writes/tx")
	b.ReportMetric(float64(childIO[0]-c.childIO[0])/n, "cc_reads/tx")
	b.ReportMetric(float64(childIO[1]-c.childIO[1])/n, "cc_writes/tx")
	b.ReportMetric(float64(selfSwitches()-c.selfCS)/n, "cs/tx")
	b.ReportMetric(float64(childSwitches(b, c.h.pid)-c.childCS)/n, "cc_cs/tx")
}

// selfSwitches counts this process's context switches, all threads.
func selfSwitches() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Nvcsw + ru.Nivcsw
}

// childSwitches counts the context switches of process pid's live threads,
// from /proc/<pid>/task/*/status (a Go program seldom ends a thread).
func childSwitches(b *testing.B, pid int) int64 {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		b.Fatalf("list the chaincode's threads: %v", err)
	}
	var n int64
	for _, t := range tasks {
		raw, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, line := range strings.Split(string(raw), "\n") {
			name, value, _ := strings.Cut(line, ":")
			if name == "voluntary_ctxt_switches" || name == "nonvoluntary_ctxt_switches" {
				v, _ := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
				n += v
			}
		}
	}
	return n
}

// syscalls reads the counts of read and write system calls of process pid
// ("self" for this one) from /proc/<pid>/io (syscr, syscw).
func syscalls(b *testing.B, pid string) [2]int64 {
	raw, err := os.ReadFile("/proc/" + pid + "/io")
	if err != nil {
		b.Fatalf("read the system call counts of process %s: %v", pid, err)
	}
	var out [2]int64
	for _, line := range strings.Split(string(raw), "\n") {
		name, value, _ := strings.Cut(line, ": ")
		var j int
		switch name {
		case "syscr":
			j = 0
		case "syscw":
			j = 1
		default:
			continue
		}
		if out[j], err = strconv.ParseInt(value, 10, 64); err != nil {
			b.Fatalf("unexpected /proc/%s/io line %q", pid, line)
		}
	}
	return out
}

// childCPU reads the user and system CPU time of process pid, all threads,
// from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s: the
// USER_HZ Linux reports on every architecture Go supports).
func childCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("read the chaincode's CPU time: %v", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields from after its closing parenthesis, which is field 3.
	i := bytes.LastIndexByte(raw, ')')
	fields := strings.Fields(string(raw[i+1:]))
	if i < 0 || len(fields) < 13 {
		b.Fatalf("unexpected /proc/%d/stat: %q", pid, raw)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("unexpected /proc/%d/stat: %q", pid, raw)
	}
	return time.Duration(utime+stime) * (time.Second / 100)
}

func (h *ccHarness) put(b *testing.B, prefix string, i int) {
	txID := fmt.Sprintf("tx%d", h.txs.Add(1))
	sim := h.ledger.NewSimulator(txID)
	defer sim.Done()
	key := prefix + strconv.Itoa(i)
	txc := &ccrt.TxContext{ChannelID: "bench", TxID: txID, Namespace: "suite", Simulator: sim}
	input := &pb.ChaincodeInput{Args: [][]byte{[]byte("put"), []byte(key), []byte("value")}}
	resp, _, err := h.rt.Execute(context.Background(), h.packageID, txc, input)
	if err != nil {
		b.Fatal(err)
	}
	if resp.Status != 200 {
		b.Fatalf("put %s: status %d %s", key, resp.Status, resp.Message)
	}
	pub, _, err := sim.Results()
	if err != nil {
		b.Fatal(err)
	}
	if len(pub.NsRwset) != 1 {
		b.Fatalf("put %s: read/write set has %d namespaces, want 1", key, len(pub.NsRwset))
	}
}

var (
	buildOnce sync.Map // tags → *builtChaincode
)

type builtChaincode struct {
	once sync.Once
	path string
	err  error
}

// buildSuite builds the suite chaincode with tags once per process.
func buildSuite(b *testing.B, tags string) string {
	v, _ := buildOnce.LoadOrStore(tags, &builtChaincode{})
	bc := v.(*builtChaincode)
	bc.once.Do(func() {
		dir, err := os.MkdirTemp("", "weft-bench-cc-")
		if err != nil {
			bc.err = err
			return
		}
		bc.path = filepath.Join(dir, "suitecc")
		args := []string{"build", "-o", bc.path}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		cmd := exec.Command("go", append(args, ".")...)
		cmd.Dir = suiteDir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			bc.err = fmt.Errorf("build %s (tags %q): %v\n%s", suiteDir, tags, err, out)
		}
	})
	if bc.err != nil {
		b.Fatal(bc.err)
	}
	return bc.path
}

// startChaincode serves a Runtime's ChaincodeSupport on loopback, starts the
// suite chaincode as a process that registers with it, and waits until a
// transaction completes.
func startChaincode(b *testing.B, name, tags string) *ccHarness {
	b.Helper()
	bin := buildSuite(b, tags)
	l, err := ledger.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	rt := ccrt.NewRuntime(ccrt.Config{Logger: slog.New(slog.DiscardHandler)}, nil)
	srv := grpc.NewServer(ccrt.ServerOptions()...)
	pb.RegisterChaincodeSupportServer(srv, rt)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(lis)
	b.Cleanup(func() {
		rt.Close()
		srv.Stop()
	})

	h := &ccHarness{rt: rt, ledger: l, packageID: "suite_" + name + ":bench"}
	var logs bytes.Buffer
	// The official shim takes the peer address as a flag only; Weft's shim
	// reads the flag too.
	cmd := exec.Command(bin, "-peer.address="+lis.Addr().String())
	cmd.Env = append(os.Environ(), "CORE_CHAINCODE_ID_NAME="+h.packageID, "CORE_PEER_ADDRESS="+lis.Addr().String(), "CORE_PEER_TLS_ENABLED=false")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	h.pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	// The chaincode registers by itself; until it has, Execute answers
	// ErrChaincodeUnavailable. Wait for registration, bounded.
	err = eventually.Wait(30*time.Second, func(ctx context.Context) error {
		txc := &ccrt.TxContext{ChannelID: "bench", TxID: "warmup" + strconv.Itoa(int(h.txs.Add(1))), Namespace: "suite", Simulator: l.NewSimulator("warmup")}
		_, _, err := rt.Execute(ctx, h.packageID, txc, &pb.ChaincodeInput{Args: [][]byte{[]byte("shim")}})
		txc.Simulator.(*ledger.Simulator).Done()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			b.Fatalf("chaincode %s exited before it registered:\n%s", name, logs.String())
		default:
		}
		if !errors.Is(err, ccrt.ErrChaincodeUnavailable) {
			b.Fatalf("chaincode %s did not register: %v\n%s", name, err, logs.String())
		}
		return err
	})
	if err != nil {
		b.Fatalf("chaincode %s did not register: %v\n%s", name, err, logs.String())
	}
	return h
}
