package orderer

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/orderer/participation"
	"github.com/weft-ledger/weft/protos"
)

// joinForm builds an osnadmin join body: one file part per name, each
// holding block.
func joinForm(tb testing.TB, block []byte, names ...string) ([]byte, string) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, n := range names {
		fw, err := mw.CreateFormFile(n, "mychannel.block")
		if err != nil {
			tb.Fatal(err)
		}
		fw.Write(block)
	}
	mw.Close()
	return body.Bytes(), mw.FormDataContentType()
}

// FuzzJoin posts osnadmin channel joins to the participation API of an
// orderer (orderer.example.com of the sample network, TLS identity
// included) backed by its real registrar in fresh folders: with mode bit 0
// clear, the fuzzed bytes are the config-block part of a well-formed form
// (bit 1: under another field name, bit 2: twice); with it set, they are
// the whole body under the fuzzed Content-Type. A join is answered 201 only
// for a config block that decodes, whose config loads, whose data hash is
// right and that names this orderer as a consenter, and the channel is then
// served under the block's channel name; any other answer is a JSON error,
// never 500, and leaves no channel and no ledger or WAL folder behind.
func FuzzJoin(f *testing.F) {
	tn := testnet.SampleNet(f)
	genesis := protos.Marshal(tn.Genesis())
	node := filepath.Join(tn.Orgs(), "ordererOrganizations", "example.com", "orderers", "orderer.example.com")
	crt, err := os.ReadFile(filepath.Join(node, "tls", "server.crt"))
	if err != nil {
		f.Fatal(err)
	}
	blk, _ := pem.Decode(crt)
	if blk == nil {
		f.Fatal("orderer TLS certificate is not PEM")
	}
	self := consenterMatch{tlsCertDER: blk.Bytes, clientCertDER: blk.Bytes}
	signer := tn.Signer(f, "orderer.example.com")
	quiet := slog.New(slog.DiscardHandler)

	body, ct := joinForm(f, genesis, participation.FormConfigBlock)
	f.Add(genesis, "", uint8(0))
	f.Add(genesis, "", uint8(2))
	f.Add(genesis, "", uint8(4))
	f.Add(body, ct, uint8(1))
	f.Add(body, "multipart/form-data", uint8(1))
	f.Add(body, "application/octet-stream", uint8(1))
	f.Add(protos.Marshal(fabricfixture.GenesisBlock(f)), "", uint8(0)) // names Fabric's orderers
	f.Add(protos.Marshal(fabricfixture.Block(f, 1)), "", uint8(0))     // not a config block
	f.Add([]byte{}, "", uint8(0))
	f.Add([]byte("--x\r\nContent-Disposition: form-data; name=\"config-block\"; filename=\"b\"\r\n\r\n\x0a\x00\r\n--x--\r\n"), "multipart/form-data; boundary=x", uint8(1))

	f.Fuzz(func(t *testing.T, payload []byte, contentType string, mode uint8) {
		dir := t.TempDir()
		r := newRegistrar(filepath.Join(dir, "ledger"), filepath.Join(dir, "wal"), signer, self, 0, quiet)
		defer r.Close()
		h := participation.NewHandler(r, quiet)

		var part []byte // the config-block part the orderer reads, if the form is well formed
		if mode&1 == 0 {
			names := []string{participation.FormConfigBlock}
			if mode&2 != 0 {
				names = []string{"config"}
			}
			if mode&4 != 0 {
				names = append(names, participation.FormConfigBlock)
			}
			if len(names) == 1 && names[0] == participation.FormConfigBlock {
				part = payload
			}
			payload, contentType = joinForm(t, payload, names...)
		}
		req := httptest.NewRequest(http.MethodPost, participation.URLBaseV1Channels, bytes.NewReader(payload))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if rec.Header().Get("Content-Type") != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body)
		}
		if rec.Code >= 500 {
			t.Fatalf("join answered %d: %s", rec.Code, rec.Body)
		}
		names := r.ChannelNames()
		if rec.Code != http.StatusCreated {
			var e participation.ErrorResponse
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
				t.Fatalf("refusal %d without an error: %s", rec.Code, rec.Body)
			}
			if len(names) > 0 {
				t.Fatalf("a refused join left channels %v", names)
			}
			for _, d := range []string{filepath.Join(dir, "ledger", "chains"), filepath.Join(dir, "wal")} {
				if left, _ := os.ReadDir(d); len(left) > 0 {
					t.Fatalf("a refused join left %s in %s", left[0].Name(), d)
				}
			}
			return
		}

		// Joined: the block must be a valid config block naming this orderer.
		var info participation.ChannelInfo
		if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil {
			t.Fatal(err)
		}
		if mode&1 == 0 && part == nil {
			t.Fatalf("joined %s from a form without exactly one %s part", info.Name, participation.FormConfigBlock)
		}
		if mode&1 == 0 {
			b := &cb.Block{}
			if err := proto.Unmarshal(part, b); err != nil {
				t.Fatalf("joined from a part that is no block: %v", err)
			}
			bundle, err := channelconfig.BundleFromBlock(b)
			if err != nil {
				t.Fatalf("joined from a block whose config does not load: %v", err)
			}
			if !bytes.Equal(b.Header.DataHash, protos.BlockDataHash(b.Data)) {
				t.Fatal("joined from a block with a wrong data hash")
			}
			if bundle.ChannelID() != info.Name {
				t.Fatalf("joined %q from a block of channel %q", info.Name, bundle.ChannelID())
			}
			named := false
			for _, c := range bundle.Orderer().Consenters {
				named = named || self.matches(c)
			}
			if !named {
				t.Fatal("joined a channel whose consenters do not name this orderer")
			}
		}
		if len(names) != 1 || names[0] != info.Name || participation.ValidateChannelName(info.Name) != nil {
			t.Fatalf("joined %q, serving %v", info.Name, names)
		}
	})
}
