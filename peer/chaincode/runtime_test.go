package chaincode

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
)

func TestPeerLaunchedGolangPackage(t *testing.T) {
	rt, id := peerLaunched(t, Config{QueryBatchSize: 2})
	state := map[string][]byte{}

	t.Run("put get del", func(t *testing.T) {
		sim := newFakeSim(state)
		mustOK(t)(invoke(t, rt, id, sim, "put", "k1", "v1"))
		if v, ok := sim.write("testcc", "k1"); !ok || string(v) != "v1" {
			t.Fatalf("write of k1 = %q, %v; want v1", v, ok)
		}
		sim.commit()
		sim = newFakeSim(state)
		resp := mustOK(t)(invoke(t, rt, id, sim, "get", "k1"))
		if string(resp.Payload) != "v1" {
			t.Fatalf("get k1 = %q, want v1", resp.Payload)
		}
		mustOK(t)(invoke(t, rt, id, sim, "del", "k1"))
		if v, ok := sim.write("testcc", "k1"); !ok || v != nil {
			t.Fatalf("del k1 not recorded as a delete: %q %v", v, ok)
		}
	})

	t.Run("range over several batches", func(t *testing.T) {
		for i := 0; i < 7; i++ {
			state[fmt.Sprintf("testcc\x00r%d", i)] = []byte(fmt.Sprint(i))
		}
		state["other\x00r3"] = []byte("not mine")
		resp := mustOK(t)(invoke(t, rt, id, newFakeSim(state), "range", "r1", "r6"))
		var got []string
		if err := json.Unmarshal(resp.Payload, &got); err != nil {
			t.Fatal(err)
		}
		want := []string{"r1=1", "r2=2", "r3=3", "r4=4", "r5=5"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("range r1..r6 = %v, want %v", got, want)
		}
		resp = mustOK(t)(invoke(t, rt, id, newFakeSim(state), "range", "r0", "r2"))
		if string(resp.Payload) != `["r0=0","r1=1"]` {
			t.Fatalf("range r0..r2 (exactly one batch) = %s", resp.Payload)
		}
	})

	t.Run("event", func(t *testing.T) {
		resp, ev, err := invoke(t, rt, id, newFakeSim(state), "event", "AssetCreated", "payload-1")
		mustOK(t)(resp, ev, err)
		if ev == nil || ev.EventName != "AssetCreated" || string(ev.Payload) != "payload-1" || ev.ChaincodeId != "testcc" || ev.TxId == "" {
			t.Fatalf("event = %v", ev)
		}
	})

	t.Run("tx info and transient from the signed proposal", func(t *testing.T) {
		signer := cctest.Signer(t, "Org1MSP")
		txc, in := newTx(t, signer, "testcc", newFakeSim(state), map[string][]byte{"secret": []byte("s3")}, "txinfo")
		resp := mustOK(t)(rt.Execute(context.Background(), id, txc, in))
		var info map[string]string
		if err := json.Unmarshal(resp.Payload, &info); err != nil {
			t.Fatal(err)
		}
		if info["txid"] != txc.TxID || info["channel"] != "mychannel" || info["transient"] != "s3" || info["creator_len"] != fmt.Sprint(len(signer.Serialized)) {
			t.Fatalf("txinfo = %v (txid %s)", info, txc.TxID)
		}
	})

	t.Run("init", func(t *testing.T) {
		sim := newFakeSim(state)
		txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "testcc", sim, nil, "anything")
		in.IsInit = true
		mustOK(t)(rt.Execute(context.Background(), id, txc, in))
		if v, _ := sim.write("testcc", "initialised"); string(v) != "yes" {
			t.Fatalf("INIT did not run the chaincode's Init (write %q)", v)
		}
	})

	t.Run("status below 500 is a response", func(t *testing.T) {
		resp, _, err := invoke(t, rt, id, newFakeSim(state), "status", "404", "no such asset")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 404 || resp.Message != "no such asset" {
			t.Fatalf("response = %v", resp)
		}
	})

	t.Run("chaincode failure is a 500 response", func(t *testing.T) {
		resp, _, err := invoke(t, rt, id, newFakeSim(state), "fail", "asset a1 does not exist")
		if err != nil || resp.Status != 500 || resp.Message != "asset a1 does not exist" {
			t.Fatalf("resp = %v, err = %v; want status 500 with the chaincode's message", resp, err)
		}
	})

	t.Run("ERROR from the chaincode is a TransactionError", func(t *testing.T) {
		txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "testcc", newFakeSim(state), nil, "failinit")
		in.IsInit = true
		_, _, err := rt.Execute(context.Background(), id, txc, in)
		var te *TransactionError
		if !errors.As(err, &te) || te.Message != "init refused" || te.PackageID != id || te.TxID != txc.TxID {
			t.Fatalf("err = %v, want TransactionError with the chaincode's message", err)
		}
		if err.Error() != "transaction returned with failure: init refused" {
			t.Fatalf("err = %q", err)
		}
	})

	t.Run("history without a history database is refused by name", func(t *testing.T) {
		resp, _, err := invoke(t, rt, id, newFakeSim(state), "history", "k1")
		if err != nil || resp.Status != 500 || !strings.Contains(resp.Message, "GET_HISTORY_FOR_KEY") || !strings.Contains(resp.Message, "no history database") {
			t.Fatalf("resp = %v, err = %v; want a failure naming GET_HISTORY_FOR_KEY", resp, err)
		}
	})

	t.Run("private data hash and metadata", func(t *testing.T) {
		state["testcc$$pcoll1\x00pk"] = []byte("secret")
		resp := mustOK(t)(invoke(t, rt, id, newFakeSim(state), "privhash", "coll1", "pk"))
		want := sha256.Sum256([]byte("secret"))
		if string(resp.Payload) != string(want[:]) {
			t.Fatalf("private data hash = %x, want %x", resp.Payload, want)
		}
		sim := newFakeSim(state)
		mustOK(t)(invoke(t, rt, id, sim, "putpriv", "coll1", "pk2", "v2"))
		if string(sim.pvt["testcc$$pcoll1\x00pk2"]) != "v2" {
			t.Fatalf("PutPrivateData not recorded: %v", sim.pvt)
		}
		resp = mustOK(t)(invoke(t, rt, id, newFakeSim(state), "meta", "k1"))
		if len(resp.Payload) != 0 {
			t.Fatalf("validation parameter = %q, want none", resp.Payload)
		}
		if resp, _, _ := invoke(t, rt, id, newFakeSim(state), "delpriv", "coll1", "pk"); resp.GetStatus() != 500 || !strings.Contains(resp.Message, "not supported") {
			t.Fatalf("delpriv without the capability = %v", resp)
		}
	})

	t.Run("metadata and private delete capabilities", func(t *testing.T) {
		meta := map[string]map[string][]byte{}
		sim := func() metaSim { s := newFakeSim(state); s.meta = meta; return metaSim{s} }
		mustOK(t)(invoke(t, rt, id, sim(), "setep", "k9", "policy-bytes"))
		if got := string(meta["testcc\x00k9"]["VALIDATION_PARAMETER"]); got != "policy-bytes" {
			t.Fatalf("stored metadata = %v", meta)
		}
		resp := mustOK(t)(invoke(t, rt, id, sim(), "meta", "k9"))
		if string(resp.Payload) != "policy-bytes" {
			t.Fatalf("validation parameter = %q", resp.Payload)
		}
		s := sim()
		mustOK(t)(invoke(t, rt, id, s, "delpriv", "coll1", "pk"))
		if v, ok := s.pvt["testcc$$pcoll1\x00pk"]; !ok || v != nil {
			t.Fatalf("private delete not recorded: %v", s.pvt)
		}
	})
}

