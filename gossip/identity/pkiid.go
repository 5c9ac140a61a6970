package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// PKIID identifies a peer in gossip.
type PKIID []byte

// String is the PKI-ID in lower-case hex, as logs and errors show it.
func (p PKIID) String() string { return hex.EncodeToString(p) }

// PKIIDOf is the PKI-ID of a serialized identity
// (msp.SerializedIdentity): SHA-256 over its MSP ID followed by its
// identity bytes, as Fabric computes it.
func PKIIDOf(serialized []byte) (PKIID, error) {
	sid := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(serialized, sid); err != nil {
		return nil, fmt.Errorf("gossip identity is not a serialized identity: %w", err)
	}
	if sid.Mspid == "" || len(sid.IdBytes) == 0 {
		return nil, fmt.Errorf("gossip identity has no MSP ID or no certificate")
	}
	h := sha256.New()
	h.Write([]byte(sid.Mspid))
	h.Write(sid.IdBytes)
	return h.Sum(nil), nil
}
