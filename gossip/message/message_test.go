package message_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/message"
	"github.com/weft-ledger/weft/internal/testnet"
)

var (
	pki = []byte("0123456789abcdef0123456789abcdef")
	ts  = &gp.PeerTime{IncNum: 1, SeqNum: 2}
	ch  = []byte("mychannel")
)

// samples are well-formed messages of every content, each with the tag
// Fabric sends it with.
func samples() map[string]*gp.GossipMessage {
	alive := &gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_AliveMsg{AliveMsg: &gp.AliveMessage{
		Membership: &gp.Member{Endpoint: "peer0.org1.example.com:7051", PkiId: pki}, Timestamp: ts}}}
	aliveEnv, _ := message.NoopSign(alive)
	pull := func(c func(t gp.PullMsgType) *gp.GossipMessage, t gp.PullMsgType, tag gp.GossipMessage_Tag) *gp.GossipMessage {
		m := c(t)
		m.Tag = tag
		return m
	}
	hello := func(t gp.PullMsgType) *gp.GossipMessage {
		return &gp.GossipMessage{Channel: ch, Content: &gp.GossipMessage_Hello{Hello: &gp.GossipHello{Nonce: 7, MsgType: t}}}
	}
	digest := func(t gp.PullMsgType) *gp.GossipMessage {
		return &gp.GossipMessage{Content: &gp.GossipMessage_DataDig{DataDig: &gp.DataDigest{Nonce: 7, Digests: [][]byte{[]byte("1")}, MsgType: t}}}
	}
	req := func(t gp.PullMsgType) *gp.GossipMessage {
		return &gp.GossipMessage{Content: &gp.GossipMessage_DataReq{DataReq: &gp.DataRequest{Nonce: 7, Digests: [][]byte{[]byte("1")}, MsgType: t}}}
	}
	update := func(t gp.PullMsgType) *gp.GossipMessage {
		return &gp.GossipMessage{Content: &gp.GossipMessage_DataUpdate{DataUpdate: &gp.DataUpdate{Nonce: 7, Data: []*gp.Envelope{aliveEnv}, MsgType: t}}}
	}
	return map[string]*gp.GossipMessage{
		"AliveMsg": alive,
		"MemReq": {Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_MemReq{MemReq: &gp.MembershipRequest{
			SelfInformation: aliveEnv, Known: [][]byte{pki}}}},
		"MemRes": {Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_MemRes{MemRes: &gp.MembershipResponse{
			Alive: []*gp.Envelope{aliveEnv}}}},
		"DataMsg": {Tag: gp.GossipMessage_CHAN_AND_ORG, Channel: ch, Content: &gp.GossipMessage_DataMsg{DataMsg: &gp.DataMessage{
			Payload: &gp.Payload{SeqNum: 5, Data: []byte("block")}}}},
		"Hello/block":      pull(hello, gp.PullMsgType_BLOCK_MSG, gp.GossipMessage_CHAN_AND_ORG),
		"Hello/identity":   pull(hello, gp.PullMsgType_IDENTITY_MSG, gp.GossipMessage_EMPTY),
		"DataDig/block":    pull(digest, gp.PullMsgType_BLOCK_MSG, gp.GossipMessage_CHAN_AND_ORG),
		"DataDig/identity": pull(digest, gp.PullMsgType_IDENTITY_MSG, gp.GossipMessage_EMPTY),
		"DataReq/block":    pull(req, gp.PullMsgType_BLOCK_MSG, gp.GossipMessage_CHAN_AND_ORG),
		"DataReq/identity": pull(req, gp.PullMsgType_IDENTITY_MSG, gp.GossipMessage_EMPTY),
		"DataUpdate/block": pull(update, gp.PullMsgType_BLOCK_MSG, gp.GossipMessage_CHAN_AND_ORG),
		"DataUpdate/ident": pull(update, gp.PullMsgType_IDENTITY_MSG, gp.GossipMessage_EMPTY),
		"Empty":            {Content: &gp.GossipMessage_Empty{Empty: &gp.Empty{}}},
		"Conn":             {Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_Conn{Conn: &gp.ConnEstablish{PkiId: pki, Identity: []byte("id"), TlsCertHash: []byte("h")}}},
		"StateInfo":        {Tag: gp.GossipMessage_CHAN_OR_ORG, Channel: ch, Content: &gp.GossipMessage_StateInfo{StateInfo: &gp.StateInfo{Timestamp: ts, PkiId: pki, Channel_MAC: []byte("mac"), Properties: &gp.Properties{LedgerHeight: 3}}}},
		"StateSnapshot":    {Tag: gp.GossipMessage_CHAN_OR_ORG, Content: &gp.GossipMessage_StateSnapshot{StateSnapshot: &gp.StateInfoSnapshot{Elements: []*gp.Envelope{aliveEnv}}}},
		"StateInfoPullReq": {Tag: gp.GossipMessage_CHAN_OR_ORG, Content: &gp.GossipMessage_StateInfoPullReq{StateInfoPullReq: &gp.StateInfoPullRequest{Channel_MAC: []byte("mac")}}},
		"StateRequest":     {Tag: gp.GossipMessage_CHAN_OR_ORG, Channel: ch, Content: &gp.GossipMessage_StateRequest{StateRequest: &gp.RemoteStateRequest{StartSeqNum: 1, EndSeqNum: 9}}},
		"StateResponse":    {Tag: gp.GossipMessage_CHAN_OR_ORG, Channel: ch, Content: &gp.GossipMessage_StateResponse{StateResponse: &gp.RemoteStateResponse{Payloads: []*gp.Payload{{SeqNum: 1}}}}},
		"LeadershipMsg":    {Tag: gp.GossipMessage_CHAN_AND_ORG, Channel: ch, Content: &gp.GossipMessage_LeadershipMsg{LeadershipMsg: &gp.LeadershipMessage{PkiId: pki, Timestamp: ts, IsDeclaration: true}}},
		"PeerIdentity":     {Tag: gp.GossipMessage_ORG_ONLY, Content: &gp.GossipMessage_PeerIdentity{PeerIdentity: &gp.PeerIdentity{PkiId: pki, Cert: []byte("cert")}}},
		"Ack":              {Nonce: 9, Content: &gp.GossipMessage_Ack{Ack: &gp.Acknowledgement{Error: "no"}}},
		"PrivateReq": {Tag: gp.GossipMessage_CHAN_ONLY, Channel: ch, Nonce: 11, Content: &gp.GossipMessage_PrivateReq{PrivateReq: &gp.RemotePvtDataRequest{Digests: []*gp.PvtDataDigest{
			{TxId: "tx", Namespace: "cc", Collection: "col", BlockSeq: 4, SeqInBlock: 1},
			{Namespace: "cc", Collection: "col", BlockSeq: 5}, // reconciliation asks without a transaction ID
		}}}},
		"PrivateRes": {Tag: gp.GossipMessage_CHAN_ONLY, Channel: ch, Nonce: 11, Content: &gp.GossipMessage_PrivateRes{PrivateRes: &gp.RemotePvtDataResponse{Elements: []*gp.PvtDataElement{
			{Digest: &gp.PvtDataDigest{TxId: "tx", Namespace: "cc", Collection: "col", BlockSeq: 4, SeqInBlock: 1}, Payload: [][]byte{[]byte("kvrwset")}},
		}}}},
		"PrivateData": {Tag: gp.GossipMessage_CHAN_ONLY, Channel: ch, Nonce: 12, Content: &gp.GossipMessage_PrivateData{PrivateData: &gp.PrivateDataMessage{Payload: &gp.PrivatePayload{
			TxId: "tx", Namespace: "cc", CollectionName: "col", PrivateRwset: []byte("kvrwset"), PrivateSimHeight: 4,
		}}}},
	}
}

