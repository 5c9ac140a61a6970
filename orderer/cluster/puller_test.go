package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/orderer/deliver"
	"github.com/weft-ledger/weft/protos"
)

const pullChannel = "alpha"

// readers is the channel's Readers policy: a valid signature by an
// OrdererMSP identity.
type readers struct{}

func (readers) Evaluate(sds []protos.SignedData) error {
	for _, sd := range sds {
		sid := &mspproto.SerializedIdentity{}
		if err := proto.Unmarshal(sd.Identity, sid); err != nil || sid.Mspid != "OrdererMSP" {
			return fmt.Errorf("identity is not of OrdererMSP")
		}
		b, _ := pem.Decode(sid.IdBytes)
		if b == nil {
			return fmt.Errorf("identity has no PEM certificate")
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return err
		}
		if err := cert.CheckSignature(x509.ECDSAWithSHA256, sd.Data, sd.Signature); err != nil {
			return fmt.Errorf("bad signature: %w", err)
		}
	}
	return nil
}

// storeChannel serves a block store through orderer/deliver; tamper, if
// set, alters the blocks it reads.
type storeChannel struct {
	store  *ledger.BlockStore
	tamper func(*cb.Block) *cb.Block
}

func (c storeChannel) Policy(string) (deliver.Policy, error) { return readers{}, nil }
func (c storeChannel) Height() uint64                        { return c.store.Height() }
func (c storeChannel) WaitHeight(ctx context.Context, h uint64) error {
	return c.store.WaitHeight(ctx, h)
}
func (c storeChannel) Errored() <-chan struct{} { return nil }
func (c storeChannel) Block(n uint64) (*cb.Block, error) {
	b, err := c.store.Block(n)
	if err != nil || c.tamper == nil {
		return b, err
	}
	return c.tamper(proto.Clone(b).(*cb.Block)), nil
}

func (c storeChannel) Channel(name string) (deliver.Channel, bool) {
	return c, name == pullChannel
}

type abServer struct {
	ab.UnimplementedAtomicBroadcastServer
	h *deliver.Handler
}

func (s abServer) Deliver(stream grpc.BidiStreamingServer[cb.Envelope, ab.DeliverResponse]) error {
	return s.h.Handle(stream)
}

// pullFixture is a CA, this orderer's TLS and signing material, and the
// blocks the other orderers hold.
type pullFixture struct {
	ca     *testCA
	cert   tls.Certificate
	signer testSigner
	blocks []*cb.Block
}

