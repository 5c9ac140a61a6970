package client

import (
	"bytes"
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// ComputeUpdate returns the ConfigUpdate that turns original into updated on
// channel, as `configtxlator compute_update` computes it: a changed value or
// policy is written at its version+1, a new one at version 0; a group whose
// mod_policy or set of members changes is written at version+1 with all its
// members (the unchanged ones read and written at their versions, so that
// omitted members are deleted); a group with only changed descendants is read
// and written at its version. It fails when the configs do not differ.
func ComputeUpdate(channel string, original, updated *cb.Config) (*cb.ConfigUpdate, error) {
	if original.GetChannelGroup() == nil {
		return nil, fmt.Errorf("compute config update: the original config has no channel group")
	}
	if updated.GetChannelGroup() == nil {
		return nil, fmt.Errorf("compute config update: the updated config has no channel group")
	}
	read, write, changed := groupUpdate(original.ChannelGroup, updated.ChannelGroup)
	if !changed {
		return nil, fmt.Errorf("compute config update: no differences between the original and the updated config of channel %s", channel)
	}
	return &cb.ConfigUpdate{ChannelId: channel, ReadSet: read, WriteSet: write}, nil
}

// groupUpdate compares two versions of a group; changed is false when they
// are the same.
func groupUpdate(orig, upd *cb.ConfigGroup) (read, write *cb.ConfigGroup, changed bool) {
	rp, wp, sp, pMembers := policiesUpdate(orig.GetPolicies(), upd.GetPolicies())
	wv, sv, vMembers := valuesUpdate(orig.GetValues(), upd.GetValues())
	rg, wg, sg, gMembers := groupsUpdate(orig.GetGroups(), upd.GetGroups())

	if !pMembers && !vMembers && !gMembers && orig.GetModPolicy() == upd.GetModPolicy() {
		if len(rp)+len(wp)+len(wv)+len(rg)+len(wg) == 0 {
			return &cb.ConfigGroup{Version: orig.GetVersion()}, &cb.ConfigGroup{Version: orig.GetVersion()}, false
		}
		// Only members changed: the group itself keeps its version.
		return &cb.ConfigGroup{Version: orig.GetVersion(), Policies: rp, Values: map[string]*cb.ConfigValue{}, Groups: rg},
			&cb.ConfigGroup{Version: orig.GetVersion(), Policies: wp, Values: wv, Groups: wg}, true
	}
	// The group changes: list every member so the result has exactly them.
	rv := map[string]*cb.ConfigValue{}
	for k, v := range sp {
		rp[k], wp[k] = v, v
	}
	for k, v := range sv {
		rv[k], wv[k] = v, v
	}
	for k, v := range sg {
		rg[k], wg[k] = v, v
	}
	return &cb.ConfigGroup{Version: orig.GetVersion(), Policies: rp, Values: rv, Groups: rg},
		&cb.ConfigGroup{Version: orig.GetVersion() + 1, Policies: wp, Values: wv, Groups: wg, ModPolicy: upd.GetModPolicy()}, true
}

// policiesUpdate returns the read set (always empty: a changed policy's
// version says what it read), write set and unchanged members of a policy
// map, and whether members were added or removed.
func policiesUpdate(orig, upd map[string]*cb.ConfigPolicy) (read, write, same map[string]*cb.ConfigPolicy, members bool) {
	read, write, same = map[string]*cb.ConfigPolicy{}, map[string]*cb.ConfigPolicy{}, map[string]*cb.ConfigPolicy{}
	for name, o := range orig {
		u, ok := upd[name]
		if !ok {
			members = true
			continue
		}
		if o.GetModPolicy() == u.GetModPolicy() && proto.Equal(o.GetPolicy(), u.GetPolicy()) {
			same[name] = &cb.ConfigPolicy{Version: o.GetVersion()}
			continue
		}
		write[name] = &cb.ConfigPolicy{Version: o.GetVersion() + 1, ModPolicy: u.GetModPolicy(), Policy: u.GetPolicy()}
	}
	for name, u := range upd {
		if _, ok := orig[name]; !ok {
			members = true
			write[name] = &cb.ConfigPolicy{ModPolicy: u.GetModPolicy(), Policy: u.GetPolicy()}
		}
	}
	return read, write, same, members
}

// valuesUpdate is policiesUpdate for values (whose read set is empty too).
func valuesUpdate(orig, upd map[string]*cb.ConfigValue) (write, same map[string]*cb.ConfigValue, members bool) {
	write, same = map[string]*cb.ConfigValue{}, map[string]*cb.ConfigValue{}
	for name, o := range orig {
		u, ok := upd[name]
		if !ok {
			members = true
			continue
		}
		if o.GetModPolicy() == u.GetModPolicy() && bytes.Equal(o.GetValue(), u.GetValue()) {
			same[name] = &cb.ConfigValue{Version: o.GetVersion()}
			continue
		}
		write[name] = &cb.ConfigValue{Version: o.GetVersion() + 1, ModPolicy: u.GetModPolicy(), Value: u.GetValue()}
	}
	for name, u := range upd {
		if _, ok := orig[name]; !ok {
			members = true
			write[name] = &cb.ConfigValue{ModPolicy: u.GetModPolicy(), Value: u.GetValue()}
		}
	}
	return write, same, members
}

func groupsUpdate(orig, upd map[string]*cb.ConfigGroup) (read, write, same map[string]*cb.ConfigGroup, members bool) {
	read, write, same = map[string]*cb.ConfigGroup{}, map[string]*cb.ConfigGroup{}, map[string]*cb.ConfigGroup{}
	for name, o := range orig {
		u, ok := upd[name]
		if !ok {
			members = true
			continue
		}
		r, w, changed := groupUpdate(o, u)
		if !changed {
			same[name] = r
			continue
		}
		read[name], write[name] = r, w
	}
	for name, u := range upd {
		if _, ok := orig[name]; ok {
			continue
		}
		members = true
		// A new group is written whole, every element at version 0.
		_, w, _ := groupUpdate(&cb.ConfigGroup{}, u)
		write[name] = &cb.ConfigGroup{ModPolicy: u.GetModPolicy(), Policies: w.Policies, Values: w.Values, Groups: w.Groups}
	}
	return read, write, same, members
}

// SignConfigUpdate marshals update and signs it by each signer, as
// `peer channel signconfigtx` does: each signature covers a fresh signature
// header (creator and nonce) followed by the marshalled ConfigUpdate.
func SignConfigUpdate(update *cb.ConfigUpdate, signers ...protos.Signer) (*cb.ConfigUpdateEnvelope, error) {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(update)
	if err != nil {
		return nil, fmt.Errorf("marshal config update: %w", err)
	}
	cue := &cb.ConfigUpdateEnvelope{ConfigUpdate: raw}
	if err := AddConfigSignatures(cue, signers...); err != nil {
		return nil, err
	}
	return cue, nil
}

// AddConfigSignatures adds the signatures of signers to cue, for updates that
// several organizations' admins sign in turn.
func AddConfigSignatures(cue *cb.ConfigUpdateEnvelope, signers ...protos.Signer) error {
	for i, s := range signers {
		shdr, err := protos.NewSignatureHeader(s)
		if err != nil {
			return fmt.Errorf("config update signer %d: %w", i, err)
		}
		sh := protos.Marshal(shdr)
		msg := make([]byte, 0, len(sh)+len(cue.ConfigUpdate))
		sig, err := s.Sign(append(append(msg, sh...), cue.ConfigUpdate...))
		if err != nil {
			return fmt.Errorf("config update signer %d: sign: %w", i, err)
		}
		cue.Signatures = append(cue.Signatures, &cb.ConfigSignature{SignatureHeader: sh, Signature: sig})
	}
	return nil
}

// ConfigUpdateTx wraps a signed ConfigUpdateEnvelope into the CONFIG_UPDATE
// envelope broadcast to an orderer, created and signed by creator.
func ConfigUpdateTx(channel string, cue *cb.ConfigUpdateEnvelope, creator protos.Signer) (*cb.Envelope, error) {
	env, err := protos.NewSignedEnvelope(cb.HeaderType_CONFIG_UPDATE, channel, creator, cue)
	if err != nil {
		return nil, fmt.Errorf("channel %s: CONFIG_UPDATE envelope: %w", channel, err)
	}
	return env, nil
}

// NewConfigUpdateTx signs update by every signer and wraps it into a
// CONFIG_UPDATE envelope created by the first.
func NewConfigUpdateTx(channel string, update *cb.ConfigUpdate, signers ...protos.Signer) (*cb.Envelope, error) {
	if len(signers) == 0 {
		return nil, fmt.Errorf("channel %s: a config update needs at least one signer", channel)
	}
	if update.GetChannelId() != channel {
		return nil, fmt.Errorf("config update is for channel %q, not %s", update.GetChannelId(), channel)
	}
	cue, err := SignConfigUpdate(update, signers...)
	if err != nil {
		return nil, err
	}
	return ConfigUpdateTx(channel, cue, signers[0])
}
