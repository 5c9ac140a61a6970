package deliver

import (
	"unicode/utf8"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// FilterBlock builds the pb.FilteredBlock Fabric sends for b: per transaction
// its ID, header type and validation code (from TRANSACTIONS_FILTER), and for
// endorser transactions the chaincode event of each action with its payload
// removed (actions without an event are left out, as Fabric does). Transactions
// whose envelope cannot be decoded are skipped rather than failing the stream.
//
// Every DeliverFiltered stream builds one per block, and decoding a whole
// 500-transaction block with proto.Unmarshal copies every byte of it several
// times over (each nested bytes field is copied at each level). So each
// transaction is first read in place (txFilter.inPlace); only one that is not
// plainly encoded goes through the decoder (filterTxByProto), which decides
// the odd cases as before.
func FilterBlock(channelID string, b *cb.Block) *pb.FilteredBlock {
	fb := &pb.FilteredBlock{ChannelId: channelID, Number: b.GetHeader().GetNumber()}
	flags := protos.TxFilter(b)
	data := b.GetData().GetData()
	if len(data) > 0 {
		fb.FilteredTransactions = make([]*pb.FilteredTransaction, 0, len(data))
	}
	f := newTxFilter(len(data))
	for i, raw := range data {
		if len(raw) == 0 {
			continue
		}
		code := pb.TxValidationCode(flags[i])
		ftx, chID, ok := f.inPlace(raw, code)
		if !ok {
			var id string
			if ftx, id, ok = filterTxByProto(raw, code); !ok {
				continue
			}
			chID = []byte(id)
		}
		if len(chID) > 0 && string(chID) != fb.ChannelId {
			fb.ChannelId = string(chID)
		}
		fb.FilteredTransactions = append(fb.FilteredTransactions, ftx)
	}
	if len(fb.FilteredTransactions) == 0 {
		fb.FilteredTransactions = nil
	}
	return fb
}

// filterTxByProto filters one transaction by decoding it with proto.Unmarshal.
// ok is false for a transaction FilterBlock skips; channelID is its channel
// header's.
func filterTxByProto(raw []byte, code pb.TxValidationCode) (ftx *pb.FilteredTransaction, channelID string, ok bool) {
	env := &cb.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, "", false
	}
	payload := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil || payload.Header == nil {
		return nil, "", false
	}
	chdr, err := protos.UnmarshalChannelHeader(payload.Header.ChannelHeader)
	if err != nil {
		return nil, "", false
	}
	ftx = &pb.FilteredTransaction{
		Txid:             chdr.TxId,
		Type:             cb.HeaderType(chdr.Type),
		TxValidationCode: code,
	}
	if ftx.Type == cb.HeaderType_ENDORSER_TRANSACTION {
		if acts, ok := filteredActions(payload.Data); ok {
			ftx.Data = &pb.FilteredTransaction_TransactionActions{TransactionActions: acts}
		}
	}
	return ftx, chdr.ChannelId, true
}

// filteredActions extracts the payload-free chaincode events of a transaction.
func filteredActions(txBytes []byte) (*pb.FilteredTransactionActions, bool) {
	tx := &pb.Transaction{}
	if err := proto.Unmarshal(txBytes, tx); err != nil {
		return nil, false
	}
	out := &pb.FilteredTransactionActions{}
	for _, action := range tx.Actions {
		cap := &pb.ChaincodeActionPayload{}
		if err := proto.Unmarshal(action.Payload, cap); err != nil || cap.Action == nil {
			continue
		}
		prp := &pb.ProposalResponsePayload{}
		if err := proto.Unmarshal(cap.Action.ProposalResponsePayload, prp); err != nil {
			continue
		}
		ca := &pb.ChaincodeAction{}
		if err := proto.Unmarshal(prp.Extension, ca); err != nil {
			continue
		}
		ev := &pb.ChaincodeEvent{}
		if err := proto.Unmarshal(ca.Events, ev); err != nil || ev.ChaincodeId == "" {
			continue
		}
		out.ChaincodeActions = append(out.ChaincodeActions, &pb.FilteredChaincodeAction{
			ChaincodeEvent: &pb.ChaincodeEvent{ChaincodeId: ev.ChaincodeId, TxId: ev.TxId, EventName: ev.EventName},
		})
	}
	return out, true
}

