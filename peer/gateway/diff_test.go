package gateway

import (
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
)

func endorsementOf(kv *kvrwset.KVRWSet, resp *pb.Response) *pb.ProposalResponse {
	act := &pb.ChaincodeAction{
		ChaincodeId: &pb.ChaincodeID{Name: "cc", Version: "1"},
		Response:    resp,
		Results: protos.Marshal(&rwset.TxReadWriteSet{NsRwset: []*rwset.NsReadWriteSet{
			{Namespace: "cc", Rwset: protos.Marshal(kv)},
		}}),
	}
	return &pb.ProposalResponse{Payload: protos.Marshal(&pb.ProposalResponsePayload{Extension: protos.Marshal(act)})}
}

func TestFirstDifference(t *testing.T) {
	ok := &pb.Response{Status: 200}
	read := func(k string, blk uint64) *kvrwset.KVRead {
		return &kvrwset.KVRead{Key: k, Version: &kvrwset.Version{BlockNum: blk}}
	}
	cases := []struct {
		name string
		a, b *pb.ProposalResponse
		want []string
	}{
		{
			"value", endorsementOf(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("x")}}}, ok),
			endorsementOf(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte{0, 1}}}}, ok),
			[]string{`key "b"`, `P1 wrote "x"`, `P2 wrote 0x0001`},
		},
		{
			"missing write", endorsementOf(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "a", Value: []byte("1")}}}, ok),
			endorsementOf(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "a", Value: []byte("1")}, {Key: "c", IsDelete: true}}}, ok),
			[]string{`key "c"`, "P1 wrote nothing", "P2 wrote a delete"},
		},
		{
			"read version", endorsementOf(&kvrwset.KVRWSet{Reads: []*kvrwset.KVRead{read("k", 3)}}, ok),
			endorsementOf(&kvrwset.KVRWSet{Reads: []*kvrwset.KVRead{read("k", 5)}}, ok),
			[]string{"first differing read", `key "k"`, "version 3:0", "version 5:0"},
		},
		{
			"response", endorsementOf(&kvrwset.KVRWSet{}, &pb.Response{Status: 200, Payload: []byte("t1")}),
			endorsementOf(&kvrwset.KVRWSet{}, &pb.Response{Status: 200, Payload: []byte("t2")}),
			[]string{"responses differ", `"t1"`, `"t2"`},
		},
		{
			"undecodable", &pb.ProposalResponse{Payload: []byte{0xff}}, endorsementOf(&kvrwset.KVRWSet{}, ok),
			[]string{"response of P1 cannot be decoded"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := firstDifference("P1", c.a, "P2", c.b)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
		})
	}
}

func TestShowValueCutsLongValues(t *testing.T) {
	got := showValue([]byte(strings.Repeat("v", 100)))
	if !strings.HasSuffix(got, "… (100 bytes)") || strings.Count(got, "v") != maxShownValue {
		t.Fatalf("showValue: %s", got)
	}
}
