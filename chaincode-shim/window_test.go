package shim

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-ledger/weft/chaincode-shim/internal/fakepeer"
)

// pingCounter counts the HTTP/2 PING frames (not acks) the server reads on
// the connections it accepts: the frames the chaincode starts on its own.
type pingCounter struct {
	credentials.TransportCredentials // plaintext
	mu                               sync.Mutex
	pings                            int
}

func (p *pingCounter) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, info, err := p.TransportCredentials.ServerHandshake(c)
	return &pingCountingConn{Conn: c, counter: p}, info, err
}

func (p *pingCounter) Clone() credentials.TransportCredentials {
	return &pingCounter{TransportCredentials: p.TransportCredentials.Clone()}
}

func (p *pingCounter) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pings
}

type pingCountingConn struct {
	net.Conn
	counter *pingCounter
	buf     []byte // bytes read but not yet parsed into whole frames
	preface bool   // the client's connection preface has been skipped
}

func (c *pingCountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.buf = append(c.buf, p[:n]...)
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	if !c.preface {
		if len(c.buf) < len(preface) {
			return n, err
		}
		c.buf, c.preface = c.buf[len(preface):], true
	}
	// A frame: 24-bit length, type, flags, 32-bit stream ID, payload.
	for len(c.buf) >= 9 {
		size := 9 + int(binary.BigEndian.Uint32(append([]byte{0}, c.buf[:3]...)))
		if len(c.buf) < size {
			break
		}
		const pingFrame, ackFlag = 0x6, 0x1
		if c.buf[3] == pingFrame && c.buf[4]&ackFlag == 0 {
			c.counter.mu.Lock()
			c.counter.pings++
			c.counter.mu.Unlock()
		}
		c.buf = c.buf[size:]
	}
	return n, err
}

// The shim's connection to the peer sends no PING per message received: its
// flow-control window is fixed, so gRPC does not probe the bandwidth after
// each DATA frame (which cost a PING, a PING ack and a WINDOW_UPDATE per
// message).
func TestClientSendsNoBandwidthPings(t *testing.T) {
	counter := &pingCounter{TransportCredentials: insecure.NewCredentials()}
	peer, addr := fakepeer.StartPeer(t, grpc.Creds(counter))
	t.Setenv(EnvChaincodeIDName, "win")
	t.Setenv(EnvPeerAddress, addr)
	t.Setenv(EnvTLSEnabled, "false")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- StartWithContext(ctx, funcCC(func(stub ChaincodeStubInterface) *pb.Response {
			if err := stub.PutState("k", []byte("v")); err != nil {
				return Error(err.Error())
			}
			return Success(nil)
		}))
	}()
	t.Cleanup(func() { cancel(); <-done })
	s := peer.NextSession(t)
	s.WaitRegistered(t)
	for i := range 20 {
		s.Invoke(t, fmt.Sprintf("tx%d", i), "put")
	}
	if n := counter.count(); n != 0 {
		t.Fatalf("the shim sent %d PINGs over 20 transactions, want none", n)
	}
}
