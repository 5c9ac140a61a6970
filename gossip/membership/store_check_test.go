package membership

import "github.com/weft-ledger/weft/gossip/identity"

// The identity store of gossip/identity is what the peer passes.
var _ IdentityStore = (*identity.Store)(nil)
