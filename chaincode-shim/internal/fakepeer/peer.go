package fakepeer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
)

// WaitLimit bounds every wait of the fake peer; it is a deadline, never a sleep.
const WaitLimit = 10 * time.Second

// Ledger is the fake peer's world state: keys per collection ("" = public),
// range queries paged a few results at a time (SetPageSize).
type Ledger struct {
	mu       sync.Mutex
	kv       map[string][]byte                 // collection + "\x1f" + key
	failures map[string]string                 // key → ERROR message for any request on it
	pageSize int                               // results per range page, default 2
	queries  map[string][]*pb.QueryResultBytes // open range queries: id → remaining results
	nextID   int
	requests map[pb.ChaincodeMessage_Type]int // count of requests per type
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{
		kv:       map[string][]byte{},
		failures: map[string]string{},
		pageSize: 2,
		queries:  map[string][]*pb.QueryResultBytes{},
		requests: map[pb.ChaincodeMessage_Type]int{},
	}
}

// SetPageSize sets how many results each range query page holds.
func (l *Ledger) SetPageSize(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pageSize = n
}

func ledgerKey(collection, key string) string { return collection + "\x1f" + key }

// Put stores a public key directly, as if committed.
func (l *Ledger) Put(key string, value []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kv[ledgerKey("", key)] = value
}

// Get reads a public key directly.
func (l *Ledger) Get(key string) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.kv[ledgerKey("", key)]
	return v, ok
}

// Count returns how many requests of type t the chaincode sent.
func (l *Ledger) Count(t pb.ChaincodeMessage_Type) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.requests[t]
}

// FailOn makes every request on key fail with an ERROR carrying msg.
func (l *Ledger) FailOn(key, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[key] = msg
}

// page takes the next page of an open query.
func (l *Ledger) page(id string) *pb.QueryResponse {
	rest := l.queries[id]
	n := min(len(rest), l.pageSize)
	resp := &pb.QueryResponse{Id: id, Results: rest[:n], HasMore: len(rest) > n}
	l.queries[id] = rest[n:]
	return resp
}

// answer produces the peer's reply payload (or an error) for one request.
func (l *Ledger) answer(msg *pb.ChaincodeMessage) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests[msg.Type]++
	checkKey := func(k string) error {
		if m, ok := l.failures[k]; ok {
			return errors.New(m)
		}
		return nil
	}
	switch msg.Type {
	case pb.ChaincodeMessage_GET_STATE, pb.ChaincodeMessage_GET_PRIVATE_DATA_HASH:
		req := &pb.GetState{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, err
		}
		if err := checkKey(req.Key); err != nil {
			return nil, err
		}
		v := l.kv[ledgerKey(req.Collection, req.Key)]
		if msg.Type == pb.ChaincodeMessage_GET_PRIVATE_DATA_HASH && v != nil {
			v = []byte("hash:" + string(v))
		}
		return v, nil
	case pb.ChaincodeMessage_GET_STATE_MULTIPLE:
		req := &pb.GetStateMultiple{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, err
		}
		res := &pb.GetStateMultipleResult{}
		for _, k := range req.Keys {
			if err := checkKey(k); err != nil {
				return nil, err
			}
			res.Values = append(res.Values, l.kv[ledgerKey(req.Collection, k)])
		}
		return proto.Marshal(res)
	case pb.ChaincodeMessage_PUT_STATE:
		req := &pb.PutState{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, err
		}
		if err := checkKey(req.Key); err != nil {
			return nil, err
		}
		l.kv[ledgerKey(req.Collection, req.Key)] = req.Value
		return nil, nil
	case pb.ChaincodeMessage_DEL_STATE:
		req := &pb.DelState{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, err
		}
		if err := checkKey(req.Key); err != nil {
			return nil, err
		}
		delete(l.kv, ledgerKey(req.Collection, req.Key))
		return nil, nil
	case pb.ChaincodeMessage_GET_STATE_BY_RANGE:
		req := &pb.GetStateByRange{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, err
		}
		var keys []string
		prefix := ledgerKey(req.Collection, "")
		for lk := range l.kv {
			if len(lk) < len(prefix) || lk[:len(prefix)] != prefix {
				continue
			}
			k := lk[len(prefix):]
			if k >= req.StartKey && (req.EndKey == "" || k < req.EndKey) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var results []*pb.QueryResultBytes
		for _, k := range keys {
			b, err := proto.Marshal(&queryresult.KV{Namespace: "cc", Key: k, Value: l.kv[ledgerKey(req.Collection, k)]})
			if err != nil {
				return nil, err
			}
			results = append(results, &pb.QueryResultBytes{ResultBytes: b})
		}
		l.nextID++
		id := "q" + strconv.Itoa(l.nextID)
		l.queries[id] = results
		return proto.Marshal(l.page(id))
	case pb.ChaincodeMessage_QUERY_STATE_NEXT:
		req := &pb.QueryStateNext{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, err
		}
		if _, ok := l.queries[req.Id]; !ok {
			return nil, fmt.Errorf("query %s is not open", req.Id)
		}
		return proto.Marshal(l.page(req.Id))
	case pb.ChaincodeMessage_QUERY_STATE_CLOSE:
		req := &pb.QueryStateClose{}
		if err := proto.Unmarshal(msg.Payload, req); err != nil {
			return nil, err
		}
		delete(l.queries, req.Id)
		return proto.Marshal(&pb.QueryResponse{Id: req.Id})
	default:
		return nil, fmt.Errorf("fake peer does not support %s", msg.Type)
	}
}

