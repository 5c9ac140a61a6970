package peer

import ("testing"; "github.com/weft-ledger/weft/protos")

func TestZZ(t *testing.T) {
	b := fixtureBlock(t, 0)
	t.Logf("filter %v", protos.TxFilter(b))
	env, err := protos.UnmarshalEnvelope(b.Data.Data[0])
	t.Logf("%v %v", env != nil, err)
	if env != nil { t.Log(env.ChannelHeader.Type) }
}
