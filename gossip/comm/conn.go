package comm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weft-ledger/weft/gossip/message"
)

// ErrBufferFull is returned by Respond when the connection's send buffer is
// full: the message is dropped, as Fabric drops it.
var ErrBufferFull = errors.New("gossip send buffer full")

// ErrConnClosed is returned by Respond once the connection has closed.
var ErrConnClosed = errors.New("gossip connection closed")

var errClosed = errors.New("gossip comm closed")

// conn is one authenticated GossipStream, dialled (cc and cancel set) or
// accepted. Its send buffer out is drained by one writer; one reader hands
// what arrives to the Comm.
type conn struct {
	info     ConnInfo
	s        stream
	outbound bool
	cc       *grpc.ClientConn   // outbound only
	cancel   context.CancelFunc // outbound only: ends the stream
	out      chan *gp.Envelope

	done      chan struct{} // closed by close
	closeOnce sync.Once
}

func newConn(info ConnInfo, s stream, outbound bool, cc *grpc.ClientConn, cancel context.CancelFunc, buf int) *conn {
	return &conn{info: info, s: s, outbound: outbound, cc: cc, cancel: cancel, out: make(chan *gp.Envelope, buf), done: make(chan struct{})}
}

// close ends the connection: the writer stops, a dialled stream and its
// client connection are closed (an accepted stream ends when its handler,
// the writer, returns).
func (cn *conn) close() {
	cn.closeOnce.Do(func() {
		close(cn.done)
		if cn.cancel != nil {
			cn.cancel()
		}
		if cn.cc != nil {
			_ = cn.cc.Close()
		}
	})
}

func (cn *conn) closed() bool {
	select {
	case <-cn.done:
		return true
	default:
		return false
	}
}

// enqueue puts env in the send buffer without waiting.
func (cn *conn) enqueue(env *gp.Envelope) error {
	if cn.closed() {
		return fmt.Errorf("%w: to %s (PKI-ID %s)", ErrConnClosed, cn.info.Endpoint, cn.info.PKIID)
	}
	select {
	case cn.out <- env:
		return nil
	case <-cn.done:
		return fmt.Errorf("%w: to %s (PKI-ID %s)", ErrConnClosed, cn.info.Endpoint, cn.info.PKIID)
	default:
		return fmt.Errorf("%w: to %s (PKI-ID %s)", ErrBufferFull, cn.info.Endpoint, cn.info.PKIID)
	}
}

// enqueueWait puts env in the send buffer, waiting for room until ctx
// ends, as Fabric's blocking send does for acknowledged messages.
func (cn *conn) enqueueWait(ctx context.Context, env *gp.Envelope) error {
	if cn.closed() {
		return fmt.Errorf("%w: to %s (PKI-ID %s)", ErrConnClosed, cn.info.Endpoint, cn.info.PKIID)
	}
	select {
	case cn.out <- env:
		return nil
	case <-cn.done:
		return fmt.Errorf("%w: to %s (PKI-ID %s)", ErrConnClosed, cn.info.Endpoint, cn.info.PKIID)
	case <-ctx.Done():
		return fmt.Errorf("send buffer to %s (PKI-ID %s) stayed full: %w", cn.info.Endpoint, cn.info.PKIID, ctx.Err())
	}
}

// writeLoop sends what is enqueued until the connection closes or a send
// fails.
func (c *Comm) writeLoop(cn *conn) {
	for {
		select {
		case <-cn.done:
			return
		case env := <-cn.out:
			if err := cn.s.Send(env); err != nil {
				if errors.Is(err, io.EOF) {
					// The remote ended the stream: readLoop reads why
					// (a refusal's status) and drops the connection.
					c.presumeDead(cn.info.PKIID)
					return
				}
				if !cn.closed() {
					c.log.Warn("gossip send failed, closing the connection", "remote_endpoint", cn.info.Endpoint,
						"pki_id", cn.info.PKIID.String(), "err", err)
				}
				c.drop(cn)
				c.presumeDead(cn.info.PKIID)
				return
			}
		}
	}
}

// readLoop hands every message read from cn to the subscribers until the
// stream ends.
func (c *Comm) readLoop(cn *conn) {
	defer c.drop(cn)
	for {
		env, err := cn.s.Recv()
		if err != nil {
			if !cn.closed() && c.ctx.Err() == nil {
				switch status.Code(err) {
				case codes.Unauthenticated, codes.PermissionDenied:
					c.log.Warn("gossip connection refused by the remote peer", "remote_endpoint", cn.info.Endpoint, "pki_id", cn.info.PKIID.String(), "err", err)
				default:
					c.log.Debug("gossip connection ended", "remote_endpoint", cn.info.Endpoint, "pki_id", cn.info.PKIID.String(), "err", err)
				}
			}
			return
		}
		m, err := message.Decode(env)
		if err != nil {
			c.log.Warn("dropped a gossip message that does not decode", "remote_endpoint", cn.info.Endpoint,
				"pki_id", cn.info.PKIID.String(), "msp_id", cn.info.MSPID, "err", err)
			continue
		}
		if m.GetConn() != nil {
			continue // a second ConnEstablish changes nothing
		}
		if ack := m.GetAck(); ack != nil {
			// Acknowledgements answer SendWithAck and go nowhere else.
			c.acks.deliver(m.Nonce, cn.info, ack)
			continue
		}
		rm := &ReceivedMessage{
			Envelope: env,
			Message:  m,
			Conn:     cn.info,
			Respond:  cn.enqueue,
		}
		if !c.deliver(cn, rm) {
			return
		}
	}
}

// drop closes cn and forgets it if it is still the connection of its
// PKI-ID.
func (c *Comm) drop(cn *conn) {
	cn.close()
	c.mu.Lock()
	if c.conns[string(cn.info.PKIID)] == cn {
		delete(c.conns, string(cn.info.PKIID))
	}
	c.mu.Unlock()
}

// presumeDead tells PresumedDead's reader that sending to pkiID failed,
// unless nobody reads and the buffer is full.
func (c *Comm) presumeDead(pkiID []byte) {
	if len(pkiID) == 0 || c.ctx.Err() != nil {
		return
	}
	select {
	case c.dead <- pkiID:
	default:
		c.log.Debug("presumed-dead buffer full", slog.String("pki_id", fmt.Sprintf("%x", pkiID)))
	}
}
