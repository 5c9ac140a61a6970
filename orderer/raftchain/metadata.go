package raftchain

import (
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"github.com/weft-ledger/weft/protos"
	"google.golang.org/protobuf/proto"
)

// SignBlock fills b's SIGNATURES metadata as Fabric 2.5's etcdraft orderer
// does: value = OrdererBlockMetadata{LastConfig, ConsenterMetadata =
// Metadata{Value: etcdraft.BlockMetadata}}, one MetadataSignature over
// value ‖ signature_header ‖ ASN.1(header). The LAST_CONFIG slot is left empty,
// as Fabric 2.5 leaves it.
func SignBlock(b *cb.Block, signer protos.Signer, lastConfig uint64, raftMD *etcdraft.BlockMetadata) error {
	protos.EnsureMetadata(b)
	obm := &cb.OrdererBlockMetadata{
		LastConfig:        &cb.LastConfig{Index: lastConfig},
		ConsenterMetadata: protos.Marshal(&cb.Metadata{Value: protos.Marshal(raftMD)}),
	}
	value := protos.Marshal(obm)
	shdr, err := protos.NewSignatureHeader(signer)
	if err != nil {
		return fmt.Errorf("sign block %d: %w", b.Header.Number, err)
	}
	shdrBytes := protos.Marshal(shdr)
	sig, err := signer.Sign(protos.BlockSignatureBytes(value, shdrBytes, b.Header))
	if err != nil {
		return fmt.Errorf("sign block %d: %w", b.Header.Number, err)
	}
	b.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES] = protos.Marshal(&cb.Metadata{
		Value:      value,
		Signatures: []*cb.MetadataSignature{{SignatureHeader: shdrBytes, Signature: sig}},
	})
	return nil
}

// BlockMetadata decodes the OrdererBlockMetadata of a block's SIGNATURES slot
// and the etcdraft.BlockMetadata inside it (nil when the block has none, as a
// configtxgen genesis block).
func BlockMetadata(b *cb.Block) (*cb.OrdererBlockMetadata, *etcdraft.BlockMetadata, error) {
	md := b.GetMetadata().GetMetadata()
	if len(md) <= int(cb.BlockMetadataIndex_SIGNATURES) || len(md[cb.BlockMetadataIndex_SIGNATURES]) == 0 {
		return &cb.OrdererBlockMetadata{LastConfig: &cb.LastConfig{}}, nil, nil
	}
	m := &cb.Metadata{}
	if err := proto.Unmarshal(md[cb.BlockMetadataIndex_SIGNATURES], m); err != nil {
		return nil, nil, fmt.Errorf("decode SIGNATURES metadata of block %d: %w", b.GetHeader().GetNumber(), err)
	}
	obm := &cb.OrdererBlockMetadata{}
	if err := proto.Unmarshal(m.Value, obm); err != nil {
		return nil, nil, fmt.Errorf("decode OrdererBlockMetadata of block %d: %w", b.GetHeader().GetNumber(), err)
	}
	if len(obm.ConsenterMetadata) == 0 {
		return obm, nil, nil
	}
	inner := &cb.Metadata{}
	if err := proto.Unmarshal(obm.ConsenterMetadata, inner); err != nil {
		return nil, nil, fmt.Errorf("decode consenter metadata of block %d: %w", b.GetHeader().GetNumber(), err)
	}
	rmd := &etcdraft.BlockMetadata{}
	if err := proto.Unmarshal(inner.Value, rmd); err != nil {
		return nil, nil, fmt.Errorf("decode etcdraft.BlockMetadata of block %d: %w", b.GetHeader().GetNumber(), err)
	}
	return obm, rmd, nil
}
