package devnettest

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Forwarder relays TCP connections from a loopback port to a target
// address, so that a test can cut a node off from another without root:
// point the node at the forwarder (OverrideOrderer), then Cut.
type Forwarder struct {
	lis    net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{} // both ends of every relayed connection
	wg    sync.WaitGroup        // the accept loop and two copiers per connection
	// Relayed counts the connections accepted and relayed so far, guarded by mu.
	relayed int
}

// Forward starts a forwarder on a free 127.0.0.1 port to target; it is cut
// and its goroutines are stopped when the test ends.
func Forward(t testing.TB, target string) *Forwarder {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("forwarder to %s: %v", target, err)
	}
	f := &Forwarder{lis: lis, target: target, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.Cut)
	return f
}

// Port is the loopback port the forwarder listens on.
func (f *Forwarder) Port() int { return f.lis.Addr().(*net.TCPAddr).Port }

// Address is localhost:Port, a name the development network's TLS
// certificates are valid for.
func (f *Forwarder) Address() string { return "localhost:" + strconv.Itoa(f.Port()) }

// Relayed is how many connections the forwarder has relayed.
func (f *Forwarder) Relayed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.relayed
}

// Cut closes the listener (new connections are refused) and every relayed
// connection, and waits until the forwarder's goroutines have ended. It may
// be called more than once.
func (f *Forwarder) Cut() {
	f.mu.Lock()
	f.cut = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.lis.Close()
	f.wg.Wait()
}

func (f *Forwarder) accept() {
	defer f.wg.Done()
	for {
		in, err := f.lis.Accept()
		if err != nil {
			return // closed by Cut
		}
		out, err := net.Dial("tcp", f.target)
		if err != nil {
			in.Close()
			continue
		}
		f.mu.Lock()
		if f.cut {
			f.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		f.conns[in], f.conns[out] = struct{}{}, struct{}{}
		f.relayed++
		f.wg.Add(2)
		f.mu.Unlock()
		go f.copy(out, in)
		go f.copy(in, out)
	}
}

// copy relays src to dst until either closes, then closes both, so that
// the other direction ends too.
func (f *Forwarder) copy(dst, src net.Conn) {
	defer f.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	f.mu.Lock()
	delete(f.conns, dst)
	delete(f.conns, src)
	f.mu.Unlock()
}
