package endorser

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/peer/lifecycle"
)

// InitializedKey is the reserved key, in a chaincode's own state namespace,
// whose value is the definition version that was initialized (Fabric's
// "initialized" key). Its 0x00 prefix and maximum rune keep it out of the
// chaincode's simple-key and composite-key queries.
const InitializedKey = "\x00" + string(utf8.MaxRune) + "initialized"

// InitState is the part of a transaction simulator the init check uses; its
// read and write land in the transaction's read/write set, so two inits of
// the same version in one block conflict (MVCC), as in Fabric.
type InitState interface {
	GetState(ns, key string) ([]byte, error)
	SetState(ns, key string, value []byte) error
}

// checkInit enforces the definition's InitRequired flag, as Fabric does for
// every invocation of user chaincode, including a chaincode called by
// another:
//   - without InitRequired, the invocation must not be an init;
//   - with it, the chaincode counts as initialized when InitializedKey holds
//     the definition's version: an upgrade to a new version needs a new
//     init, a new sequence with the same version does not;
//   - an init of a chaincode not yet initialized records the version under
//     InitializedKey; any other init, or an ordinary invocation before the
//     init, is refused.
func checkInit(name string, def *lifecycle.Definition, st InitState, input *pb.ChaincodeInput) error {
	isInit := input.GetIsInit()
	if !def.InitRequired {
		if isInit {
			return fmt.Errorf("chaincode '%s' does not require initialization but called as init: its definition (version %s, sequence %d) was committed without --init-required; invoke it without --isInit",
				name, def.Version, def.Sequence)
		}
		return nil
	}
	v, err := st.GetState(name, InitializedKey)
	if err != nil {
		return fmt.Errorf("could not get 'initialized' key of chaincode %s: %w", name, err)
	}
	initialized := bytes.Equal(v, []byte(def.Version))
	switch {
	case isInit && initialized:
		return fmt.Errorf("chaincode '%s' is already initialized but called as init: version %s was initialized; invoke it without --isInit (a new init is needed only after an upgrade to a new version)",
			name, def.Version)
	case isInit:
		if err := st.SetState(name, InitializedKey, []byte(def.Version)); err != nil {
			return fmt.Errorf("could not set 'initialized' key of chaincode %s: %w", name, err)
		}
		return nil
	case !initialized:
		return fmt.Errorf("chaincode '%s' has not been initialized for this version, must call as init first: its definition (version %s, sequence %d) was committed with --init-required; invoke it once with `chaincode invoke --isInit` before any other transaction",
			name, def.Version, def.Sequence)
	}
	return nil
}