// Stream is the peer's end of a chaincode stream: the server side of
// ChaincodeSupport/Register or the client side of Chaincode/Connect.
type Stream interface {
	Send(*pb.ChaincodeMessage) error
	Recv() (*pb.ChaincodeMessage, error)
}

type txKey struct{ channel, txid string }

// Session is the peer's side of one chaincode stream.
type Session struct {
	stream Stream
	ledger *Ledger
	// ReadyPayload is sent in READY; set it before Run. Empty keeps the plain protocol.
	ReadyPayload []byte

	sendMu sync.Mutex // gRPC streams allow one sender at a time

	registeredAs chan string // the name in REGISTER, once
	quit         chan struct{}
	quitOnce     sync.Once
	ended        chan struct{} // closed when run returns
	endErr       error

	mu         sync.Mutex
	waiters    map[txKey]chan *pb.ChaincodeMessage // COMPLETED/ERROR by (channel, txid)
	keepalives chan *pb.ChaincodeMessage
}

// NewSession wraps the peer's end of a stream; call Run to serve it.
func NewSession(stream Stream, ledger *Ledger) *Session {
	return &Session{
		stream:       stream,
		ledger:       ledger,
		registeredAs: make(chan string, 1),
		quit:         make(chan struct{}),
		ended:        make(chan struct{}),
		waiters:      map[txKey]chan *pb.ChaincodeMessage{},
		keepalives:   make(chan *pb.ChaincodeMessage, 4),
	}
}

// Send writes a message to the chaincode (safe for concurrent use).
func (s *Session) Send(m *pb.ChaincodeMessage) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.stream.Send(m)
}

// Keepalives yields the KEEPALIVE messages the chaincode sent.
func (s *Session) Keepalives() <-chan *pb.ChaincodeMessage { return s.keepalives }

// Ended is closed when Run has returned.
func (s *Session) Ended() <-chan struct{} { return s.ended }

// Err is Run's result; valid once Ended is closed.
func (s *Session) Err() error {
	<-s.ended
	return s.endErr
}

// Registered yields the registered name once the handshake is complete.
func (s *Session) Registered() <-chan string { return s.registeredAs }

