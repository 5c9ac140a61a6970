package protos

import (
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"math/big"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"
)

type asn1Header struct {
	Number       *big.Int
	PreviousHash []byte
	DataHash     []byte
}

// BlockHeaderBytes returns the DER encoding of a block header that Fabric hashes and
// signs: SEQUENCE{INTEGER number, OCTET STRING previous_hash, OCTET STRING data_hash}.
func BlockHeaderBytes(h *cb.BlockHeader) []byte {
	b, err := asn1.Marshal(asn1Header{
		Number:       new(big.Int).SetUint64(h.GetNumber()),
		PreviousHash: h.GetPreviousHash(),
		DataHash:     h.GetDataHash(),
	})
	if err != nil {
		// Marshalling a big.Int and two byte slices cannot fail.
		panic(fmt.Sprintf("asn1 encode block header: %v", err))
	}
	return b
}

// BlockHeaderHash returns SHA-256 of BlockHeaderBytes: the value the next block
// carries as previous_hash.
func BlockHeaderHash(h *cb.BlockHeader) []byte {
	sum := sha256.Sum256(BlockHeaderBytes(h))
	return sum[:]
}

// BlockDataHash returns SHA-256 over the concatenated envelope bytes of a block.
func BlockDataHash(d *cb.BlockData) []byte {
	h := sha256.New()
	for _, e := range d.GetData() {
		h.Write(e)
	}
	return h.Sum(nil)
}

// NewBlock builds an unsigned block with the given number, previous hash and
// envelopes, its data hash computed and its metadata slots allocated.
func NewBlock(number uint64, previousHash []byte, envelopes [][]byte) *cb.Block {
	data := &cb.BlockData{Data: envelopes}
	return &cb.Block{
		Header: &cb.BlockHeader{
			Number:       number,
			PreviousHash: previousHash,
			DataHash:     BlockDataHash(data),
		},
		Data:     data,
		Metadata: &cb.BlockMetadata{Metadata: make([][]byte, len(cb.BlockMetadataIndex_name))},
	}
}

// EnsureMetadata makes sure every metadata slot Fabric defines exists on b.
func EnsureMetadata(b *cb.Block) {
	if b.Metadata == nil {
		b.Metadata = &cb.BlockMetadata{}
	}
	for len(b.Metadata.Metadata) < len(cb.BlockMetadataIndex_name) {
		b.Metadata.Metadata = append(b.Metadata.Metadata, nil)
	}
}

// TxFilter returns a copy of the TRANSACTIONS_FILTER metadata of b: one
// pb.TxValidationCode per envelope. A missing filter yields a slice of zeros (VALID)
// of the right length.
func TxFilter(b *cb.Block) []byte {
	n := len(b.GetData().GetData())
	md := b.GetMetadata().GetMetadata()
	out := make([]byte, n)
	if int(cb.BlockMetadataIndex_TRANSACTIONS_FILTER) < len(md) {
		copy(out, md[cb.BlockMetadataIndex_TRANSACTIONS_FILTER])
	}
	return out
}

// SetTxFilter stores flags as b's TRANSACTIONS_FILTER metadata.
func SetTxFilter(b *cb.Block, flags []byte) {
	EnsureMetadata(b)
	b.Metadata.Metadata[cb.BlockMetadataIndex_TRANSACTIONS_FILTER] = flags
}

// UnmarshalBlock decodes a block and checks the fields every consumer relies on.
func UnmarshalBlock(raw []byte) (*cb.Block, error) {
	b := &cb.Block{}
	if err := proto.Unmarshal(raw, b); err != nil {
		return nil, fmt.Errorf("decode common.Block: %w", err)
	}
	if b.Header == nil {
		return nil, fmt.Errorf("block has no header")
	}
	if b.Data == nil {
		return nil, fmt.Errorf("block %d has no data", b.Header.Number)
	}
	EnsureMetadata(b)
	return b, nil
}

// Marshal encodes m, panicking only if protobuf refuses a message we built
// ourselves, which is a programming error.
func Marshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", m, err))
	}
	return b
}

// BlockSignatureBytes returns what an orderer signs for a block:
// metadata value ‖ signature header ‖ BlockHeaderBytes(header).
func BlockSignatureBytes(metadataValue, signatureHeader []byte, header *cb.BlockHeader) []byte {
	hb := BlockHeaderBytes(header)
	out := make([]byte, 0, len(metadataValue)+len(signatureHeader)+len(hb))
	out = append(out, metadataValue...)
	out = append(out, signatureHeader...)
	return append(out, hb...)
}
