package channelconfig

import (
	"bytes"
	"errors"
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// BlockValidationPolicy is the channel policy orderer signatures must satisfy.
const BlockValidationPolicy = "/Channel/Orderer/BlockValidation"

// ErrBlockVerification is wrapped by every VerifyBlock failure.
var ErrBlockVerification = errors.New("block verification failed")

// VerifyBlock checks that b follows the block whose header hash is
// previousHeaderHash (nil skips the check, e.g. for the first block a peer
// sees), that its envelopes are well formed as Fabric requires since its fix
// for CVE-2023-46132 (protos.CheckEnvelopesWellFormed: each re-encodes to
// exactly its bytes, so the data hash stands for one reading of the data),
// that its data hash matches its envelopes and that the orderers' signatures
// satisfy the channel's BlockValidation policy in bundle. The genesis block
// (number 0) carries no orderer signature: it is trusted as the channel's
// origin and only its envelopes and hashes are checked.
func VerifyBlock(b *cb.Block, previousHeaderHash []byte, bundle *Bundle) error {
	if b == nil || b.Header == nil {
		return fmt.Errorf("%w: block has no header", ErrBlockVerification)
	}
	n := b.Header.Number
	if previousHeaderHash != nil && !bytes.Equal(b.Header.PreviousHash, previousHeaderHash) {
		return fmt.Errorf("%w: block %d: previous_hash %x does not match the header hash %x of block %d; the block does not extend this chain",
			ErrBlockVerification, n, b.Header.PreviousHash, previousHeaderHash, n-1)
	}
	if b.Data == nil {
		return fmt.Errorf("%w: block %d has no data", ErrBlockVerification, n)
	}
	if err := protos.CheckEnvelopesWellFormed(b.Data); err != nil {
		return fmt.Errorf("%w: block %d is malformed: %v", ErrBlockVerification, n, err)
	}
	if got := protos.BlockDataHash(b.Data); !bytes.Equal(got, b.Header.DataHash) {
		return fmt.Errorf("%w: block %d: data_hash in header is %x but its %d envelopes hash to %x; the block data was altered",
			ErrBlockVerification, n, b.Header.DataHash, len(b.Data.Data), got)
	}
	if n == 0 {
		return nil
	}
	if bundle == nil {
		return fmt.Errorf("%w: block %d: no channel configuration to check the orderer signatures against", ErrBlockVerification, n)
	}
	md := b.GetMetadata().GetMetadata()
	if int(cb.BlockMetadataIndex_SIGNATURES) >= len(md) || len(md[cb.BlockMetadataIndex_SIGNATURES]) == 0 {
		return fmt.Errorf("%w: block %d has no SIGNATURES metadata", ErrBlockVerification, n)
	}
	sigs := &cb.Metadata{}
	if err := proto.Unmarshal(md[cb.BlockMetadataIndex_SIGNATURES], sigs); err != nil {
		return fmt.Errorf("%w: block %d: decode SIGNATURES metadata: %v", ErrBlockVerification, n, err)
	}
	if len(sigs.Signatures) == 0 {
		return fmt.Errorf("%w: block %d: SIGNATURES metadata holds no signature", ErrBlockVerification, n)
	}
	signed := make([]protos.SignedData, 0, len(sigs.Signatures))
	for i, s := range sigs.Signatures {
		if len(s.SignatureHeader) == 0 {
			return fmt.Errorf("%w: block %d: orderer signature %d has no signature_header (BFT identifier headers are not supported)", ErrBlockVerification, n, i)
		}
		shdr := &cb.SignatureHeader{}
		if err := proto.Unmarshal(s.SignatureHeader, shdr); err != nil {
			return fmt.Errorf("%w: block %d: decode signature_header of orderer signature %d: %v", ErrBlockVerification, n, i, err)
		}
		data := protos.BlockSignatureBytes(sigs.Value, s.SignatureHeader, b.Header)
		signed = append(signed, protos.SignedData{Data: data, Identity: shdr.Creator, Signature: s.Signature})
	}
	pol, err := bundle.Policy(BlockValidationPolicy)
	if err != nil {
		return fmt.Errorf("%w: block %d: channel %s: %v", ErrBlockVerification, n, bundle.ChannelID(), err)
	}
	if err := pol.Evaluate(signed); err != nil {
		return fmt.Errorf("%w: block %d: orderer signatures do not satisfy %s of channel %s: %v",
			ErrBlockVerification, n, BlockValidationPolicy, bundle.ChannelID(), err)
	}
	return nil
}
