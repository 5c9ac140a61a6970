package shimtest

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/chaincode-shim/internal/fakepeer"
)

// The fake peer lives in chaincode-shim/internal/fakepeer so that the shim's
// own tests can use it without importing this package, which imports the shim
// (for MockStub). These names re-export it for chaincode tests.

// WaitLimit bounds every wait of the fake peer; it is a deadline, never a sleep.
const WaitLimit = fakepeer.WaitLimit

// Ledger is the fake peer's world state (see fakepeer.Ledger).
type Ledger = fakepeer.Ledger

// Stream is the message stream a Session serves (see fakepeer.Stream).
type Stream = fakepeer.Stream

// Session is the peer side of one chaincode stream (see fakepeer.Session).
type Session = fakepeer.Session

// Peer is a fake ChaincodeSupport server (see fakepeer.Peer).
type Peer = fakepeer.Peer

// PKI is a throwaway CA with one server and one client certificate (see fakepeer.PKI).
type PKI = fakepeer.PKI

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return fakepeer.NewLedger() }

// NewSession serves the peer side of stream from ledger.
func NewSession(stream Stream, ledger *Ledger) *Session { return fakepeer.NewSession(stream, ledger) }

// StartPeer starts a fake peer on 127.0.0.1 and returns it with its address;
// the test's cleanup stops it.
func StartPeer(t testing.TB, opts ...grpc.ServerOption) (*Peer, string) {
	t.Helper()
	return fakepeer.StartPeer(t, opts...)
}

// ConnectToChaincode dials a chaincode server at addr and serves the peer
// side of the Chaincode/Connect stream from ledger.
func ConnectToChaincode(t testing.TB, addr string, creds credentials.TransportCredentials, ledger *Ledger) (*Session, error) {
	t.Helper()
	return fakepeer.ConnectToChaincode(t, addr, creds, ledger)
}

// NewPKI generates a fresh CA and leaf certificates.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	return fakepeer.NewPKI(t)
}
