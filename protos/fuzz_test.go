package protos

import "testing"

func FuzzUnmarshalEnvelope(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := UnmarshalEnvelope(raw)
		if err == nil {
			if env.ChannelHeader == nil || env.SignatureHeader == nil {
				t.Fatal("parsed envelope without headers")
			}
			if _, err := ParseEndorserTx(env); err == nil && len(env.Payload.Data) == 0 {
				// an empty transaction cannot have exactly one action
				t.Fatal("empty transaction parsed")
			}
		}
	})
}