func TestConcurrentTransactions(t *testing.T) {
	rt, id := peerLaunched(t, Config{})
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("c%d", i)
			sim := newFakeSim(map[string][]byte{"testcc\x00" + key: []byte(key + "-old")})
			// sleep keeps every transaction in flight at the same time.
			if _, _, err := invoke(t, rt, id, sim, "sleep", "100"); err != nil {
				errs <- err
				return
			}
			resp, _, err := invoke(t, rt, id, sim, "get", key)
			if err != nil {
				errs <- err
				return
			}
			if string(resp.Payload) != key+"-old" {
				errs <- fmt.Errorf("tx %d read %q from another transaction's state", i, resp.Payload)
				return
			}
			if _, _, err := invoke(t, rt, id, sim, "put", key, key+"-new"); err != nil {
				errs <- err
				return
			}
			if v, _ := sim.write("testcc", key); string(v) != key+"-new" {
				errs <- fmt.Errorf("tx %d: write %q", i, v)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCrashFailsInFlightAndRestarts(t *testing.T) {
	rt, id := peerLaunched(t, Config{})
	mustOK(t)(invoke(t, rt, id, newFakeSim(nil), "put", "a", "1"))

	// A transaction in flight on another goroutine while the process dies.
	slow := make(chan error, 1)
	go func() {
		_, _, err := invoke(t, rt, id, newFakeSim(nil), "sleep", "5000")
		slow <- err
	}()
	eventually.True(t, 20*time.Second, "the slow transaction in flight", func() bool { return inFlight(rt, id) == 1 })
	_, _, err := invoke(t, rt, id, newFakeSim(nil), "crash")
	if err == nil || !errors.Is(err, ErrChaincodeUnavailable) || !strings.Contains(err.Error(), id) {
		t.Fatalf("crash: err = %v, want ErrChaincodeUnavailable naming %s", err, id)
	}
	if err := <-slow; err == nil || !strings.Contains(err.Error(), id) {
		t.Fatalf("in-flight tx: err = %v, want a failure naming %s", err, id)
	}
	resp := mustOK(t)(invoke(t, rt, id, newFakeSim(map[string][]byte{"testcc\x00a": []byte("1")}), "get", "a"))
	if string(resp.Payload) != "1" {
		t.Fatalf("after restart get a = %q", resp.Payload)
	}
}

func TestTimeoutNamesChaincode(t *testing.T) {
	rt, id := peerLaunched(t, Config{ExecuteTimeout: 300 * time.Millisecond})
	start := time.Now()
	_, _, err := invoke(t, rt, id, newFakeSim(nil), "sleep", "3000")
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), id) {
		t.Fatalf("err = %v, want ErrTimeout naming %s", err, id)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("timeout took %s", d)
	}
	// The chaincode is still connected: the next transaction works.
	mustOK(t)(invoke(t, rt, id, newFakeSim(nil), "put", "x", "y"))
}

