package identity

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/weft-ledger/weft/msp"
)

// Managers is a Verifier over MSP managers: those of every joined channel
// and one holding the local MSP. It is called on every check, so a channel
// joined or a configuration update counts at once. An identity is valid when
// any manager validates it, as Fabric's message crypto service accepts an
// identity known to the local MSP or to any channel's.
type Managers func() []*msp.Manager

// Validate returns the MSP ID of serialized when a manager validates it.
func (f Managers) Validate(serialized []byte) (string, error) {
	id, err := f.identity(serialized)
	if err != nil {
		return "", err
	}
	return id.MSPID, nil
}

// Verify checks signature over msg by serialized, once a manager validates
// serialized.
func (f Managers) Verify(serialized, signature, msg []byte) error {
	id, err := f.identity(serialized)
	if err != nil {
		return err
	}
	return id.Verify(msg, signature)
}

func (f Managers) identity(serialized []byte) (*msp.Identity, error) {
	var known []string
	var firstErr error
	for _, m := range f() {
		if m == nil {
			continue
		}
		id, err := m.DeserializeIdentity(serialized)
		if err == nil {
			return id, nil
		}
		known = append(known, m.IDs()...)
		// An organisation that knows the MSP but refuses the identity
		// says more than one that does not know the MSP at all.
		if firstErr == nil || (errors.Is(firstErr, msp.ErrUnknownMSP) && !errors.Is(err, msp.ErrUnknownMSP)) {
			firstErr = err
		}
	}
	slices.Sort(known)
	known = slices.Compact(known)
	if firstErr == nil {
		return nil, fmt.Errorf("identity of MSP %s: this peer knows no organisation yet", mspIDOf(serialized))
	}
	// The MSP's error already names the identity and the MSPs it checked
	// against; the list here adds those of the other managers.
	return nil, fmt.Errorf("identity of MSP %s is valid for none of the MSPs this peer knows (%s): %w",
		mspIDOf(serialized), strings.Join(known, ", "), firstErr)
}
