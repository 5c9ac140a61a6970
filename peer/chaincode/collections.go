package chaincode

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// CollectionAccess is what the handler needs of a private data collection
// to decide whether a transaction's client may read or write it through the
// chaincode.
type CollectionAccess struct {
	// MemberOrgs are the MSP IDs of the collection's member organisations.
	MemberOrgs []string
	// MemberOnlyRead refuses reads of the collection's private values
	// (GetPrivateData, its range and rich queries, and
	// GetPrivateDataValidationParameter) to clients of other organisations.
	MemberOnlyRead bool
	// MemberOnlyWrite refuses writes (PutPrivateData, DelPrivateData,
	// PurgePrivateData, SetPrivateDataValidationParameter) to clients of
	// other organisations.
	MemberOnlyWrite bool
}

// ErrUnknownCollection is wrapped by a TxContext.Collection error when the
// chaincode defines no such collection.
var ErrUnknownCollection = errors.New("no such collection")

// privateUse is what a chaincode request does with a collection, which
// decides the access it needs.
type privateUse int

const (
	// useHash reads only hashes (GetPrivateDataHash): any client may, as in
	// Fabric, since every peer of the channel holds them.
	useHash privateUse = iota
	useRead
	useWrite
)

// checkPrivate decides whether request typ of transaction tx may use
// collection coll as use says. As in Fabric, private data is refused in
// chaincode Init(); and when the peer knows the collection's rules (the
// TxContext's Collection), a collection the chaincode does not define is
// refused, and so are reads of a memberOnlyRead and writes of a
// memberOnlyWrite collection by a client not of a member organisation.
// Hash reads never need membership. The rules are read once per
// collection and transaction.
func (tx *txState) checkPrivate(typ, coll string, use privateUse) error {
	if tx.isInit {
		// Fabric's words first, so that searches for them still match.
		return fmt.Errorf("private data APIs are not allowed in chaincode Init(): %s on collection %q of chaincode %s; "+
			"the initialisation transaction (--init-required) cannot use private data, use it in a later transaction", typ, coll, tx.ns)
	}
	if use == useHash || tx.txc.Collection == nil {
		return nil
	}
	tx.mu.Lock()
	ca, ok := tx.collections[coll]
	tx.mu.Unlock()
	if !ok {
		var err error
		ca, err = tx.txc.Collection(tx.ns, coll)
		if errors.Is(err, ErrUnknownCollection) {
			return fmt.Errorf("collection %s/%s/%s could not be found: chaincode %s defines no collection %q on channel %s; "+
				"check the name against the collections of its committed definition (an organisation's implicit collection is named _implicit_org_<MSPID>)",
				tx.txc.ChannelID, tx.ns, coll, tx.ns, coll, tx.txc.ChannelID)
		}
		if err != nil {
			return fmt.Errorf("read the rules of collection %s of chaincode %s on channel %s: %w", coll, tx.ns, tx.txc.ChannelID, err)
		}
		tx.mu.Lock()
		if tx.collections == nil {
			tx.collections = map[string]CollectionAccess{}
		}
		tx.collections[coll] = ca
		tx.mu.Unlock()
	}
	mspID := ""
	if tx.txc.Creator != nil {
		mspID = tx.txc.Creator.MSPID
	}
	if slices.Contains(ca.MemberOrgs, mspID) {
		return nil
	}
	client := "the client's organisation " + mspID
	if mspID == "" {
		client = "the transaction has no identified client, so it"
	}
	members := "it has no member organisations"
	if len(ca.MemberOrgs) > 0 {
		members = "its members are " + strings.Join(ca.MemberOrgs, ", ")
	}
	switch {
	case use == useRead && ca.MemberOnlyRead:
		return fmt.Errorf("tx creator does not have read access permission on privatedata in chaincodeName:%s collectionName: %s: "+
			"%s is not a member of the collection and the collection is memberOnlyRead (%s); submit the transaction as a client of a member organisation",
			tx.ns, coll, client, members)
	case use == useWrite && ca.MemberOnlyWrite:
		return fmt.Errorf("tx creator does not have write access permission on privatedata in chaincodeName:%s collectionName: %s: "+
			"%s is not a member of the collection and the collection is memberOnlyWrite (%s); submit the transaction as a client of a member organisation",
			tx.ns, coll, client, members)
	}
	return nil
}