// Close ends the session; for a server-side stream this ends the RPC.
func (s *Session) Close() { s.quitOnce.Do(func() { close(s.quit) }) }

// Run performs the handshake (REGISTER → REGISTERED, READY) and answers the
// chaincode until Close or a stream error.
func (s *Session) Run() error {
	defer close(s.ended)
	s.endErr = s.serve()
	return s.endErr
}

func (s *Session) serve() error {
	reg, err := s.stream.Recv()
	if err != nil {
		return fmt.Errorf("receive REGISTER: %w", err)
	}
	if reg.Type != pb.ChaincodeMessage_REGISTER {
		return fmt.Errorf("first message is %s, want REGISTER", reg.Type)
	}
	id := &pb.ChaincodeID{}
	if err := proto.Unmarshal(reg.Payload, id); err != nil {
		return fmt.Errorf("REGISTER payload: %w", err)
	}
	if err := s.Send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_REGISTERED}); err != nil {
		return err
	}
	if err := s.Send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_READY, Payload: s.ReadyPayload}); err != nil {
		return err
	}
	// Only now may the test send invocations: they must follow READY on the wire.
	s.registeredAs <- id.Name

	type recvd struct {
		m   *pb.ChaincodeMessage
		err error
	}
	in := make(chan recvd)
	go func() {
		for {
			m, err := s.stream.Recv()
			select {
			case in <- recvd{m, err}:
			case <-s.quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-s.quit:
			return nil
		case r := <-in:
			if r.err != nil {
				return r.err
			}
			s.dispatch(r.m)
		}
	}
}

func (s *Session) dispatch(m *pb.ChaincodeMessage) {
	switch m.Type {
	case pb.ChaincodeMessage_COMPLETED, pb.ChaincodeMessage_ERROR:
		s.mu.Lock()
		ch := s.waiters[txKey{m.ChannelId, m.Txid}]
		delete(s.waiters, txKey{m.ChannelId, m.Txid})
		s.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	case pb.ChaincodeMessage_KEEPALIVE:
		s.keepalives <- m
	default:
		// Answer in a goroutine, as a real peer does, so that requests of
		// different transactions interleave.
		go func() {
			reply := &pb.ChaincodeMessage{Type: pb.ChaincodeMessage_RESPONSE, Txid: m.Txid, ChannelId: m.ChannelId}
			payload, err := s.ledger.answer(m)
			if err != nil {
				reply.Type, payload = pb.ChaincodeMessage_ERROR, []byte(err.Error())
			}
			reply.Payload = payload
			_ = s.Send(reply)
		}()
	}
}

// WaitRegistered returns the name the chaincode registered with, once the
// handshake is complete and invocations may be sent.
func (s *Session) WaitRegistered(t testing.TB) string {
	t.Helper()
	select {
	case name := <-s.registeredAs:
		return name
	case <-s.ended:
		t.Fatalf("session ended before REGISTER: %v", s.endErr)
	case <-time.After(WaitLimit):
		t.Fatal("no REGISTER from the chaincode")
	}
	return ""
}

