package lifecycle

import (
	"testing"

	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// checkInt64Field fails t unless int64Field reads raw as decoding a
// StateData does, or declines it.
func checkInt64Field(t *testing.T, raw []byte) {
	t.Helper()
	v, ok := int64Field(raw)
	if !ok {
		return
	}
	d := &lb.StateData{}
	if err := proto.Unmarshal(raw, d); err != nil {
		t.Fatalf("int64Field read %x as %d, but it does not decode: %v", raw, v, err)
	}
	switch typ := d.Type.(type) {
	case nil:
		if v != 0 {
			t.Fatalf("int64Field read %x as %d, it holds nothing", raw, v)
		}
	case *lb.StateData_Int64:
		if v != typ.Int64 {
			t.Fatalf("int64Field read %x as %d, it holds %d", raw, v, typ.Int64)
		}
	default:
		t.Fatalf("int64Field read %x as %d, it holds %T", raw, v, d.Type)
	}
}

func TestInt64FieldAgreesWithDecoding(t *testing.T) {
	for _, v := range []int64{0, 1, 3, 127, 128, 1 << 40, -1, -1 << 63} {
		raw := protos.Marshal(&lb.StateData{Type: &lb.StateData_Int64{Int64: v}})
		got, ok := int64Field(raw)
		if !ok || got != v {
			t.Fatalf("int64Field of %d: %d, %v", v, got, ok)
		}
	}
	for _, raw := range [][]byte{nil, {0x08, 0x03, 0x08, 0x05}, {0x08}, {0x08, 0x80}, {0x1a, 0x01, 'x'}, {0x12, 0x00}, {0x08, 0x81, 0x00}} {
		checkInt64Field(t, raw)
	}
	if _, ok := int64Field([]byte{0x1a, 0x01, 'x'}); ok {
		t.Fatal("int64Field read a String")
	}
}

// FuzzInt64Field checks that whatever int64Field reads, decoding the
// StateData reads the same.
func FuzzInt64Field(f *testing.F) {
	f.Add(protos.Marshal(&lb.StateData{Type: &lb.StateData_Int64{Int64: 3}}))
	f.Add(protos.Marshal(&lb.StateData{Type: &lb.StateData_String_{String_: "x"}}))
	f.Add([]byte{0x08, 0x01, 0x08, 0x02})
	f.Fuzz(func(t *testing.T, raw []byte) { checkInt64Field(t, raw) })
}

// BenchmarkReadSequence measures reading a committed chaincode sequence,
// which every endorsement of user chaincode does, from a state that answers
// at once.
func BenchmarkReadSequence(b *testing.B) {
	st := mapState{Namespace + "\x00" + SequenceKey("basic"): protos.Marshal(&lb.StateData{Type: &lb.StateData_Int64{Int64: 3}})}
	b.ReportAllocs()
	for b.Loop() {
		if seq, err := ReadSequence(st, "basic"); err != nil || seq != 3 {
			b.Fatalf("sequence %d, %v", seq, err)
		}
	}
}
