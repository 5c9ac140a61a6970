package blockjson

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// endorserTx fills the chaincode parts of t from the payload data of an
// ENDORSER_TRANSACTION, in the order a reader wants them should a later part
// be broken: input, endorsements, chaincode and response, event, rwsets.
func (d *decoder) endorserTx(t *TransactionJSON, data []byte) *fieldErr {
	tx := &pb.Transaction{}
	if fe := unmarshal("payload.data", data, tx); fe != nil {
		return fe
	}
	if len(tx.Actions) != 1 {
		return &fieldErr{"payload.data.actions", fmt.Errorf("transaction has %d actions, want exactly 1", len(tx.Actions))}
	}
	const fa = "payload.data.actions[0].payload"
	ap := &pb.ChaincodeActionPayload{}
	if fe := unmarshal(fa, tx.Actions[0].Payload, ap); fe != nil {
		return fe
	}
	cpp := &pb.ChaincodeProposalPayload{}
	if fe := unmarshal(fa+".chaincode_proposal_payload", ap.ChaincodeProposalPayload, cpp); fe != nil {
		return fe
	}
	cis := &pb.ChaincodeInvocationSpec{}
	if fe := unmarshal(fa+".chaincode_proposal_payload.input", cpp.Input, cis); fe != nil {
		return fe
	}
	t.Input = input(cis.GetChaincodeSpec().GetInput().GetArgs())

	if ap.Action == nil {
		return missing(fa+".action", "chaincode action payload has no endorsed action")
	}
	for i, e := range ap.Action.Endorsements {
		id, fe := d.identity(fmt.Sprintf("%s.action.endorsements[%d].endorser", fa, i), e.GetEndorser())
		if fe != nil {
			return fe
		}
		t.Endorsements = append(t.Endorsements, *id)
	}
	const fp = fa + ".action.proposal_response_payload"
	prp := &pb.ProposalResponsePayload{}
	if fe := unmarshal(fp, ap.Action.ProposalResponsePayload, prp); fe != nil {
		return fe
	}
	act := &pb.ChaincodeAction{}
	if fe := unmarshal(fp+".extension", prp.Extension, act); fe != nil {
		return fe
	}
	if act.GetChaincodeId().GetName() == "" {
		return missing(fp+".extension.chaincode_id.name", "chaincode action names no chaincode")
	}
	t.Chaincode = &ChaincodeJSON{Name: act.ChaincodeId.Name, Version: act.ChaincodeId.Version}
	if r := act.Response; r != nil {
		t.Response = &ResponseJSON{Status: r.Status, Message: r.Message, Payload: text(r.Payload), PayloadBase64: b64(r.Payload)}
	}
	if len(act.Events) > 0 {
		ev := &pb.ChaincodeEvent{}
		if fe := unmarshal(fp+".extension.events", act.Events, ev); fe != nil {
			return fe
		}
		if ev.EventName != "" || len(ev.Payload) > 0 {
			t.Event = &EventJSON{Name: ev.EventName, Payload: text(ev.Payload), PayloadBase64: b64(ev.Payload)}
		}
	}
	rws := &rwset.TxReadWriteSet{}
	if fe := unmarshal(fp+".extension.results", act.Results, rws); fe != nil {
		return fe
	}
	for i, ns := range rws.NsRwset {
		n, fe := namespace(fmt.Sprintf("%s.extension.results.ns_rwset[%d]", fp, i), ns)
		if fe != nil {
			return fe
		}
		t.Namespaces = append(t.Namespaces, n)
	}
	return nil
}

func input(args [][]byte) *InputJSON {
	in := &InputJSON{Args: []*string{}, ArgsBase64: []string{}}
	if len(args) == 0 {
		return in
	}
	in.Function = strings.ToValidUTF8(string(args[0]), "\uFFFD")
	for _, a := range args[1:] {
		in.Args = append(in.Args, text(a))
		in.ArgsBase64 = append(in.ArgsBase64, b64(a))
	}
	return in
}

func namespace(field string, ns *rwset.NsReadWriteSet) (NamespaceJSON, *fieldErr) {
	n := NamespaceJSON{Namespace: ns.GetNamespace(), Reads: []ReadJSON{}, Writes: []WriteJSON{}}
	kv := &kvrwset.KVRWSet{}
	if fe := unmarshal(field+".rwset", ns.GetRwset(), kv); fe != nil {
		return n, fe
	}
	for _, r := range kv.Reads {
		rj := ReadJSON{Key: r.GetKey()}
		if v := r.GetVersion(); v != nil {
			rj.Version = &VersionJSON{BlockNum: v.BlockNum, TxNum: v.TxNum}
		}
		n.Reads = append(n.Reads, rj)
	}
	for _, w := range kv.Writes {
		n.Writes = append(n.Writes, WriteJSON{Key: w.GetKey(), Value: text(w.GetValue()), ValueBase64: b64(w.GetValue()), IsDelete: w.GetIsDelete()})
	}
	for _, q := range kv.RangeQueriesInfo {
		n.RangeQueries = append(n.RangeQueries, RangeQueryJSON{
			StartKey: q.GetStartKey(), EndKey: q.GetEndKey(), ItrExhausted: q.GetItrExhausted(),
			Reads: len(q.GetRawReads().GetKvReads()), MerkleHashed: q.GetReadsMerkleHashes() != nil,
		})
	}
	for i, c := range ns.GetCollectionHashedRwset() {
		h := &kvrwset.HashedRWSet{}
		if fe := unmarshal(fmt.Sprintf("%s.collection_hashed_rwset[%d].hashed_rwset", field, i), c.GetHashedRwset(), h); fe != nil {
			return n, fe
		}
		n.Collections = append(n.Collections, CollectionJSON{
			Collection: c.GetCollectionName(), HashedReads: len(h.HashedReads), HashedWrites: len(h.HashedWrites),
			PvtRwsetHash: hex.EncodeToString(c.GetPvtRwsetHash()),
		})
	}
	return n, nil
}

// text returns b as a string when it is text (see the package doc), else nil.
func text(b []byte) *string {
	if !utf8.Valid(b) {
		return nil
	}
	s := string(b)
	for _, r := range s {
		if !unicode.IsGraphic(r) && r != '\t' && r != '\n' && r != '\r' {
			return nil
		}
	}
	return &s
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
