package protos

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// NonceSize is the length of the random nonce in a signature header, as Fabric's clients use.
const NonceSize = 24

// NewNonce returns NonceSize random bytes.
func NewNonce() ([]byte, error) {
	n := make([]byte, NonceSize)
	if _, err := rand.Read(n); err != nil {
		return nil, fmt.Errorf("read random nonce: %w", err)
	}
	return n, nil
}

// ComputeTxID returns the transaction ID Fabric derives from a signature header:
// the lower-case hex SHA-256 of nonce followed by the serialized creator.
func ComputeTxID(nonce, creator []byte) string {
	h := sha256.New()
	h.Write(nonce)
	h.Write(creator)
	return hex.EncodeToString(h.Sum(nil))
}
