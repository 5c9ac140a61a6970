package chaincode

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
	"github.com/weft-ledger/weft/protos"
)

// fuzzEntry is one entry of an archive built by a fuzz target.
type fuzzEntry struct {
	name string
	typ  byte
	body []byte
}

// fuzzGzipWriters keeps gzip writers for reuse: a new one allocates and
// clears about a megabyte of compressor state, which cost more than the rest
// of an input. They store the data rather than compress it
// (gzip.NoCompression): the archive decompresses to the same entries either
// way, those entries are what the peer parses and extracts, and the
// compressor's search took a third of each input.
var fuzzGzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.NoCompression)
	return zw
}}

// fuzzGzip returns a gzip writer onto w, from fuzzGzipWriters; put it back
// with fuzzGzipWriters.Put once closed.
func fuzzGzip(w io.Writer) *gzip.Writer {
	zw := fuzzGzipWriters.Get().(*gzip.Writer)
	zw.Reset(w)
	return zw
}

// fuzzTarGz builds a tar.gz of entries; ok is false when the tar writer
// refuses an entry (a name it cannot encode, say).
func fuzzTarGz(entries ...fuzzEntry) (raw []byte, ok bool) {
	var buf bytes.Buffer
	zw := fuzzGzip(&buf)
	defer fuzzGzipWriters.Put(zw)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if tw.WriteHeader(hdr) != nil {
			return nil, false
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				return nil, false
			}
		}
	}
	if tw.Close() != nil || zw.Close() != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

func gzipBytes(raw []byte) []byte {
	var buf bytes.Buffer
	zw := fuzzGzip(&buf)
	defer fuzzGzipWriters.Put(zw)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	return buf.Bytes()
}

// fuzzScratch hands out a fresh, empty folder per input, under one folder
// per fuzz target (cheaper than t.TempDir, which makes two per input).
type fuzzScratch struct {
	root string
	n    int
}

func newFuzzScratch(f *testing.F) *fuzzScratch { return &fuzzScratch{root: f.TempDir()} }

// dir returns a new folder in s.root, removed when t ends; the folders of
// earlier inputs are gone by then, so it is the only thing in s.root.
func (s *fuzzScratch) dir(t *testing.T) string {
	t.Helper()
	s.n++
	d := filepath.Join(s.root, strconv.Itoa(s.n))
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("remove the scratch folder: %v", err)
		}
	})
	return d
}

