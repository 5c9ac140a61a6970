package flowcontrol

import (
	"encoding/binary"
	"net"
	"sync"
)

// PingConn counts the HTTP/2 PING frames (not acks) read from a
// connection: the ones the other side sends on its own. Tests wrap a
// connection in it to show that fixed windows stop gRPC's bandwidth probes.
type PingConn struct {
	net.Conn
	mu      sync.Mutex
	buf     []byte // bytes read but not yet parsed into whole frames
	preface bool   // still to skip the client's connection preface
	pings   int
}

// CountPings wraps c. server says c is the server's end, which first reads
// the client's connection preface.
func CountPings(c net.Conn, server bool) *PingConn {
	return &PingConn{Conn: c, preface: server}
}

// Read reads from the connection and counts the PING frames read so far.
func (c *PingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p[:n]...)
	const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	if c.preface {
		if len(c.buf) < len(clientPreface) {
			return n, err
		}
		c.buf, c.preface = c.buf[len(clientPreface):], false
	}
	for len(c.buf) >= 9 { // a frame: 24-bit length, type, flags, stream ID, payload
		size := 9 + int(binary.BigEndian.Uint32(append([]byte{0}, c.buf[:3]...)))
		if len(c.buf) < size {
			break
		}
		const pingFrame, ackFlag = 0x6, 0x1
		if c.buf[3] == pingFrame && c.buf[4]&ackFlag == 0 {
			c.pings++
		}
		c.buf = c.buf[size:]
	}
	return n, err
}

// Pings returns the PING frames read so far.
func (c *PingConn) Pings() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pings
}
