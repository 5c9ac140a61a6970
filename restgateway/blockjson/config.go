package blockjson

import (
	"fmt"
	"sort"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
)

// configSummary reads the sequence and organisations of a CONFIG
// transaction's ConfigEnvelope.
func configSummary(data []byte) (*ConfigJSON, *fieldErr) {
	ce := &cb.ConfigEnvelope{}
	if fe := unmarshal("payload.data", data, ce); fe != nil {
		return nil, fe
	}
	if ce.Config == nil {
		return nil, missing("payload.data.config", "config envelope has no config")
	}
	c := &ConfigJSON{Sequence: ce.Config.Sequence}
	groups := ce.Config.GetChannelGroup().GetGroups()
	var fe *fieldErr
	if c.ApplicationOrgs, fe = orgs("payload.data.config.channel_group.groups[Application]", groups["Application"]); fe != nil {
		return nil, fe
	}
	if c.OrdererOrgs, fe = orgs("payload.data.config.channel_group.groups[Orderer]", groups["Orderer"]); fe != nil {
		return nil, fe
	}
	return c, nil
}

// orgs lists the organisation groups of g (nil for an absent section) in name
// order, with the MSP ID of each FABRIC MSP.
func orgs(field string, g *cb.ConfigGroup) ([]OrgJSON, *fieldErr) {
	out := []OrgJSON{}
	names := make([]string, 0, len(g.GetGroups()))
	for name := range g.GetGroups() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		o := OrgJSON{Name: name}
		if v := g.Groups[name].GetValues()["MSP"]; v != nil {
			f := fmt.Sprintf("%s.groups[%s].values[MSP].value", field, name)
			mc := &mspproto.MSPConfig{}
			if fe := unmarshal(f, v.Value, mc); fe != nil {
				return nil, fe
			}
			if mc.Type == 0 { // FABRIC; idemix MSPs have another config message
				fc := &mspproto.FabricMSPConfig{}
				if fe := unmarshal(f+".config", mc.Config, fc); fe != nil {
					return nil, fe
				}
				o.MSPID = fc.Name
			}
		}
		out = append(out, o)
	}
	return out, nil
}