// txFilter makes the messages of one filtered block: the per-transaction
// ones come from slices made once per block (one allocation each instead of
// one per transaction), and the strings of a chaincode event are shared with
// the transaction's ID or the previous event when equal, as they nearly
// always are.
type txFilter struct {
	txs     []pb.FilteredTransaction
	data    []pb.FilteredTransaction_TransactionActions
	actions []pb.FilteredTransactionActions
	// the chaincode ID and event name of the last event made
	chaincodeID, eventName string
}

func newTxFilter(n int) *txFilter {
	return &txFilter{
		txs:     make([]pb.FilteredTransaction, n),
		data:    make([]pb.FilteredTransaction_TransactionActions, n),
		actions: make([]pb.FilteredTransactionActions, n),
	}
}

// inPlace filters one transaction reading its encoding where it lies,
// without copying or decoding what the filtered block does not carry. It
// gives up (ok false) on anything but a transaction every message of which
// (envelope, payload, header, channel header, transaction, actions and the
// messages nested in them) holds only the fields its type declares, with the
// declared wire types, each singular field at most once and every string
// valid UTF-8. proto.Unmarshal decodes such bytes without error and to the
// values read here, so the result is the one filterTxByProto gives;
// everything else (unknown or repeated fields, malformed input) is left to
// it. channelID aliases raw.
func (f *txFilter) inPlace(raw []byte, code pb.TxValidationCode) (ftx *pb.FilteredTransaction, channelID []byte, ok bool) {
	var env, payload, hdr [2]wireValue
	var chdr [8]wireValue
	if !walk(raw, envelopeFields, env[:]) || !walk(env[0].b, payloadFields, payload[:]) || !payload[0].present ||
		!walk(payload[0].b, headerFields, hdr[:]) || len(hdr[0].b) == 0 ||
		!walk(hdr[0].b, channelHeaderFields, chdr[:]) {
		return nil, nil, false
	}
	typ := cb.HeaderType(int32(chdr[0].v))
	txID := string(chdr[4].b)
	var data *pb.FilteredTransaction_TransactionActions
	if typ == cb.HeaderType_ENDORSER_TRANSACTION {
		acts, ok := f.actionsInPlace(payload[1].b, txID)
		if !ok {
			return nil, nil, false
		}
		data = take(&f.data)
		data.TransactionActions = acts
	}
	ftx = take(&f.txs)
	ftx.Txid, ftx.Type, ftx.TxValidationCode = txID, typ, code
	if data != nil {
		ftx.Data = data
	}
	return ftx, chdr[3].b, true
}

// take returns the next message of *slab, or a new one when the slab is
// used up.
func take[T any](slab *[]T) *T {
	if len(*slab) == 0 {
		return new(T)
	}
	m := &(*slab)[0]
	*slab = (*slab)[1:]
	return m
}

// actionsInPlace is filteredActions reading txBytes in place, under
// inPlace's conditions; ok is false when they do not hold. txID is the
// transaction's, which its events normally repeat.
func (f *txFilter) actionsInPlace(txBytes []byte, txID string) (*pb.FilteredTransactionActions, bool) {
	var events []*pb.FilteredChaincodeAction
	for b := txBytes; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num != 1 || typ != protowire.BytesType { // 1: actions
			return nil, false
		}
		b = b[n:]
		raw, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		var action, cap, endorsed, prp [2]wireValue
		var ca [4]wireValue
		var ev [4]wireValue
		if !walk(raw, txActionFields, action[:]) || !walk(action[1].b, chaincodeActionPayloadFields, cap[:]) {
			return nil, false
		}
		if !cap[1].present {
			continue // no endorsed action, as filteredActions skips it
		}
		if !walk(cap[1].b, endorsedActionFields, endorsed[:]) || !walk(endorsed[0].b, proposalResponsePayloadFields, prp[:]) ||
			!walk(prp[1].b, chaincodeActionFields, ca[:]) || !walk(ca[1].b, chaincodeEventFields, ev[:]) {
			return nil, false
		}
		if len(ev[0].b) == 0 {
			continue // no event
		}
		if string(ev[0].b) != f.chaincodeID {
			f.chaincodeID = string(ev[0].b)
		}
		if string(ev[2].b) != f.eventName {
			f.eventName = string(ev[2].b)
		}
		evTxID := txID
		if string(ev[1].b) != txID {
			evTxID = string(ev[1].b)
		}
		events = append(events, &pb.FilteredChaincodeAction{
			ChaincodeEvent: &pb.ChaincodeEvent{ChaincodeId: f.chaincodeID, TxId: evTxID, EventName: f.eventName},
		})
	}
	out := take(&f.actions)
	out.ChaincodeActions = events
	return out, true
}

