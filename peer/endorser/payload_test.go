package endorser

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// checkSamePayload fails unless encodeResponsePayload writes exactly the
// bytes marshalResponsePayload does, or declines where marshalling fails.
func checkSamePayload(t *testing.T, hash []byte, ccName, version string, pub *rwset.TxReadWriteSet, resp *pb.Response, event *pb.ChaincodeEvent) {
	t.Helper()
	want, wantErr := marshalResponsePayload(hash, ccName, version, pub, resp, event)
	got, ok := encodeResponsePayload(hash, ccName, version, pub, resp, event, 7)
	if wantErr != nil {
		if ok {
			t.Fatalf("encoded a payload that marshalling refuses (%v)", wantErr)
		}
		return
	}
	if !ok {
		t.Fatalf("declined a payload that marshals (%d bytes)", len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded payload differs from the marshalled one:\n got %x\nwant %x", got, want)
	}
	if cap(got)-len(got) < 7 {
		t.Fatalf("spare capacity %d, want at least 7", cap(got)-len(got))
	}
}

func TestEncodeResponsePayloadMatchesMarshal(t *testing.T) {
	hash := bytes.Repeat([]byte{0xab}, 32)
	big := bytes.Repeat([]byte("x"), 20000) // lengths of three varint bytes
	pub := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{
		{Namespace: "_lifecycle", Rwset: []byte{1, 2, 3}},
		{Namespace: "basic", Rwset: big},
	}}
	cases := []struct {
		name         string
		hash         []byte
		ccName, vers string
		pub          *rwset.TxReadWriteSet
		resp         *pb.Response
		event        *pb.ChaincodeEvent
	}{
		{"typical", hash, "basic", "1.0", pub, &pb.Response{Status: 200, Payload: []byte("ok")}, nil},
		{"empty everything", nil, "", "", &rwset.TxReadWriteSet{}, &pb.Response{}, nil},
		{"nil read/write set and response", hash, "basic", "1.0", nil, nil, nil},
		{"empty event", hash, "basic", "1.0", pub, &pb.Response{Status: 200}, &pb.ChaincodeEvent{}},
		{"event", hash, "basic", "syscc", pub, &pb.Response{Status: 500, Message: "boom"},
			&pb.ChaincodeEvent{ChaincodeId: "basic", TxId: "tx", EventName: "e", Payload: big}},
		{"large response", hash, strings.Repeat("n", 200), strings.Repeat("v", 130), pub, &pb.Response{Status: 200, Payload: big}, nil},
		{"invalid UTF-8 name", hash, "bad\xff", "1.0", pub, &pb.Response{Status: 200}, nil},
		{"invalid UTF-8 response message", hash, "basic", "1.0", pub, &pb.Response{Status: 200, Message: "bad\xff"}, nil},
		{"invalid UTF-8 namespace", hash, "basic", "1.0", &rwset.TxReadWriteSet{NsRwset: []*rwset.NsReadWriteSet{{Namespace: "\xff"}}}, &pb.Response{}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkSamePayload(t, c.hash, c.ccName, c.vers, c.pub, c.resp, c.event)
		})
	}
}

// The error of a payload that cannot be marshalled is the one marshalling
// gives.
func TestResponsePayloadErrorUnchanged(t *testing.T) {
	_, want := marshalResponsePayload(nil, "basic", "1.0", &rwset.TxReadWriteSet{}, &pb.Response{Message: "bad\xff"}, nil)
	if want == nil {
		t.Fatal("marshalling accepted invalid UTF-8")
	}
	if _, ok := encodeResponsePayload(nil, "basic", "1.0", &rwset.TxReadWriteSet{}, &pb.Response{Message: "bad\xff"}, nil, 0); ok {
		t.Fatal("encoded a response with invalid UTF-8")
	}
	if !strings.HasPrefix(want.Error(), "marshal chaincode action: ") {
		t.Fatalf("error %q does not name the chaincode action", want)
	}
}

func FuzzEncodeResponsePayload(f *testing.F) {
	f.Add([]byte{1, 2}, "basic", "1.0", int32(200), "", []byte("ok"), "basic", []byte{1}, true, "e", []byte("p"))
	f.Add([]byte(nil), "", "", int32(0), "\xff", []byte(nil), "", []byte(nil), false, "", []byte(nil))
	f.Fuzz(func(t *testing.T, hash []byte, ccName, version string, status int32, message string, payload []byte,
		ns string, rw []byte, withEvent bool, eventName string, eventPayload []byte) {
		pub := &rwset.TxReadWriteSet{NsRwset: []*rwset.NsReadWriteSet{{Namespace: ns, Rwset: rw}}}
		var event *pb.ChaincodeEvent
		if withEvent {
			event = &pb.ChaincodeEvent{EventName: eventName, Payload: eventPayload}
		}
		checkSamePayload(t, hash, ccName, version, pub, &pb.Response{Status: status, Message: message, Payload: payload}, event)
	})
}

// BenchmarkResponsePayload compares writing the proposal response payload
// in one buffer with marshalling it level by level, for a read/write set of
// about the size a transfer has.
func BenchmarkResponsePayload(b *testing.B) {
	hash := bytes.Repeat([]byte{0xab}, 32)
	pub := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{
		{Namespace: "_lifecycle", Rwset: bytes.Repeat([]byte{1}, 60)},
		{Namespace: "basic", Rwset: bytes.Repeat([]byte{2}, 300)},
	}}
	resp := &pb.Response{Status: 200, Payload: []byte("ok")}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := encodeResponsePayload(hash, "basic", "1.0", pub, resp, nil, 800); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshalResponsePayload(hash, "basic", "1.0", pub, resp, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
