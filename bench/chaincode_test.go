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
	"sync"
	"sync/atomic"
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
func BenchmarkChaincodePut(b *testing.B) {
	for _, v := range []struct{ name, tags string }{{"weft-shim", "weftshim"}, {"official-shim", ""}} {
		b.Run(v.name, func(b *testing.B) {
			h := startChaincode(b, v.name, v.tags)
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					h.put(b, "serial", i)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
			})
			b.Run("parallel", func(b *testing.B) {
				var seq atomic.Int64
				b.SetParallelism(8) // 8 × GOMAXPROCS goroutines in flight
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						h.put(b, "parallel", int(seq.Add(1)))
					}
				})
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
	txs       atomic.Int64
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
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(ccrt.MaxMessageSize), grpc.MaxSendMsgSize(ccrt.MaxMessageSize))
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
