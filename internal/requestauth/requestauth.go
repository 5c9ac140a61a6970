// Package requestauth holds the checks Fabric's deliver services apply to a
// signed request's channel header before anything else, shared by the
// peer's and the orderer's Deliver servers:
//
//   - the time window: the header's timestamp must be within a window of the
//     server's clock (Fabric's peer.authentication.timewindow and
//     General.Authentication.TimeWindow, 15 minutes by default), so a
//     captured request cannot be replayed later;
//   - the TLS binding (Fabric's comm.BindingInspector): under mutual TLS the
//     header's tls_cert_hash must be present and equal to the SHA-256 of the
//     client certificate of the TLS session the request arrived on, so a
//     captured request cannot be replayed on another session. Without mutual
//     TLS Fabric checks nothing; Weft still refuses a request whose hash
//     names another certificate than the one the client presented, and
//     otherwise accepts it as Fabric does (a client may bind its requests to
//     a certificate the server did not ask for).
//
// Every error names what was compared: both times and the window, or both
// hashes.
package requestauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultTimeWindow is Fabric's default time window.
const DefaultTimeWindow = 15 * time.Minute

// CheckTimestamp refuses a missing timestamp or one more than window away
// from now, either way.
func CheckTimestamp(ts *timestamppb.Timestamp, now time.Time, window time.Duration) error {
	if ts == nil {
		return errors.New("the channel header carries no timestamp")
	}
	if err := ts.CheckValid(); err != nil {
		return fmt.Errorf("the channel header's timestamp is invalid: %v", err)
	}
	at := ts.AsTime()
	d := now.Sub(at)
	if d < 0 {
		d = -d
	}
	// Sub saturates more than 292 years apart, and -minDuration is itself
	// negative: compare the times, not the distance.
	if at.Before(now.Add(-window)) || at.After(now.Add(window)) {
		return fmt.Errorf("the request's timestamp %s is %s away from this server's time %s, more than the time window of %s",
			at.UTC().Format(time.RFC3339Nano), d.Round(time.Millisecond), now.UTC().Format(time.RFC3339Nano), window)
	}
	return nil
}

// ClientCertHash returns the SHA-256 of the client certificate of the TLS
// session of ctx (a gRPC server context), nil when there is none.
func ClientCertHash(ctx context.Context) []byte {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return nil
	}
	sum := sha256.Sum256(info.State.PeerCertificates[0].Raw)
	return sum[:]
}

// ClientCertPEMHash returns the SHA-256 of the PEM encoding of the client
// certificate of the TLS session of ctx, nil when there is none. Fabric's
// discover CLI claims this hash rather than the DER's.
func ClientCertPEMHash(ctx context.Context) []byte {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return nil
	}
	sum := sha256.Sum256(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: info.State.PeerCertificates[0].Raw}))
	return sum[:]
}

// CheckBinding checks the tls_cert_hash claimed by a request that arrived on
// the session of ctx; mutualTLS says the server requires client certificates.
func CheckBinding(ctx context.Context, claimed []byte, mutualTLS bool) error {
	actual := ClientCertHash(ctx)
	switch {
	case !mutualTLS && (len(claimed) == 0 || len(actual) == 0):
		return nil
	case len(claimed) == 0:
		return fmt.Errorf("the channel header carries no tls_cert_hash, but this server requires mutual TLS and binds each request to the client's TLS certificate (SHA-256 %x)", actual)
	case len(actual) == 0:
		return fmt.Errorf("the channel header's tls_cert_hash %x binds the request to a TLS client certificate, but the client presented none on this connection", claimed)
	case !bytes.Equal(claimed, actual):
		return fmt.Errorf("the channel header's tls_cert_hash %x is not the SHA-256 of the client's TLS certificate (%x): the request was made for another TLS session", claimed, actual)
	}
	return nil
}