// Call sends an INIT or TRANSACTION and returns the chaincode's COMPLETED or
// ERROR, failing the test on a stream error or timeout.
func (s *Session) Call(t testing.TB, typ pb.ChaincodeMessage_Type, channel, txid string, sp *pb.SignedProposal, args ...string) *pb.ChaincodeMessage {
	t.Helper()
	m, err := s.TryCall(typ, channel, txid, sp, args...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (s *Session) TryCall(typ pb.ChaincodeMessage_Type, channel, txid string, sp *pb.SignedProposal, args ...string) (*pb.ChaincodeMessage, error) {
	input := &pb.ChaincodeInput{}
	for _, a := range args {
		input.Args = append(input.Args, []byte(a))
	}
	payload, err := proto.Marshal(input)
	if err != nil {
		return nil, err
	}
	ch := make(chan *pb.ChaincodeMessage, 1)
	s.mu.Lock()
	s.waiters[txKey{channel, txid}] = ch
	s.mu.Unlock()
	if err := s.Send(&pb.ChaincodeMessage{Type: typ, Payload: payload, Txid: txid, ChannelId: channel, Proposal: sp}); err != nil {
		return nil, fmt.Errorf("send %s %s: %w", typ, txid, err)
	}
	select {
	case m := <-ch:
		return m, nil
	case <-s.ended:
		return nil, fmt.Errorf("stream ended while waiting for tx %s: %v", txid, s.endErr)
	case <-time.After(WaitLimit):
		return nil, fmt.Errorf("no reply for tx %s within %s", txid, WaitLimit)
	}
}

// Invoke runs a TRANSACTION on channel "mychannel" and returns the chaincode's response; it fails
// the test unless the chaincode answered COMPLETED.
func (s *Session) Invoke(t testing.TB, txid string, args ...string) (*pb.Response, *pb.ChaincodeMessage) {
	t.Helper()
	m := s.Call(t, pb.ChaincodeMessage_TRANSACTION, "mychannel", txid, nil, args...)
	if m.Type != pb.ChaincodeMessage_COMPLETED {
		t.Fatalf("tx %s %v: got %s %q, want COMPLETED", txid, args, m.Type, m.Payload)
	}
	res := &pb.Response{}
	if err := proto.Unmarshal(m.Payload, res); err != nil {
		t.Fatalf("COMPLETED payload of tx %s is not a peer.Response: %v", txid, err)
	}
	return res, m
}

// Peer serves ChaincodeSupport/Register and hands each stream to the test.
type Peer struct {
	pb.UnimplementedChaincodeSupportServer
	// Ledger is the state every session of this peer reads and writes.
	Ledger   *Ledger
	sessions chan *Session

	mu    sync.Mutex // guards ready
	ready []byte
}

// Register implements pb.ChaincodeSupportServer.
func (p *Peer) Register(stream pb.ChaincodeSupport_RegisterServer) error {
	s := NewSession(stream, p.Ledger)
	p.mu.Lock()
	s.ReadyPayload = p.ready
	p.mu.Unlock()
	p.sessions <- s
	return s.Run()
}

// StartPeer serves a fake peer on 127.0.0.1:0 and returns it and its
// address; it stops at test cleanup.
func StartPeer(t testing.TB, opts ...grpc.ServerOption) (*Peer, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Peer{Ledger: NewLedger(), sessions: make(chan *Session, 4)}
	srv := grpc.NewServer(opts...)
	pb.RegisterChaincodeSupportServer(srv, p)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})
	return p, lis.Addr().String()
}

// SetReadyPayload sets the READY payload of later sessions (a marshalled
// pb.ChaincodeAdditionalParams advertising optional capabilities).
func (p *Peer) SetReadyPayload(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = b
}

// NextSession returns the next stream a chaincode opened; it is closed at test cleanup.
func (p *Peer) NextSession(t testing.TB) *Session {
	t.Helper()
	select {
	case s := <-p.sessions:
		t.Cleanup(s.Close)
		return s
	case <-time.After(WaitLimit):
		t.Fatal("the chaincode never opened a stream to the fake peer")
	}
	return nil
}

// ConnectToChaincode plays the peer of a chaincode server (chaincode as a
// service): it dials Chaincode/Connect at addr and serves the stream with a
// new Session on ledger. The session and connection close at test cleanup.
func ConnectToChaincode(t testing.TB, addr string, creds credentials.TransportCredentials, ledger *Ledger) (*Session, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := pb.NewChaincodeClient(conn).Connect(ctx)
	if err != nil {
		cancel()
		conn.Close()
		return nil, err
	}
	s := NewSession(stream, ledger)
	go s.Run()
	t.Cleanup(func() {
		s.Close()
		cancel()
		<-s.ended
		conn.Close()
	})
	return s, nil
}
