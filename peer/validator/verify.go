package validator

import (
	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/channelconfig"
)

// BlockValidationPolicy is the channel policy orderer signatures must satisfy.
const BlockValidationPolicy = channelconfig.BlockValidationPolicy

// ErrBlockVerification is wrapped by every VerifyBlock failure.
var ErrBlockVerification = channelconfig.ErrBlockVerification

// VerifyBlock checks a block's hash chain, data hash and orderer signatures
// (channelconfig.VerifyBlock, shared with the orderers' block pullers).
func VerifyBlock(b *cb.Block, previousHeaderHash []byte, bundle *channelconfig.Bundle) error {
	return channelconfig.VerifyBlock(b, previousHeaderHash, bundle)
}
