package endorser

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/protos"
)

// TestEndorseWithOfficialShimChaincode runs the whole endorsement path: a
// chaincode built on the official Fabric shim, launched by the chaincode
// runtime, simulating on a real ledger; the endorsed result is committed and
// read back by the next proposal.
func TestEndorseWithOfficialShimChaincode(t *testing.T) {
	pkgDir := t.TempDir()
	pkgID := installTestCC(t, pkgDir)
	launcher := &chaincode.PackageLauncher{
		PackageDir: pkgDir, BuildDir: t.TempDir(),
		Env:    []string{"GOFLAGS=-mod=mod -buildvcs=false -ldflags=-w"},
		Logger: quietLogger(),
	}
	rt := chaincode.NewRuntime(chaincode.Config{QueryBatchSize: 1, Logger: quietLogger()}, launcher)
	launcher.PeerAddress = serveRegister(t, rt)

	org1, org2 := loadMSP(t, "org1", "Org1MSP"), loadMSP(t, "org2", "Org2MSP")
	l, err := ledger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	peer, user := loadSigner(t, "org1", "Org1MSP", "peer0"), loadSigner(t, "org1", "Org1MSP", "User1")
	commitSequence(t, l, peer, "basic", 3) // block 0: what definitions{} says is committed
	e, err := New(Config{
		Signer: peer, LocalMSP: org1,
		Channels:    channels{"mychannel": {Config: newChannelConf(t, org1, org2), Ledger: NewLedger(l)}},
		Runtime:     rt,
		Definitions: definitions{pkg: pkgID},
		Logger:      quietLogger(),
		Transient:   &transient{m: map[string]*rwset.TxPvtReadWriteSet{}},
	})
	if err != nil {
		t.Fatal(err)
	}

	endorse := func(args ...string) (*pb.SignedProposal, *pb.ProposalResponse) {
		sp, _, err := protos.NewProposal(user, "mychannel", "basic", strArgs(args...), nil)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := e.ProcessProposal(context.Background(), sp)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Response.GetStatus() != 200 {
			t.Fatalf("%v: response %v", args, pr.Response)
		}
		return sp, pr
	}

	// 1. Writes: the rwset holds exactly what the chaincode wrote.
	var envs [][]byte
	for _, kv := range [][2]string{{"asset1", "blue"}, {"asset2", "red"}} {
		sp, pr := endorse("put", kv[0], kv[1])
		act := decodeAction(t, sp, pr, peer)
		w := nsRWSet(t, act)["basic"].GetWrites()
		if len(w) != 1 || w[0].Key != kv[0] || string(w[0].Value) != kv[1] || w[0].IsDelete {
			t.Fatalf("writes of put %s = %v", kv[0], w)
		}
		p, _ := protos.ParseProposal(sp)
		payload, err := protos.NewTransaction(p, []*pb.ProposalResponse{pr})
		if err != nil {
			t.Fatal(err)
		}
		env, err := protos.SignEnvelope(payload, user)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, protos.Marshal(env))
	}

	// 2. Commit them in block 1.
	b := protos.NewBlock(1, l.Blocks().Info().CurrentBlockHash, envs)
	protos.SetTxFilter(b, make([]byte, len(envs))) // all VALID
	if err := l.Commit(b, nil); err != nil {
		t.Fatalf("commit: %v", err)
	}

	// 3. Reads see committed state, with versions and range info in the rwset.
	sp, pr := endorse("get", "asset2")
	if string(pr.Response.Payload) != "red" {
		t.Fatalf("get asset2 = %q", pr.Response.Payload)
	}
	reads := nsRWSet(t, decodeAction(t, sp, pr, peer))["basic"].GetReads()
	if len(reads) != 1 || reads[0].Key != "asset2" || reads[0].Version.GetBlockNum() != 1 || reads[0].Version.GetTxNum() != 1 {
		t.Fatalf("reads = %v, want asset2 at version 1:1", reads)
	}
	sp, pr = endorse("range", "", "")
	var got []string
	if err := json.Unmarshal(pr.Response.Payload, &got); err != nil || len(got) != 2 || got[0] != "asset1=blue" || got[1] != "asset2=red" {
		t.Fatalf("range = %s (%v)", pr.Response.Payload, err)
	}
	if rq := nsRWSet(t, decodeAction(t, sp, pr, peer))["basic"].GetRangeQueriesInfo(); len(rq) != 1 {
		t.Fatalf("range queries info = %v", rq)
	}

	// 4. Deletes are recorded as deletes; events are in the action.
	sp, pr = endorse("del", "asset1")
	if w := nsRWSet(t, decodeAction(t, sp, pr, peer))["basic"].GetWrites(); len(w) != 1 || !w[0].IsDelete {
		t.Fatalf("del writes = %v", w)
	}
	sp, pr = endorse("event", "AssetCreated", "x")
	act := decodeAction(t, sp, pr, peer)
	evt := &pb.ChaincodeEvent{}
	if err := proto.Unmarshal(act.Events, evt); err != nil || evt.EventName != "AssetCreated" || evt.ChaincodeId != "basic" || evt.TxId == "" {
		t.Fatalf("event = %v (%v)", evt, err)
	}
}

// serveRegister serves rt's ChaincodeSupport on 127.0.0.1:0 until the test ends.
func serveRegister(t *testing.T, rt *chaincode.Runtime) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterChaincodeSupportServer(srv, rt)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { rt.Close(); srv.Stop() })
	return lis.Addr().String()
}

// testPackageBytes returns the official-shim test chaincode of peer/chaincode
// as a golang chaincode package (label basic_1.0).
func testPackageBytes(t *testing.T) []byte {
	t.Helper()
	code := map[string][]byte{}
	for _, n := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join("..", "chaincode", "testdata", "cc", n))
		if err != nil {
			t.Fatal(err)
		}
		code["src/"+n] = b
	}
	meta, _ := json.Marshal(map[string]string{"type": "golang", "label": "basic_1.0", "path": "."})
	return tarGz(t, map[string][]byte{"metadata.json": meta, "code.tar.gz": tarGz(t, code)})
}

// installTestCC writes the official-shim test chaincode of peer/chaincode as
// an installed golang package and returns its package ID.
func installTestCC(t *testing.T, dir string) string {
	t.Helper()
	pkg := testPackageBytes(t)
	sum := sha256.Sum256(pkg)
	id := "basic_1.0:" + hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(dir, id+".tar.gz"), pkg, 0o644); err != nil {
		t.Fatal(err)
	}
	return id
}

func tarGz(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for n, b := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
