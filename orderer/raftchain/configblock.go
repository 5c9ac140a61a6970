package raftchain

import (
	"errors"
	"fmt"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/orderer/blockcutter"
)

// This file reads what the chain needs from CONFIG envelopes and config
// blocks, without building the channel's MSPs: pure functions.

// isConfigEnvelope reports whether env is a CONFIG transaction; such an
// envelope gets a block of its own. It runs for every envelope on the
// leader, so it reads the header type in place instead of decoding
// (Envelope.payload → Payload.header → Header.channel_header → ChannelHeader.type).
func isConfigEnvelope(env []byte) bool {
	b := env
	for _, field := range []protowire.Number{1, 1, 1} {
		var ok bool
		if b, ok = lastBytesField(b, field); !ok {
			return false
		}
	}
	typ, ok := lastVarintField(b, 1)
	return ok && cb.HeaderType(int32(typ)) == cb.HeaderType_CONFIG
}

// lastBytesField returns the last occurrence of length-delimited field num
// of a marshalled message (the one a decoder keeps).
func lastBytesField(b []byte, num protowire.Number) (out []byte, found bool) {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return nil, false
			}
			out, found = v, true
			b = b[l:]
			continue
		}
		if l = protowire.ConsumeFieldValue(n, typ, b); l < 0 {
			return nil, false
		}
		b = b[l:]
	}
	return out, found
}

func lastVarintField(b []byte, num protowire.Number) (out uint64, found bool) {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return 0, false
		}
		b = b[l:]
		if n == num && typ == protowire.VarintType {
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return 0, false
			}
			out, found = v, true
			b = b[l:]
			continue
		}
		if l = protowire.ConsumeFieldValue(n, typ, b); l < 0 {
			return 0, false
		}
		b = b[l:]
	}
	return out, found
}

// isConfigBlock reports whether b holds a single CONFIG envelope.
func isConfigBlock(b *cb.Block) bool {
	d := b.GetData().GetData()
	return len(d) == 1 && isConfigEnvelope(d[0])
}

// ConsentersOfConfigBlock decodes the etcdraft consenter set of a config
// block (Channel/Orderer/ConsensusType metadata). It decodes only that value,
// so it works without building the channel's MSPs.
func ConsentersOfConfigBlock(b *cb.Block) ([]*etcdraft.Consenter, error) {
	num := b.GetHeader().GetNumber()
	if len(b.GetData().GetData()) == 0 {
		return nil, fmt.Errorf("block %d has no data, not a config block", num)
	}
	env := &cb.Envelope{}
	if err := proto.Unmarshal(b.Data.Data[0], env); err != nil {
		return nil, fmt.Errorf("block %d: decode envelope: %w", num, err)
	}
	payload := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		return nil, fmt.Errorf("block %d: decode payload: %w", num, err)
	}
	ce := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(payload.Data, ce); err != nil {
		return nil, fmt.Errorf("block %d: decode config envelope: %w", num, err)
	}
	og := ce.GetConfig().GetChannelGroup().GetGroups()["Orderer"]
	if og == nil {
		return nil, fmt.Errorf("block %d: config has no Channel/Orderer group", num)
	}
	v := og.GetValues()["ConsensusType"]
	if v == nil {
		return nil, fmt.Errorf("block %d: config has no Channel/Orderer/ConsensusType value", num)
	}
	ct := &ab.ConsensusType{}
	if err := proto.Unmarshal(v.Value, ct); err != nil {
		return nil, fmt.Errorf("block %d: decode Channel/Orderer/ConsensusType: %w", num, err)
	}
	if ct.Type != "etcdraft" {
		return nil, fmt.Errorf("block %d: consensus type %q is not etcdraft", num, ct.Type)
	}
	md := &etcdraft.ConfigMetadata{}
	if err := proto.Unmarshal(ct.Metadata, md); err != nil {
		return nil, fmt.Errorf("block %d: decode etcdraft.ConfigMetadata: %w", num, err)
	}
	return md.Consenters, nil
}

// configSequence reads Config.Sequence from a CONFIG envelope.
func configSequence(env []byte) (uint64, error) {
	e := &cb.Envelope{}
	if err := proto.Unmarshal(env, e); err != nil {
		return 0, fmt.Errorf("decode config envelope: %w", err)
	}
	pl := &cb.Payload{}
	if err := proto.Unmarshal(e.Payload, pl); err != nil {
		return 0, fmt.Errorf("decode config envelope payload: %w", err)
	}
	ce := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(pl.Data, ce); err != nil {
		return 0, fmt.Errorf("decode common.ConfigEnvelope: %w", err)
	}
	if ce.Config == nil {
		return 0, errors.New("config envelope carries no config")
	}
	return ce.Config.Sequence, nil
}

// batchConfigOfConfigBlock reads Orderer/BatchSize and Orderer/BatchTimeout.
func batchConfigOfConfigBlock(b *cb.Block) (blockcutter.Config, error) {
	var bc blockcutter.Config
	if len(b.GetData().GetData()) != 1 {
		return bc, errors.New("not a config block")
	}
	env := &cb.Envelope{}
	if err := proto.Unmarshal(b.Data.Data[0], env); err != nil {
		return bc, err
	}
	pl := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, pl); err != nil {
		return bc, err
	}
	ce := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(pl.Data, ce); err != nil {
		return bc, err
	}
	og := ce.GetConfig().GetChannelGroup().GetGroups()["Orderer"]
	bs, bt := &ab.BatchSize{}, &ab.BatchTimeout{}
	if err := proto.Unmarshal(og.GetValues()["BatchSize"].GetValue(), bs); err != nil {
		return bc, fmt.Errorf("Orderer/BatchSize: %w", err)
	}
	if err := proto.Unmarshal(og.GetValues()["BatchTimeout"].GetValue(), bt); err != nil {
		return bc, fmt.Errorf("Orderer/BatchTimeout: %w", err)
	}
	d, err := time.ParseDuration(bt.Timeout)
	if err != nil {
		return bc, fmt.Errorf("Orderer/BatchTimeout %q: %w", bt.Timeout, err)
	}
	return blockcutter.Config{MaxMessageCount: bs.MaxMessageCount, AbsoluteMaxBytes: bs.AbsoluteMaxBytes, PreferredMaxBytes: bs.PreferredMaxBytes, BatchTimeout: d}, nil
}