func TestChaincodeAsAService(t *testing.T) {
	bin := buildTestCC(t)
	addr := cctest.FreeAddr(t)
	conn, _ := json.Marshal(map[string]any{"address": addr, "dial_timeout": "20s", "tls_required": false})
	pkgDir := t.TempDir()
	id := cctest.WritePackage(t, pkgDir, "ccaas", "svc_1", map[string][]byte{"connection.json": conn})
	cctest.StartService(t, bin, addr, id)

	rt := NewRuntime(Config{QueryBatchSize: 1, Logger: testLogger(t)}, &PackageLauncher{PackageDir: pkgDir})
	t.Cleanup(rt.Close)
	state := map[string][]byte{"svc\x00b": []byte("2"), "svc\x00c": []byte("3")}
	ccInvoke := func(sim TxSimulator, args ...string) (*pb.Response, *pb.ChaincodeEvent, error) {
		txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "svc", sim, nil, args...)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return rt.Execute(ctx, id, txc, in)
	}
	sim := newFakeSim(state)
	mustOK(t)(ccInvoke(sim, "put", "a", "1"))
	sim.commit()
	resp := mustOK(t)(ccInvoke(newFakeSim(state), "range", "", ""))
	if string(resp.Payload) != `["a=1","b=2","c=3"]` {
		t.Fatalf("range over ccaas = %s", resp.Payload)
	}
	resp, ev, err := ccInvoke(newFakeSim(state), "event", "E", "p")
	mustOK(t)(resp, ev, err)
	if ev.GetEventName() != "E" || ev.GetChaincodeId() != "svc" {
		t.Fatalf("event = %v", ev)
	}

	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _, err := ccInvoke(newFakeSim(state), "get", "b")
			if err != nil || string(resp.GetPayload()) != "2" {
				t.Errorf("concurrent get b = %v, %v", resp, err)
			}
		}()
	}
	wg.Wait()
}

func TestChaincodeAsAServiceUnreachable(t *testing.T) {
	conn, _ := json.Marshal(map[string]any{"address": cctest.FreeAddr(t), "dial_timeout": "300ms"})
	pkgDir := t.TempDir()
	id := cctest.WritePackage(t, pkgDir, "ccaas", "gone_1", map[string][]byte{"connection.json": conn})
	rt := NewRuntime(Config{Logger: testLogger(t)}, &PackageLauncher{PackageDir: pkgDir})
	t.Cleanup(rt.Close)
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "gone", newFakeSim(nil), nil, "get", "a")
	_, _, err := rt.Execute(context.Background(), id, txc, in)
	if !errors.Is(err, ErrChaincodeUnavailable) || !strings.Contains(err.Error(), id) {
		t.Fatalf("err = %v, want ErrChaincodeUnavailable naming %s", err, id)
	}
}

func TestLaunchRefusals(t *testing.T) {
	pkgDir := t.TempDir()
	noMod := cctest.WritePackage(t, pkgDir, "golang", "nomod_1", map[string][]byte{"src/main.go": []byte("package main\nfunc main(){}\n")})
	node := cctest.WritePackage(t, pkgDir, "node", "node_1", map[string][]byte{"src/index.js": []byte("")})
	l := &PackageLauncher{PackageDir: pkgDir, BuildDir: t.TempDir()}
	for _, tc := range []struct{ id, want string }{
		{noMod, "no src/go.mod"},
		{node, `type "node"`},
		{"missing_1:abcd", "not installed"},
	} {
		_, err := l.Launch(context.Background(), tc.id, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("launch %s: err = %v, want %q", tc.id, err, tc.want)
		}
	}
}

// inFlight counts the transactions in flight on packageID's handler.
func inFlight(rt *Runtime, packageID string) int {
	rt.mu.Lock()
	c := rt.conns[packageID]
	rt.mu.Unlock()
	if c == nil {
		return 0
	}
	select {
	case <-c.ready:
	default:
		return 0
	}
	if c.h == nil {
		return 0
	}
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	return len(c.h.txs)
}
