package message

import (
	"fmt"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
)

// anyTag marks a content whose tag Fabric never checks and sets freely.
const anyTag gp.GossipMessage_Tag = -1

// tagFor is the tag a message with m's content must carry, anyTag when any
// tag goes, and false when the content is missing or unknown.
func tagFor(m *gp.GossipMessage) (gp.GossipMessage_Tag, bool) {
	switch m.GetContent().(type) {
	case *gp.GossipMessage_DataMsg, *gp.GossipMessage_LeadershipMsg:
		return gp.GossipMessage_CHAN_AND_ORG, true
	case *gp.GossipMessage_AliveMsg, *gp.GossipMessage_MemReq, *gp.GossipMessage_MemRes:
		return gp.GossipMessage_EMPTY, true
	case *gp.GossipMessage_PeerIdentity:
		return gp.GossipMessage_ORG_ONLY, true
	case *gp.GossipMessage_Hello, *gp.GossipMessage_DataDig, *gp.GossipMessage_DataReq, *gp.GossipMessage_DataUpdate:
		switch PullType(m) {
		case gp.PullMsgType_BLOCK_MSG:
			return gp.GossipMessage_CHAN_AND_ORG, true
		case gp.PullMsgType_IDENTITY_MSG:
			return gp.GossipMessage_EMPTY, true
		}
		return 0, false
	case *gp.GossipMessage_StateInfo, *gp.GossipMessage_StateSnapshot, *gp.GossipMessage_StateInfoPullReq,
		*gp.GossipMessage_StateRequest, *gp.GossipMessage_StateResponse:
		return gp.GossipMessage_CHAN_OR_ORG, true
	case *gp.GossipMessage_Conn:
		return gp.GossipMessage_EMPTY, true
	case *gp.GossipMessage_PrivateReq, *gp.GossipMessage_PrivateRes, *gp.GossipMessage_PrivateData:
		return gp.GossipMessage_CHAN_ONLY, true
	case *gp.GossipMessage_Empty, *gp.GossipMessage_Ack:
		return anyTag, true
	default:
		return 0, false
	}
}

// CheckTag checks that m has a content and the tag its content requires
// (see the package documentation).
func CheckTag(m *gp.GossipMessage) error {
	if m.GetContent() == nil {
		return fmt.Errorf("%w: no content", ErrInvalid)
	}
	want, ok := tagFor(m)
	if !ok {
		if IsPull(m) {
			return fmt.Errorf("%w: %s message has pull type %s, want BLOCK_MSG or IDENTITY_MSG", ErrInvalid, Kind(m), PullType(m))
		}
		return fmt.Errorf("%w: unknown content", ErrInvalid)
	}
	if want == anyTag {
		return nil
	}
	if m.Tag != want {
		return fmt.Errorf("%w: %s message has tag %s, want %s", ErrInvalid, Kind(m), m.Tag, want)
	}
	return nil
}

// CheckFields checks that m has the fields the rest of gossip reads without
// looking: the PKI-ID and timestamp of alive, state info and leadership
// messages, a membership request's self information, the payload of data
// messages, the PKI-ID and certificate of an identity message, the PKI-ID
// and identity of a ConnEstablish; for private data, the transaction,
// namespace, collection and write set of a pushed payload, at least one
// digest in a request, and a namespace and collection in every digest of a
// request or response.
func CheckFields(m *gp.GossipMessage) error {
	missing := func(field string) error {
		return fmt.Errorf("%w: %s message has no %s", ErrInvalid, Kind(m), field)
	}
	switch {
	case m.GetAliveMsg() != nil:
		a := m.GetAliveMsg()
		if a.Membership == nil || len(a.Membership.PkiId) == 0 {
			return missing("membership PKI-ID")
		}
		if a.Timestamp == nil {
			return missing("timestamp")
		}
	case m.GetMemReq() != nil:
		if m.GetMemReq().SelfInformation == nil {
			return missing("self information")
		}
	case m.GetDataMsg() != nil:
		if m.GetDataMsg().Payload == nil {
			return missing("payload")
		}
	case m.GetStateInfo() != nil:
		s := m.GetStateInfo()
		if len(s.PkiId) == 0 {
			return missing("PKI-ID")
		}
		if s.Timestamp == nil {
			return missing("timestamp")
		}
	case m.GetLeadershipMsg() != nil:
		l := m.GetLeadershipMsg()
		if len(l.PkiId) == 0 {
			return missing("PKI-ID")
		}
		if l.Timestamp == nil {
			return missing("timestamp")
		}
	case m.GetPeerIdentity() != nil:
		p := m.GetPeerIdentity()
		if len(p.PkiId) == 0 {
			return missing("PKI-ID")
		}
		if len(p.Cert) == 0 {
			return missing("certificate")
		}
	case m.GetConn() != nil:
		c := m.GetConn()
		if len(c.PkiId) == 0 {
			return missing("PKI-ID")
		}
		if len(c.Identity) == 0 {
			return missing("identity")
		}
	case m.GetPrivateData() != nil:
		p := m.GetPrivateData().Payload
		switch {
		case p == nil:
			return missing("payload")
		case p.TxId == "":
			return missing("transaction ID in its payload")
		case p.Namespace == "":
			return missing("namespace (chaincode) in its payload")
		case p.CollectionName == "":
			return missing("collection name in its payload")
		case len(p.PrivateRwset) == 0:
			// Fabric drops these too: there is nothing to store.
			return fmt.Errorf("%w: PrivateData message for transaction %s, collection %s of chaincode %s has an empty private write set", ErrInvalid, p.TxId, p.CollectionName, p.Namespace)
		}
	case m.GetPrivateReq() != nil:
		ds := m.GetPrivateReq().Digests
		if len(ds) == 0 {
			return missing("digests")
		}
		for i, d := range ds {
			if err := checkDigest(m, i, d); err != nil {
				return err
			}
		}
	case m.GetPrivateRes() != nil:
		for i, e := range m.GetPrivateRes().Elements {
			if e == nil {
				return fmt.Errorf("%w: %s message has an empty element %d", ErrInvalid, Kind(m), i)
			}
			if err := checkDigest(m, i, e.Digest); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkDigest checks the i-th private data digest of m: it names a
// namespace and a collection. Its transaction ID may be empty: Fabric's
// reconciliation asks by block and position only.
func checkDigest(m *gp.GossipMessage, i int, d *gp.PvtDataDigest) error {
	switch {
	case d == nil:
		return fmt.Errorf("%w: %s message has no digest %d", ErrInvalid, Kind(m), i)
	case d.Namespace == "":
		return fmt.Errorf("%w: %s message has digest %d (block %d, transaction %d) without a namespace", ErrInvalid, Kind(m), i, d.BlockSeq, d.SeqInBlock)
	case d.Collection == "":
		return fmt.Errorf("%w: %s message has digest %d (block %d, transaction %d, chaincode %s) without a collection", ErrInvalid, Kind(m), i, d.BlockSeq, d.SeqInBlock, d.Namespace)
	}
	return nil
}