func TestDecodeAcceptsWhatFabricSends(t *testing.T) {
	for name, m := range samples() {
		t.Run(name, func(t *testing.T) {
			env, err := message.NoopSign(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := message.Decode(env)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !proto.Equal(got, m) {
				t.Fatalf("Decode = %v, want %v", got, m)
			}
		})
	}
}

func TestTagRules(t *testing.T) {
	all := []gp.GossipMessage_Tag{gp.GossipMessage_UNDEFINED, gp.GossipMessage_EMPTY, gp.GossipMessage_ORG_ONLY,
		gp.GossipMessage_CHAN_ONLY, gp.GossipMessage_CHAN_AND_ORG, gp.GossipMessage_CHAN_OR_ORG}
	want := map[string]string{ // the one legal tag per content; "*" for any
		"AliveMsg": "EMPTY", "MemReq": "EMPTY", "MemRes": "EMPTY", "DataMsg": "CHAN_AND_ORG",
		"Hello/block": "CHAN_AND_ORG", "Hello/identity": "EMPTY", "DataDig/block": "CHAN_AND_ORG",
		"DataDig/identity": "EMPTY", "DataReq/block": "CHAN_AND_ORG", "DataReq/identity": "EMPTY",
		"DataUpdate/block": "CHAN_AND_ORG", "DataUpdate/ident": "EMPTY", "Empty": "*", "Conn": "EMPTY",
		"StateInfo": "CHAN_OR_ORG", "StateSnapshot": "CHAN_OR_ORG", "StateInfoPullReq": "CHAN_OR_ORG",
		"StateRequest": "CHAN_OR_ORG", "StateResponse": "CHAN_OR_ORG", "LeadershipMsg": "CHAN_AND_ORG",
		"PeerIdentity": "ORG_ONLY", "Ack": "*", "PrivateReq": "CHAN_ONLY", "PrivateRes": "CHAN_ONLY",
		"PrivateData": "CHAN_ONLY",
	}
	s := samples()
	if len(s) != len(want) {
		t.Fatalf("%d samples, %d expected tags: keep them in step", len(s), len(want))
	}
	for name, m := range s {
		for _, tag := range all {
			m := proto.Clone(m).(*gp.GossipMessage)
			m.Tag = tag
			err := message.CheckTag(m)
			legal := want[name] == "*" || want[name] == tag.String()
			if legal && err != nil {
				t.Errorf("%s with tag %s: %v, want accepted", name, tag, err)
			}
			if !legal {
				if !errors.Is(err, message.ErrInvalid) || !strings.Contains(err.Error(), "want "+want[name]) {
					t.Errorf("%s with tag %s: %v, want refused asking for %s", name, tag, err, want[name])
				}
			}
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	s := samples()
	undefinedPull := &gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_Hello{Hello: &gp.GossipHello{}}}
	noMember := proto.Clone(s["AliveMsg"]).(*gp.GossipMessage)
	noMember.GetAliveMsg().Membership = nil
	noTime := proto.Clone(s["StateInfo"]).(*gp.GossipMessage)
	noTime.GetStateInfo().Timestamp = nil
	noPayload := proto.Clone(s["DataMsg"]).(*gp.GossipMessage)
	noPayload.GetDataMsg().Payload = nil
	noIdentity := proto.Clone(s["Conn"]).(*gp.GossipMessage)
	noIdentity.GetConn().Identity = nil
	noSelf := proto.Clone(s["MemReq"]).(*gp.GossipMessage)
	noSelf.GetMemReq().SelfInformation = nil
	pvt := func(name string, change func(m *gp.GossipMessage)) []byte {
		m := proto.Clone(s[name]).(*gp.GossipMessage)
		change(m)
		b, _ := proto.Marshal(m)
		return b
	}
	marshal := func(m *gp.GossipMessage) []byte { b, _ := proto.Marshal(m); return b }
	for _, tc := range []struct {
		name string
		env  *gp.Envelope
		says string
	}{
		{"nil envelope", nil, "no envelope"},
		{"empty payload", &gp.Envelope{}, "empty payload"},
		{"garbage", &gp.Envelope{Payload: []byte{0xff, 0xff, 0xff}}, "not a GossipMessage"},
		{"no content", &gp.Envelope{Payload: marshal(&gp.GossipMessage{Nonce: 1, Tag: gp.GossipMessage_EMPTY})}, "no content"},
		{"pull of no type", &gp.Envelope{Payload: marshal(undefinedPull)}, "pull type UNDEFINED"},
		{"alive without membership", &gp.Envelope{Payload: marshal(noMember)}, "AliveMsg message has no membership PKI-ID"},
		{"state info without timestamp", &gp.Envelope{Payload: marshal(noTime)}, "StateInfo message has no timestamp"},
		{"data without payload", &gp.Envelope{Payload: marshal(noPayload)}, "DataMsg message has no payload"},
		{"conn without identity", &gp.Envelope{Payload: marshal(noIdentity)}, "Conn message has no identity"},
		{"membership request without self", &gp.Envelope{Payload: marshal(noSelf)}, "MemReq message has no self information"},
		{"private data without payload", &gp.Envelope{Payload: pvt("PrivateData", func(m *gp.GossipMessage) { m.GetPrivateData().Payload = nil })}, "PrivateData message has no payload"},
		{"private data without tx ID", &gp.Envelope{Payload: pvt("PrivateData", func(m *gp.GossipMessage) { m.GetPrivateData().Payload.TxId = "" })}, "no transaction ID"},
		{"private data without namespace", &gp.Envelope{Payload: pvt("PrivateData", func(m *gp.GossipMessage) { m.GetPrivateData().Payload.Namespace = "" })}, "no namespace"},
		{"private data without collection", &gp.Envelope{Payload: pvt("PrivateData", func(m *gp.GossipMessage) { m.GetPrivateData().Payload.CollectionName = "" })}, "no collection name"},
		{"private data without write set", &gp.Envelope{Payload: pvt("PrivateData", func(m *gp.GossipMessage) { m.GetPrivateData().Payload.PrivateRwset = nil })}, "transaction tx, collection col of chaincode cc has an empty private write set"},
		{"private request without digests", &gp.Envelope{Payload: pvt("PrivateReq", func(m *gp.GossipMessage) { m.GetPrivateReq().Digests = nil })}, "PrivateReq message has no digests"},
		{"private request with an empty digest", &gp.Envelope{Payload: pvt("PrivateReq", func(m *gp.GossipMessage) { m.GetPrivateReq().Digests[1] = &gp.PvtDataDigest{} })}, "PrivateReq message has digest 1 (block 0, transaction 0) without a namespace"},
		{"private request digest without namespace", &gp.Envelope{Payload: pvt("PrivateReq", func(m *gp.GossipMessage) { m.GetPrivateReq().Digests[0].Namespace = "" })}, "digest 0 (block 4, transaction 1) without a namespace"},
		{"private request digest without collection", &gp.Envelope{Payload: pvt("PrivateReq", func(m *gp.GossipMessage) { m.GetPrivateReq().Digests[1].Collection = "" })}, "digest 1 (block 5, transaction 0, chaincode cc) without a collection"},
		{"private response element without digest", &gp.Envelope{Payload: pvt("PrivateRes", func(m *gp.GossipMessage) { m.GetPrivateRes().Elements[0].Digest = nil })}, "PrivateRes message has no digest 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := message.Decode(tc.env)
			if !errors.Is(err, message.ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Decode: %v, want ErrInvalid saying %q", err, tc.says)
			}
		})
	}
}

func TestSignVerifySecret(t *testing.T) {
	n := testnet.SampleNet(t)
	signer := n.Signer(t, "peer0.org1.example.com")
	other := n.Signer(t, "peer0.org2.example.com")
	verify := func(serialized, sig, msg []byte) error {
		for _, s := range []struct {
			ser []byte
			v   func(msg, sig []byte) error
		}{{signer.Serialized, signer.Verify}, {other.Serialized, other.Verify}} {
			if bytes.Equal(serialized, s.ser) {
				return s.v(msg, sig)
			}
		}
		return errors.New("unknown identity")
	}
	m := samples()["AliveMsg"]
	env, err := message.Sign(m, signer.Sign)
	if err != nil {
		t.Fatal(err)
	}
	if err := message.SignSecret(env, "peer0.org1.example.com:7051", signer.Sign); err != nil {
		t.Fatal(err)
	}
	if err := message.Verify(env, signer.Serialized, verify); err != nil {
		t.Fatalf("Verify by the signer: %v", err)
	}
	if got := message.InternalEndpoint(env); got != "peer0.org1.example.com:7051" {
		t.Fatalf("InternalEndpoint = %q", got)
	}
	if err := message.Verify(env, other.Serialized, verify); err == nil {
		t.Fatal("Verify against another identity accepted the envelope")
	}

	// A secret signed by someone else spoils the envelope.
	forged := proto.Clone(env).(*gp.Envelope)
	if err := message.SignSecret(forged, "evil:1", other.Sign); err != nil {
		t.Fatal(err)
	}
	if err := message.Verify(forged, signer.Serialized, verify); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("Verify of a secret signed by another: %v, want refused naming the secret envelope", err)
	}

	// A changed payload breaks the signature.
	tampered := proto.Clone(env).(*gp.Envelope)
	tampered.Payload = append(tampered.Payload, 0)
	if err := message.Verify(tampered, signer.Serialized, verify); err == nil {
		t.Fatal("Verify of a tampered payload passed")
	}

	unsigned, err := message.NoopSign(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := message.Verify(unsigned, signer.Serialized, verify); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("Verify of an unsigned envelope: %v", err)
	}

	clean := message.NoSecret(env)
	if clean.SecretEnvelope != nil || env.SecretEnvelope == nil {
		t.Fatal("NoSecret must drop the secret from the copy and leave the original alone")
	}
	if message.InternalEndpoint(clean) != "" {
		t.Fatal("internal endpoint survives NoSecret")
	}
	if err := message.Verify(clean, signer.Serialized, verify); err != nil {
		t.Fatalf("Verify after NoSecret: %v", err)
	}
}

func TestHelpers(t *testing.T) {
	s := samples()
	if !message.IsPull(s["Hello/block"]) || message.IsPull(s["AliveMsg"]) {
		t.Fatal("IsPull")
	}
	if message.PullType(s["DataUpdate/ident"]) != gp.PullMsgType_IDENTITY_MSG || message.PullType(s["DataMsg"]) != gp.PullMsgType_UNDEFINED {
		t.Fatal("PullType")
	}
	if message.Channel(s["DataMsg"]) != "mychannel" || message.Channel(s["AliveMsg"]) != "" {
		t.Fatal("Channel")
	}
	if !message.IsChannelRestricted(s["StateInfo"]) || message.IsChannelRestricted(s["PeerIdentity"]) {
		t.Fatal("IsChannelRestricted")
	}
	if !message.IsOrgRestricted(s["PeerIdentity"]) || message.IsOrgRestricted(s["StateInfo"]) {
		t.Fatal("IsOrgRestricted")
	}
	for name, m := range s {
		if k := message.Kind(m); !strings.HasPrefix(name, k) {
			t.Errorf("Kind of %s = %s", name, k)
		}
	}
}