func newPullFixture(t *testing.T, n int) *pullFixture {
	t.Helper()
	ca := newTestCA(t, "tlsca")
	cert, certPEM, key := ca.issue(t, "orderer1")
	f := &pullFixture{ca: ca, cert: cert, signer: testSigner{key: key, certPEM: certPEM}}
	var prev []byte
	for i := range n {
		env, err := protos.NewSignedEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, pullChannel, f.signer, &cb.ConfigValue{Value: []byte(fmt.Sprintf("tx%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		b := protos.NewBlock(uint64(i), prev, [][]byte{protos.Marshal(env)})
		prev = protos.BlockHeaderHash(b.Header)
		f.blocks = append(f.blocks, b)
	}
	return f
}

// serve starts a Deliver service (mutual TLS) over a real block store
// holding the first n blocks and returns its address.
func (f *pullFixture) serve(t *testing.T, n int, tamper func(*cb.Block) *cb.Block) string {
	t.Helper()
	store, err := ledger.OpenBlockStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, b := range f.blocks[:n] {
		if err := store.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	srvCert, _, _ := f.ca.issue(t, "orderer-srv")
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{srvCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    f.ca.pool,
		MinVersion:   tls.VersionTLS12,
	})))
	ab.RegisterAtomicBroadcastServer(srv, abServer{h: deliver.NewHandler(storeChannel{store: store, tamper: tamper}, slog.New(newLogSink()))})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func (f *pullFixture) puller(t *testing.T, logs *logSink, verify func(*cb.Block) error, endpoints ...string) *Puller {
	t.Helper()
	if verify == nil {
		verify = func(*cb.Block) error { return nil }
	}
	p, err := NewPuller(PullerConfig{
		Channel:     pullChannel,
		Endpoints:   func() []string { return endpoints },
		TLS:         &tls.Config{Certificates: []tls.Certificate{f.cert}, RootCAs: f.ca.pool, MinVersion: tls.VersionTLS12},
		Signer:      f.signer,
		Verify:      verify,
		DialTimeout: 2 * time.Second,
		Logger:      slog.New(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pull runs Pull and returns the numbers of the blocks handed over.
func pull(t *testing.T, p *Puller, from, to uint64, f *pullFixture) ([]uint64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var got []uint64
	err := p.Pull(ctx, from, to, func(b *cb.Block) error {
		n := b.Header.Number
		if !bytes.Equal(protos.BlockHeaderHash(b.Header), protos.BlockHeaderHash(f.blocks[n].Header)) || !proto.Equal(b.Data, f.blocks[n].Data) {
			t.Errorf("block %d handed over differs from the committed block", n)
		}
		got = append(got, n)
		return nil
	})
	return got, err
}

// deadEndpoint returns an address where nothing listens.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestPullerPullsAndFailsOver(t *testing.T) {
	f := newPullFixture(t, 6)
	good := f.serve(t, 6, nil)
	alteredData := f.serve(t, 6, func(b *cb.Block) *cb.Block {
		if b.Header.Number == 3 {
			b.Data.Data[0] = append([]byte{}, b.Data.Data[0]...)
			b.Data.Data[0][len(b.Data.Data[0])-1] ^= 1
		}
		return b
	})
	brokenChain := f.serve(t, 6, func(b *cb.Block) *cb.Block {
		if b.Header.Number == 3 {
			b.Header.PreviousHash = bytes.Repeat([]byte{7}, 32)
		}
		return b
	})
	lagging := f.serve(t, 3, nil) // has blocks 0..2 only

	for _, tc := range []struct {
		name      string
		endpoints []string
		logged    string // reason logged for the failed endpoint
	}{
		{"all good", []string{good}, ""},
		{"altered data then good", []string{alteredData, good}, "data hash in header"},
		{"broken hash chain then good", []string{brokenChain, good}, "hash chain is broken"},
		{"dead endpoint then good", []string{deadEndpoint(t), good}, "open deliver stream"},
		{"lagging orderer then good", []string{lagging, good}, "status NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := newLogSink()
			p := f.puller(t, logs, nil, tc.endpoints...)
			got, err := pull(t, p, 1, 5, f)
			if err != nil {
				t.Fatalf("Pull: %v", err)
			}
			if fmt.Sprint(got) != "[1 2 3 4 5]" {
				t.Fatalf("blocks handed over: %v, want [1 2 3 4 5], each once and in order", got)
			}
			if tc.logged != "" {
				logs.waitFor(t, "pulling blocks failed; trying the next orderer", map[string]string{"orderer": tc.endpoints[0], "error": tc.logged})
			}
		})
	}

	t.Run("only tampered orderers", func(t *testing.T) {
		p := f.puller(t, newLogSink(), nil, brokenChain, alteredData)
		got, err := pull(t, p, 0, 5, f)
		if err == nil || !strings.Contains(err.Error(), "no orderer served block 3") ||
			!strings.Contains(err.Error(), "hash chain is broken") || !strings.Contains(err.Error(), "data hash") {
			t.Fatalf("Pull: got %v, want an error naming block 3 and both orderers' reasons", err)
		}
		if fmt.Sprint(got) != "[0 1 2]" {
			t.Fatalf("blocks handed over: %v, want [0 1 2]", got)
		}
	})

	t.Run("verify refuses a block", func(t *testing.T) {
		verify := func(b *cb.Block) error {
			if b.Header.Number == 2 {
				return errors.New("signature does not satisfy /Channel/Orderer/BlockValidation")
			}
			return nil
		}
		p := f.puller(t, newLogSink(), verify, good)
		got, err := pull(t, p, 1, 5, f)
		if err == nil || !strings.Contains(err.Error(), "block 2 failed verification") || !strings.Contains(err.Error(), "BlockValidation") {
			t.Fatalf("Pull: got %v, want block 2 refused by verify", err)
		}
		if fmt.Sprint(got) != "[1]" {
			t.Fatalf("blocks handed over: %v, want [1]", got)
		}
	})

	t.Run("callback error stops pull", func(t *testing.T) {
		errFull := errors.New("disk full")
		p := f.puller(t, newLogSink(), nil, good, good)
		calls := 0
		err := p.Pull(context.Background(), 1, 5, func(b *cb.Block) error {
			calls++
			if b.Header.Number == 2 {
				return errFull
			}
			return nil
		})
		if !errors.Is(err, errFull) || calls != 2 {
			t.Fatalf("Pull: got %v after %d calls, want disk full after 2 calls and no retry", err, calls)
		}
	})
}

func TestPullerHeight(t *testing.T) {
	f := newPullFixture(t, 6)
	full := f.serve(t, 6, nil)
	short := f.serve(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	h, err := f.puller(t, newLogSink(), nil, short, deadEndpoint(t), full).Height(ctx)
	if err != nil || h != 6 {
		t.Fatalf("Height = %d, %v; want 6 (the highest any orderer reports)", h, err)
	}
	_, err = f.puller(t, newLogSink(), nil, deadEndpoint(t)).Height(ctx)
	if err == nil || !strings.Contains(err.Error(), "no orderer answered") {
		t.Fatalf("Height with no live orderer: got %v, want an error", err)
	}
}

// An orderer that accepts connections but never answers holds Pull and
// Height only until the context ends.
func TestPullerBoundedByContext(t *testing.T) {
	f := newPullFixture(t, 2)
	lis, err := net.Listen("tcp", "127.0.0.1:0") // never accepts: TLS never completes
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	p := f.puller(t, newLogSink(), nil, lis.Addr().String())

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = p.Pull(ctx, 0, 1, func(*cb.Block) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pull: got %v, want the context's deadline", err)
	}
	if _, err := p.Height(ctx); err == nil {
		t.Fatal("Height answered from an orderer that never responds")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Pull and Height took %s with a 200ms context", d)
	}
}

func TestNewPullerChecksConfig(t *testing.T) {
	f := newPullFixture(t, 1)
	ok := PullerConfig{
		Channel: pullChannel, Endpoints: func() []string { return nil }, TLS: &tls.Config{},
		Signer: f.signer, Verify: func(*cb.Block) error { return nil },
	}
	for _, tc := range []struct {
		name string
		edit func(*PullerConfig)
		want string
	}{
		{"no channel", func(c *PullerConfig) { c.Channel = "" }, "Channel is empty"},
		{"no endpoints", func(c *PullerConfig) { c.Endpoints = nil }, "Endpoints is nil"},
		{"no tls", func(c *PullerConfig) { c.TLS = nil }, "TLS is nil"},
		{"no signer", func(c *PullerConfig) { c.Signer = nil }, "Signer is nil"},
		{"no verify", func(c *PullerConfig) { c.Verify = nil }, "Verify is nil"},
	} {
		cfg := ok
		tc.edit(&cfg)
		if _, err := NewPuller(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	p, err := NewPuller(ok)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Pull(context.Background(), 0, 1, nil); err == nil || !strings.Contains(err.Error(), "no orderer endpoints") {
		t.Errorf("Pull with no endpoints: got %v", err)
	}
}
