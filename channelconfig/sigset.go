package channelconfig

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// SignatureSet is signed data that one or more policies judge. Each signer is
// deserialized once per MSP manager and each signature verified at most once,
// however many policies and sub-policies look at the set, and only when a
// policy needs that signer. Evaluate gives the same verdict and error as
// Policy.Evaluate over the same signed data.
//
// A SignatureSet is not safe for concurrent use.
type SignatureSet struct {
	signed   []protos.SignedData
	verified []verification // by signature index
	cands    map[identityManager]*candidates
	at       *time.Time                                     // ValidAt's time; nil: expiry not checked
	verifyFn func(id *msp.Identity, data, sig []byte) error // nil: id.Verify; tests count calls
}

type verification struct {
	done bool
	err  error
}

// candidates are the signers of a set as one MSP manager sees them.
type candidates struct {
	list []candidate // by signature index
}

type candidate struct {
	id    *msp.Identity // nil when the signer is not a valid identity of the channel
	err   error         // why id is nil
	state int8          // 0 not yet known, 1 counted, -1 not counted (invalid signature or repeated signer)
}

// NewSignatureSet returns a set over signed; it does no work until evaluated.
func NewSignatureSet(signed []protos.SignedData) *SignatureSet {
	return &SignatureSet{signed: signed, verified: make([]verification, len(signed))}
}

// Len is the number of signatures in the set.
func (s *SignatureSet) Len() int { return len(s.signed) }

// MarkVerified records that the caller has itself verified signature i (its
// Signature over its Data, by the identity its Identity deserializes to), so
// no policy verifies it again. The signer is still deserialized, validated
// and matched against principals.
func (s *SignatureSet) MarkVerified(i int) {
	if i >= 0 && i < len(s.verified) {
		s.verified[i] = verification{done: true}
	}
}

// ValidAt makes the set count only signers whose certificates have not
// expired at t (msp.Identity.CheckExpiry); an expired signer is rejected like
// an invalid identity, and the policy error names it and its NotAfter. Call
// it before the first Evaluate. Without it expiry is not checked, as in
// Fabric's policy evaluation.
func (s *SignatureSet) ValidAt(t time.Time) {
	s.at = &t
}

// Evaluate evaluates p over the set. Policies of other packages are evaluated
// with their own Evaluate.
func (s *SignatureSet) Evaluate(p Policy) error {
	ev, ok := p.(evaluator)
	if !ok {
		return p.Evaluate(s.signed)
	}
	ec := &evalContext{set: s, seenRej: map[string]bool{}}
	return ec.finish(ev.evaluate(ec))
}

// verify checks signature i by id once.
func (s *SignatureSet) verify(i int, id *msp.Identity) error {
	v := &s.verified[i]
	if !v.done {
		sd := s.signed[i]
		if s.verifyFn != nil {
			v.err = s.verifyFn(id, sd.Data, sd.Signature)
		} else {
			v.err = id.Verify(sd.Data, sd.Signature)
		}
		v.done = true
	}
	return v.err
}

func (s *SignatureSet) candidates(msps identityManager) *candidates {
	if c, ok := s.cands[msps]; ok {
		return c
	}
	c := &candidates{list: make([]candidate, len(s.signed))}
	for i, sd := range s.signed {
		id, err := msps.DeserializeIdentity(sd.Identity)
		if err == nil && s.at != nil {
			if err = id.CheckExpiry(*s.at); err != nil {
				id = nil
			}
		}
		c.list[i].id, c.list[i].err = id, err
	}
	if s.cands == nil {
		s.cands = map[identityManager]*candidates{}
	}
	s.cands[msps] = c
	return c
}

// included reports whether signer i counts, as Fabric counts signers before
// matching principals: a valid identity whose signature verifies and that no
// earlier counted signature already stands for.
func (s *SignatureSet) included(c *candidates, i int) bool {
	cd := &c.list[i]
	if cd.state == 0 {
		cd.state = -1
		if cd.id != nil && s.repeatOf(c, i) < 0 && s.verify(i, cd.id) == nil {
			cd.state = 1
		}
	}
	return cd.state > 0
}

// repeatOf returns the index of an earlier counted signature by the same
// signer as i, or -1. Signers are compared on MSP ID and the normalised
// certificate the MSP manager gives them (msp.Manager.DeserializeIdentity),
// as Fabric compares identity identifiers, so re-encodings of one certificate
// (a flipped-S twin of the CA's signature, other PEM whitespace) count once.
func (s *SignatureSet) repeatOf(c *candidates, i int) int {
	id := c.list[i].id
	for j := range i {
		o := c.list[j].id
		if o != nil && (o == id || o.MSPID == id.MSPID && bytes.Equal(o.Cert.Raw, id.Cert.Raw)) && s.included(c, j) {
			return j
		}
	}
	return -1
}

// evalContext is one evaluation of a policy (and its sub-policies) over a
// SignatureSet: it collects why signatures were not counted, for the error.
type evalContext struct {
	set      *SignatureSet
	touched  []identityManager // managers whose signers were looked at, in order
	rejected []string          // why signatures were skipped, one line each
	seenRej  map[string]bool
}

func (ec *evalContext) candidates(msps identityManager) *candidates {
	found := false
	for _, m := range ec.touched {
		if m == msps {
			found = true
			break
		}
	}
	if !found {
		ec.touched = append(ec.touched, msps)
	}
	return ec.set.candidates(msps)
}

func (ec *evalContext) reject(msg string) {
	if !ec.seenRej[msg] {
		ec.seenRej[msg] = true
		ec.rejected = append(ec.rejected, msg)
	}
}

// identities checks every signer through msps, in signature order, and
// returns the counted ones; the others are remembered for the error message.
func (ec *evalContext) identities(msps identityManager) []*msp.Identity {
	c := ec.candidates(msps)
	var ids []*msp.Identity
	for i, cd := range c.list {
		sd := ec.set.signed[i]
		switch {
		case cd.id == nil:
			ec.reject(fmt.Sprintf("signature %d from %s: %v", i, describeSerialized(sd.Identity), cd.err))
		case ec.set.included(c, i):
			ids = append(ids, cd.id)
		default:
			if j := ec.set.repeatOf(c, i); j >= 0 {
				ec.reject(fmt.Sprintf("signature %d from %s is by the same identity as signature %d and counts once", i, describeIdentity(cd.id), j))
			} else {
				ec.reject(fmt.Sprintf("signature %d from %s invalid: %v", i, describeIdentity(cd.id), ec.set.verify(i, cd.id)))
			}
		}
	}
	return ids
}

// finish adds, once, what the evaluation skipped to a failed policy's error.
func (ec *evalContext) finish(err error) error {
	if err == nil {
		return nil
	}
	// Sub-policies that passed lazily did not look at every signature; a
	// failed evaluation reports all that do not count.
	for _, m := range ec.touched {
		ec.identities(m)
	}
	switch {
	case len(ec.set.signed) == 0:
		return fmt.Errorf("%w (no signatures were supplied)", err)
	case len(ec.rejected) > 0:
		return fmt.Errorf("%w (rejected: %s)", err, strings.Join(ec.rejected, "; "))
	}
	return err
}