// wireField describes, for walk, field number i+1 of a message type.
type wireField struct {
	typ      protowire.Type // protowire.VarintType or protowire.BytesType
	utf8     bool           // a proto3 string: proto.Unmarshal refuses invalid UTF-8
	msg      []wireField    // for a message field, the fields of its type
	repeated bool
}

// wireValue is a field walk found: a length-delimited field's bytes
// (aliasing the input) or a varint.
type wireValue struct {
	b       []byte
	v       uint64
	present bool
}

// walk reports whether b is a message of the type fields describes under
// txFilter.inPlace's conditions, checking nested messages too. When out is
// not nil (len(out) >= len(fields)) it receives the value of each singular
// field, by field number minus one.
func walk(b []byte, fields []wireField, out []wireValue) bool {
	var seen uint32
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num < 1 || int(num) > len(fields) {
			return false
		}
		f := &fields[num-1]
		if typ != f.typ {
			return false
		}
		if bit := uint32(1) << num; !f.repeated {
			if seen&bit != 0 {
				return false
			}
			seen |= bit
		}
		b = b[n:]
		var val wireValue
		if typ == protowire.VarintType {
			val.v, n = protowire.ConsumeVarint(b)
		} else {
			val.b, n = protowire.ConsumeBytes(b)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
		if f.utf8 && !utf8.Valid(val.b) {
			return false
		}
		if f.msg != nil && !walk(val.b, f.msg, nil) {
			return false
		}
		if out != nil && !f.repeated {
			val.present = true
			out[num-1] = val
		}
	}
	return true
}

// The types txFilter.inPlace reads, as their fabric-protos definitions
// declare them (field number i+1 at index i).
var (
	varintField = wireField{typ: protowire.VarintType}
	bytesField  = wireField{typ: protowire.BytesType}
	stringField = wireField{typ: protowire.BytesType, utf8: true}

	envelopeFields      = []wireField{bytesField, bytesField}                                    // payload, signature
	headerFields        = []wireField{bytesField, bytesField}                                    // channel_header, signature_header
	payloadFields       = []wireField{{typ: protowire.BytesType, msg: headerFields}, bytesField} // header, data
	timestampFields     = []wireField{varintField, varintField}                                  // seconds, nanos
	channelHeaderFields = []wireField{
		varintField, // type
		varintField, // version
		{typ: protowire.BytesType, msg: timestampFields}, // timestamp
		stringField, // channel_id
		stringField, // tx_id
		varintField, // epoch
		bytesField,  // extension
		bytesField,  // tls_cert_hash
	}
	txActionFields                = []wireField{bytesField, bytesField} // header, payload
	endorsementFields             = []wireField{bytesField, bytesField} // endorser, signature
	endorsedActionFields          = []wireField{bytesField, {typ: protowire.BytesType, msg: endorsementFields, repeated: true}}
	chaincodeActionPayloadFields  = []wireField{bytesField, {typ: protowire.BytesType, msg: endorsedActionFields}}
	proposalResponsePayloadFields = []wireField{bytesField, bytesField}                // proposal_hash, extension
	responseFields                = []wireField{varintField, stringField, bytesField}  // status, message, payload
	chaincodeIDFields             = []wireField{stringField, stringField, stringField} // path, name, version
	chaincodeActionFields         = []wireField{
		bytesField, // results
		bytesField, // events
		{typ: protowire.BytesType, msg: responseFields},
		{typ: protowire.BytesType, msg: chaincodeIDFields},
	}
	chaincodeEventFields = []wireField{stringField, stringField, stringField, bytesField} // chaincode_id, tx_id, event_name, payload
)
