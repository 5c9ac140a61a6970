package message_test

import (
	"errors"
	"testing"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/message"
)

// FuzzDecode feeds Decode arbitrary payloads: it must not panic, what it
// accepts must pass the tag and field rules, and it must re-encode to bytes
// that decode to an equal message.
func FuzzDecode(f *testing.F) {
	for _, m := range samples() {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Private data as peers send it: an empty response (nothing to serve),
	// a request of many digests, and the messages cut short.
	for _, m := range []*gp.GossipMessage{
		{Tag: gp.GossipMessage_CHAN_ONLY, Channel: []byte("mychannel"), Nonce: 1, Content: &gp.GossipMessage_PrivateRes{PrivateRes: &gp.RemotePvtDataResponse{}}},
		{Tag: gp.GossipMessage_CHAN_ONLY, Channel: []byte("mychannel"), Nonce: 2, Content: &gp.GossipMessage_PrivateReq{PrivateReq: &gp.RemotePvtDataRequest{Digests: []*gp.PvtDataDigest{
			{Namespace: "cc", Collection: "a", BlockSeq: 1}, {Namespace: "cc", Collection: "b", BlockSeq: 1, SeqInBlock: 2}, {TxId: "t", Namespace: "dd", Collection: "a", BlockSeq: 9},
		}}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := message.Decode(&gp.Envelope{Payload: payload})
		if err != nil {
			if !errors.Is(err, message.ErrInvalid) {
				t.Fatalf("Decode error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := message.CheckTag(m); err != nil {
			t.Fatalf("accepted message breaks the tag rules: %v", err)
		}
		if err := message.CheckFields(m); err != nil {
			t.Fatalf("accepted message lacks fields: %v", err)
		}
		again, err := proto.Marshal(m)
		if err != nil {
			t.Fatalf("accepted message does not marshal: %v", err)
		}
		m2, err := message.Decode(&gp.Envelope{Payload: again})
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !proto.Equal(m, m2) {
			t.Fatalf("re-encoded message decodes to %v, want %v", m2, m)
		}
	})
}
