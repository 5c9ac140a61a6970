package blockjson

import (
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// metadata reads the last config index and the orderer signatures. Fabric
// v2 keeps the last config inside the SIGNATURES value (OrdererBlockMetadata);
// the older LAST_CONFIG slot is read when that is absent.
func (d *decoder) metadata(md [][]byte) (MetadataJSON, *fieldErr) {
	m := MetadataJSON{Signatures: []SignerJSON{}}
	haveLastConfig := false
	if i := int(cb.BlockMetadataIndex_SIGNATURES); i < len(md) && len(md[i]) > 0 {
		const f = "metadata.metadata[SIGNATURES]"
		meta := &cb.Metadata{}
		if fe := unmarshal(f, md[i], meta); fe != nil {
			return m, fe
		}
		if len(meta.Value) > 0 {
			obm := &cb.OrdererBlockMetadata{}
			if fe := unmarshal(f+".value", meta.Value, obm); fe != nil {
				return m, fe
			}
			if obm.LastConfig != nil {
				m.LastConfig, haveLastConfig = obm.LastConfig.Index, true
			}
		}
		for j, s := range meta.Signatures {
			fs := fmt.Sprintf("%s.signatures[%d]", f, j)
			switch {
			case len(s.SignatureHeader) > 0:
				sh := &cb.SignatureHeader{}
				if fe := unmarshal(fs+".signature_header", s.SignatureHeader, sh); fe != nil {
					return m, fe
				}
				id, fe := d.identity(fs+".signature_header.creator", sh.Creator)
				if fe != nil {
					return m, fe
				}
				m.Signatures = append(m.Signatures, SignerJSON{IdentityJSON: *id})
			case len(s.IdentifierHeader) > 0:
				ih := &cb.IdentifierHeader{}
				if fe := unmarshal(fs+".identifier_header", s.IdentifierHeader, ih); fe != nil {
					return m, fe
				}
				m.Signatures = append(m.Signatures, SignerJSON{ConsenterID: ih.Identifier})
			default:
				return m, missing(fs, "signature names no signer (neither signature_header nor identifier_header)")
			}
		}
	}
	if i := int(cb.BlockMetadataIndex_LAST_CONFIG); !haveLastConfig && i < len(md) && len(md[i]) > 0 {
		const f = "metadata.metadata[LAST_CONFIG]"
		meta := &cb.Metadata{}
		if fe := unmarshal(f, md[i], meta); fe != nil {
			return m, fe
		}
		lc := &cb.LastConfig{}
		if fe := unmarshal(f+".value", meta.Value, lc); fe != nil {
			return m, fe
		}
		m.LastConfig = lc.Index
	}
	return m, nil
}