// checkExtractStaysInside extracts code under a fresh folder of scratch and
// fails if anything appears outside it, in that folder or the one above.
func checkExtractStaysInside(t *testing.T, scratch *fuzzScratch, code []byte) {
	t.Helper()
	base := scratch.dir(t)
	out := filepath.Join(base, "out")
	_ = ccpackage.Extract(code, out)
	err := filepath.WalkDir(scratch.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != scratch.root && p != base && p != out && !strings.HasPrefix(p, out+string(filepath.Separator)) {
			t.Fatalf("extraction wrote %s outside %s", p, out)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			t.Fatalf("extraction created a symbolic link %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzParsePackageArchive builds well-formed packages from fuzzed
// metadata.json, connection.json and one extra code entry, so the fuzzer
// reaches the JSON decoding and extraction rather than gzip checksums.
func FuzzParsePackageArchive(f *testing.F) {
	f.Add([]byte(`{"type":"ccaas","label":"basic_1.0"}`), []byte(`{"address":"basic:9999","dial_timeout":"10s"}`), "src/main.go", byte(tar.TypeReg))
	f.Add([]byte(`{"type":"GOLANG","label":"x","path":"github.com/x"}`), []byte(`{}`), "../escape", byte(tar.TypeReg))
	f.Add([]byte(`{"type":""}`), []byte(`{"address":""}`), "/abs/path", byte(tar.TypeDir))
	f.Add([]byte(`not json`), []byte(`{"address":"a:1","dial_timeout":"forever"}`), "link", byte(tar.TypeSymlink))
	f.Add([]byte(`{"type":"ccaas"}`), []byte(`{"address":"a:1"}`), "./connection.json", byte(tar.TypeReg))
	scratch := newFuzzScratch(f)
	f.Fuzz(func(t *testing.T, meta, conn []byte, extraName string, extraType byte) {
		code, ok := fuzzTarGz(fuzzEntry{"connection.json", tar.TypeReg, conn}, fuzzEntry{extraName, extraType, []byte("extra")})
		if !ok {
			return
		}
		raw, ok := fuzzTarGz(fuzzEntry{"metadata.json", tar.TypeReg, meta}, fuzzEntry{"code.tar.gz", tar.TypeReg, code})
		if !ok {
			return
		}
		checkExtractStaysInside(t, scratch, code)

		pkg, err := ParsePackage(raw)
		var md struct {
			Type  string `json:"type"`
			Label string `json:"label"`
			Path  string `json:"path"`
		}
		metaOK := json.Unmarshal(meta, &md) == nil && md.Type != ""
		if (err == nil) != metaOK {
			t.Fatalf("ParsePackage error %v for metadata.json %q (valid: %t)", err, meta, metaOK)
		}
		if err != nil {
			return
		}
		if pkg.Type != strings.ToLower(md.Type) || pkg.Label != md.Label || pkg.Path != md.Path || !bytes.Equal(pkg.Code, code) {
			t.Fatalf("package %+v does not match metadata.json %q", pkg, meta)
		}
		ci, err := pkg.Connection()
		if err != nil {
			return
		}
		if ci.Address == "" {
			t.Fatal("Connection accepted a connection.json without address")
		}
		// The extra entry may replace connection.json; otherwise the fuzzed one is what we read.
		if extraType != tar.TypeReg || path.Clean(strings.TrimPrefix(extraName, "./")) != "connection.json" {
			var want ConnectionInfo
			if json.Unmarshal(conn, &want) != nil || want != *ci {
				t.Fatalf("Connection = %+v, connection.json was %q", ci, conn)
			}
		}
		if d, err := ci.Timeout(); err == nil && ci.DialTimeout == "" && d <= 0 {
			t.Fatalf("default dial timeout %s", d)
		}
	})
}

// FuzzParsePackageTar gzips random bytes, so that the tar reader (and not
// the gzip checksum) sees them, and parses and extracts the result.
func FuzzParsePackageTar(f *testing.F) {
	if raw, ok := fuzzTarGz(fuzzEntry{"metadata.json", tar.TypeReg, []byte(`{"type":"golang","label":"x"}`)}, fuzzEntry{"code.tar.gz", tar.TypeReg, []byte("x")}); ok {
		var buf bytes.Buffer
		zr, _ := gzip.NewReader(bytes.NewReader(raw))
		_, _ = buf.ReadFrom(zr)
		f.Add(buf.Bytes())
	}
	if raw, ok := fuzzTarGz(fuzzEntry{"a/b/", tar.TypeDir, nil}, fuzzEntry{"a/b/../../../x", tar.TypeReg, []byte("x")}); ok {
		var buf bytes.Buffer
		zr, _ := gzip.NewReader(bytes.NewReader(raw))
		_, _ = buf.ReadFrom(zr)
		f.Add(buf.Bytes())
	}
	f.Add([]byte{})
	scratch := newFuzzScratch(f)
	f.Fuzz(func(t *testing.T, tarBytes []byte) {
		raw := gzipBytes(tarBytes)
		checkExtractStaysInside(t, scratch, raw)
		pkg, err := ParsePackage(raw)
		if err != nil {
			if pkg != nil {
				t.Fatal("ParsePackage returned a package with its error")
			}
			return
		}
		if pkg.Type == "" || pkg.Type != strings.ToLower(pkg.Type) {
			t.Fatalf("package type %q is empty or not lower case", pkg.Type)
		}
		if ci, err := pkg.Connection(); err == nil && ci.Address == "" {
			t.Fatal("Connection accepted a connection.json without address")
		}
	})
}

// pipeEnd is one side of an in-memory chaincode stream.
type pipeEnd struct {
	in  <-chan *pb.ChaincodeMessage
	out chan<- *pb.ChaincodeMessage
}

func (p pipeEnd) Send(m *pb.ChaincodeMessage) error {
	select {
	case p.out <- m:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("pipe: nobody reads")
	}
}

func (p pipeEnd) Recv() (*pb.ChaincodeMessage, error) {
	m, ok := <-p.in
	if !ok {
		return nil, io.EOF
	}
	return m, nil
}

// panicLog records whether anything logged a recovered panic.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (p *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicLog) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *panicLog) WithGroup(string) slog.Handler            { return p }
func (p *panicLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "panic" {
			p.mu.Lock()
			p.panics = append(p.panics, a.Value.String())
			p.mu.Unlock()
		}
		return true
	})
	return nil
}

// okInvoker answers every chaincode-to-chaincode call with status 200.
type okInvoker struct{}

func (okInvoker) InvokeChaincode(_ context.Context, _ *TxContext, name, _ string, in *pb.ChaincodeInput) (*pb.Response, error) {
	if name == "missing" {
		return nil, fmt.Errorf("chaincode %s is not defined", name)
	}
	return &pb.Response{Status: 200, Payload: []byte(name)}, nil
}

// fuzzCCFrames splits raw into up to 12 frames, each prefixed by a 16-bit length.
func fuzzCCFrames(raw []byte) [][]byte {
	var out [][]byte
	for len(raw) >= 2 && len(out) < 12 {
		n := min(int(binary.BigEndian.Uint16(raw)), len(raw)-2)
		out = append(out, raw[2:2+n])
		raw = raw[2+n:]
	}
	return out
}

func joinCCFrames(msgs ...*pb.ChaincodeMessage) []byte {
	var out []byte
	for _, m := range msgs {
		raw, _ := proto.Marshal(m)
		out = binary.BigEndian.AppendUint16(out, uint16(len(raw)))
		out = append(out, raw...)
	}
	return out
}

// FuzzChaincodeMessages plays a registered chaincode that, during one
// transaction, sends the peer a sequence of fuzzed ChaincodeMessages, as
// the peer's stream decodes them from the shim. With mode bit 0 each
// message is put on the transaction in flight (its txid and channel), so
// that it reaches the state requests over a real ledger simulator;
// otherwise the fuzzed txid and channel stay. The peer must answer every
// request exactly once, with RESPONSE or ERROR on the request's txid and
// channel, echo KEEPALIVE, never recover from a panic, and finish the
// transaction with the chaincode's COMPLETED.
func FuzzChaincodeMessages(f *testing.F) {
	m := func(typ pb.ChaincodeMessage_Type, payload proto.Message) *pb.ChaincodeMessage {
		raw, _ := proto.Marshal(payload)
		return &pb.ChaincodeMessage{Type: typ, Payload: raw, Txid: "t", ChannelId: "mychannel"}
	}
	f.Add(joinCCFrames(m(pb.ChaincodeMessage_PUT_STATE, &pb.PutState{Key: "asset1", Value: []byte(`{"ID":"asset1"}`)}), m(pb.ChaincodeMessage_GET_STATE, &pb.GetState{Key: "asset1"})), uint8(1))
	f.Add(joinCCFrames(m(pb.ChaincodeMessage_GET_STATE_BY_RANGE, &pb.GetStateByRange{StartKey: "a", EndKey: "z"}), m(pb.ChaincodeMessage_QUERY_STATE_NEXT, &pb.QueryStateNext{Id: "1"}), m(pb.ChaincodeMessage_QUERY_STATE_CLOSE, &pb.QueryStateClose{Id: "1"})), uint8(1))
	f.Add(joinCCFrames(m(pb.ChaincodeMessage_GET_STATE_BY_RANGE, &pb.GetStateByRange{StartKey: "\x00asset\x00", EndKey: "\x00asset\U0010ffff", Metadata: protoBytes(&pb.QueryMetadata{PageSize: 2})})), uint8(1))
	f.Add(joinCCFrames(m(pb.ChaincodeMessage_GET_HISTORY_FOR_KEY, &pb.GetHistoryForKey{Key: "k"}), m(pb.ChaincodeMessage_DEL_STATE, &pb.DelState{Key: "k"})), uint8(1))
	f.Add(joinCCFrames(m(pb.ChaincodeMessage_PUT_STATE, &pb.PutState{Collection: "c", Key: "k", Value: []byte("v")}), m(pb.ChaincodeMessage_GET_PRIVATE_DATA_HASH, &pb.GetState{Collection: "c", Key: "k"}), m(pb.ChaincodeMessage_PURGE_PRIVATE_DATA, &pb.DelState{Collection: "c", Key: "k"})), uint8(1))
	f.Add(joinCCFrames(m(pb.ChaincodeMessage_PUT_STATE_METADATA, &pb.PutStateMetadata{Key: "k", Metadata: &pb.StateMetadata{Metakey: "VALIDATION_PARAMETER", Value: []byte("p")}}), m(pb.ChaincodeMessage_GET_STATE_METADATA, &pb.GetStateMetadata{Key: "k"})), uint8(1))
	f.Add(joinCCFrames(m(pb.ChaincodeMessage_INVOKE_CHAINCODE, &pb.ChaincodeSpec{ChaincodeId: &pb.ChaincodeID{Name: "other/mychannel"}, Input: &pb.ChaincodeInput{Args: [][]byte{[]byte("f")}}})), uint8(1))
	f.Add(joinCCFrames(m(pb.ChaincodeMessage_GET_QUERY_RESULT, &pb.GetQueryResult{Query: `{"selector":{}}`}), m(pb.ChaincodeMessage_KEEPALIVE, &pb.ChaincodeInput{}), m(pb.ChaincodeMessage_REGISTER, &pb.ChaincodeID{Name: "x"})), uint8(1))
	f.Add(joinCCFrames(m(pb.ChaincodeMessage_COMPLETED, &pb.Response{Status: 200, Payload: []byte("done")}), m(pb.ChaincodeMessage_GET_STATE, &pb.GetState{Key: "late"})), uint8(1))
	f.Add(joinCCFrames(m(pb.ChaincodeMessage_ERROR, &pb.Response{}), m(pb.ChaincodeMessage_GET_STATE, &pb.GetState{Key: "k"})), uint8(0))
	f.Add(joinCCFrames(m(pb.ChaincodeMessage_GET_STATE_MULTIPLE, &pb.GetStateMultiple{Keys: []string{"a"}})), uint8(1))
	f.Add([]byte{0, 2, 0x08, 0x01}, uint8(1))

	led, err := ledger.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { led.Close() })
	signer := cctest.Signer(f, "Org1MSP")
	sp, txID, err := protos.NewProposal(signer, "mychannel", "fuzzcc", [][]byte{[]byte("invoke")}, nil)
	if err != nil {
		f.Fatal(err)
	}
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		f.Fatal(err)
	}
	history := fakeHistory{"fuzzcc\x00k": {{TxId: "earlier", Value: []byte("v0")}}}

	f.Fuzz(func(t *testing.T, raw []byte, mode uint8) {
		toCC, toPeer := make(chan *pb.ChaincodeMessage, 64), make(chan *pb.ChaincodeMessage, 64)
		logs := &panicLog{}
		h := newHandler("fuzzcc_1:00", pipeEnd{in: toPeer, out: toCC}, 2, slog.New(logs))
		h.queryLimit = 5
		served := make(chan error, 1)
		go func() { served <- h.serve() }()
		defer func() {
			close(toPeer)
			if err := <-served; !errors.Is(err, io.EOF) {
				t.Errorf("the stream ended with %v, want the chaincode's EOF", err)
			}
			if len(logs.panics) > 0 {
				t.Fatalf("the peer recovered from a panic serving the chaincode: %v", logs.panics)
			}
		}()

		sim := led.NewSimulator(txID)
		defer sim.Done()
		txc := &TxContext{
			ChannelID: "mychannel", TxID: txID, SignedProposal: sp, Proposal: prop, Simulator: sim,
			History: history, Invoker: okInvoker{}, ApplicationCapabilities: []string{"V2_5"},
		}
		type outcome struct {
			resp *pb.Response
			err  error
		}
		done := make(chan outcome, 1)
		go func() {
			resp, _, err := h.execute(context.Background(), txc, &pb.ChaincodeInput{Args: [][]byte{[]byte("invoke")}}, 20*time.Second)
			done <- outcome{resp, err}
		}()
		recv := func(what string) *pb.ChaincodeMessage {
			select {
			case msg := <-toCC:
				return msg
			case <-time.After(10 * time.Second):
				t.Fatalf("no answer from the peer to %s", what)
				return nil
			}
		}
		if tx := recv("registration"); tx.Type != pb.ChaincodeMessage_TRANSACTION || tx.Txid != txID {
			t.Fatalf("the peer sent %s %s, want the TRANSACTION", tx.Type, tx.Txid)
		}

		finished := false
		for _, fr := range fuzzCCFrames(raw) {
			msg := &pb.ChaincodeMessage{}
			if proto.Unmarshal(fr, msg) != nil {
				continue // gRPC would have ended the stream; the others are more interesting
			}
			if mode&1 != 0 {
				msg.Txid, msg.ChannelId = txID, "mychannel"
			}
			ours := msg.Txid == txID && msg.ChannelId == "mychannel"
			toPeer <- msg
			switch msg.Type {
			case pb.ChaincodeMessage_COMPLETED, pb.ChaincodeMessage_ERROR:
				if ours && !finished {
					finished = true
					o := <-done
					if msg.Type == pb.ChaincodeMessage_ERROR {
						var te *TransactionError
						if !errors.As(o.err, &te) {
							t.Fatalf("ERROR from the chaincode gave %v, want a TransactionError", o.err)
						}
					} else if (o.err == nil) != (proto.Unmarshal(msg.Payload, &pb.Response{}) == nil) {
						t.Fatalf("COMPLETED with payload %x gave %v", msg.Payload, o.err)
					}
				}
			case pb.ChaincodeMessage_KEEPALIVE:
				if echo := recv("KEEPALIVE"); echo != msg {
					t.Fatalf("KEEPALIVE answered with %s", echo.Type)
				}
			default:
				ans := recv(msg.Type.String())
				if ans.Type != pb.ChaincodeMessage_RESPONSE && ans.Type != pb.ChaincodeMessage_ERROR || ans.Txid != msg.Txid || ans.ChannelId != msg.ChannelId {
					t.Fatalf("%s on %s/%s answered %s on %s/%s", msg.Type, msg.ChannelId, msg.Txid, ans.Type, ans.ChannelId, ans.Txid)
				}
				if ans.Type == pb.ChaincodeMessage_RESPONSE && (!ours || finished) {
					t.Fatalf("%s of a transaction not in flight answered RESPONSE", msg.Type)
				}
			}
		}
		if !finished {
			ok := protoBytes(&pb.Response{Status: 200, Payload: []byte("done")})
			toPeer <- &pb.ChaincodeMessage{Type: pb.ChaincodeMessage_COMPLETED, Txid: txID, ChannelId: "mychannel", Payload: ok}
			if o := <-done; o.err != nil || o.resp.GetStatus() != 200 || string(o.resp.GetPayload()) != "done" {
				t.Fatalf("the transaction ended with %v, %v; want the chaincode's COMPLETED", o.resp, o.err)
			}
		}
		select {
		case extra := <-toCC:
			t.Fatalf("an unasked %s from the peer", extra.Type)
		default:
		}
	})
}

func protoBytes(m proto.Message) []byte {
	raw, _ := proto.Marshal(m)
	return raw
}
