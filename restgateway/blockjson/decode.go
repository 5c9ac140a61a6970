package blockjson

import (
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// Options choose optional parts of the output. The zero value is what the
// package-level functions use.
type Options struct {
	// Certificates adds the PEM certificate to every identity (creator,
	// endorsers, block signers). Off by default: it triples the size of a block.
	Certificates bool
}

// DecodeError reports input that is not a well-formed Fabric block or
// transaction.
type DecodeError struct {
	Block uint64 // the block number (as given to Transaction for a lone transaction)
	Tx    int    // index of the transaction in the block; -1 for the block itself or a lone transaction
	TxID  string // when the channel header could be read
	Field string // protobuf field path, e.g. "payload.header.channel_header"
	Err   error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "block %d", e.Block)
	if e.Tx >= 0 {
		fmt.Fprintf(&b, ", transaction %d", e.Tx)
	}
	if e.TxID != "" {
		fmt.Fprintf(&b, " (txId %s)", e.TxID)
	}
	fmt.Fprintf(&b, ": field %s: %v", e.Field, e.Err)
	return b.String()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Block decodes b with the default Options.
func Block(b *cb.Block) (*BlockJSON, error) { return Options{}.Block(b) }

// BlockBytes decodes a marshalled common.Block (as qscc GetBlockByNumber
// returns it) with the default Options.
func BlockBytes(raw []byte) (*BlockJSON, error) { return Options{}.BlockBytes(raw) }

// Transaction decodes one envelope with the default Options. code and blockNum
// are what the ledger says of it (qscc GetTransactionByID gives the code,
// GetBlockByTxID the block).
func Transaction(env *cb.Envelope, code pb.TxValidationCode, blockNum uint64) (*TransactionJSON, error) {
	return Options{}.Transaction(env, code, blockNum)
}

// TransactionBytes decodes a marshalled common.Envelope with the default Options.
func TransactionBytes(raw []byte, code pb.TxValidationCode, blockNum uint64) (*TransactionJSON, error) {
	return Options{}.TransactionBytes(raw, code, blockNum)
}

// ProcessedTransaction decodes what qscc GetTransactionByID returns, with the
// default Options.
func ProcessedTransaction(pt *pb.ProcessedTransaction, blockNum uint64) (*TransactionJSON, error) {
	return Options{}.ProcessedTransaction(pt, blockNum)
}

// BlockBytes decodes a marshalled common.Block.
func (o Options) BlockBytes(raw []byte) (*BlockJSON, error) {
	b, err := protos.UnmarshalBlock(raw)
	if err != nil {
		return nil, &DecodeError{Tx: -1, Field: "block", Err: err}
	}
	return o.Block(b)
}

// Block decodes every transaction and the metadata of b.
func (o Options) Block(b *cb.Block) (*BlockJSON, error) {
	if b == nil {
		return nil, &DecodeError{Tx: -1, Field: "block", Err: errors.New("no block given")}
	}
	if b.Header == nil {
		return nil, &DecodeError{Tx: -1, Field: "header", Err: errors.New("block has no header")}
	}
	num := b.Header.Number
	if b.Data == nil {
		return nil, &DecodeError{Block: num, Tx: -1, Field: "data", Err: errors.New("block has no data")}
	}
	d := newDecoder(o, num)
	n := len(b.Data.Data)
	md := b.GetMetadata().GetMetadata()
	if i := int(cb.BlockMetadataIndex_TRANSACTIONS_FILTER); i < len(md) && len(md[i]) != 0 && len(md[i]) != n {
		return nil, &DecodeError{Block: num, Tx: -1, Field: "metadata.metadata[TRANSACTIONS_FILTER]",
			Err: fmt.Errorf("holds %d validation codes for %d transactions", len(md[i]), n)}
	}
	flags := protos.TxFilter(b)
	out := &BlockJSON{
		Number:       num,
		DataHash:     hex.EncodeToString(b.Header.DataHash),
		PreviousHash: hex.EncodeToString(b.Header.PreviousHash),
		Transactions: make([]TransactionJSON, 0, n),
	}
	for i, raw := range b.Data.Data {
		code := pb.TxValidationCode(flags[i])
		var t *TransactionJSON
		var fe *fieldErr
		env := &cb.Envelope{}
		if err := proto.Unmarshal(raw, env); err != nil {
			t, fe = d.newTx(code), &fieldErr{"envelope", fmt.Errorf("decode common.Envelope: %w", err)}
		} else {
			t, fe = d.tx(env, code)
		}
		if fe != nil {
			if code == pb.TxValidationCode_VALID {
				return nil, &DecodeError{Block: num, Tx: i, TxID: t.TxID, Field: fe.field, Err: fe.err}
			}
			t.DecodeError = fe.String()
		}
		out.Transactions = append(out.Transactions, *t)
	}
	meta, fe := d.metadata(md)
	if fe != nil {
		return nil, &DecodeError{Block: num, Tx: -1, Field: fe.field, Err: fe.err}
	}
	out.Metadata = meta
	return out, nil
}

// TransactionBytes decodes a marshalled common.Envelope.
func (o Options) TransactionBytes(raw []byte, code pb.TxValidationCode, blockNum uint64) (*TransactionJSON, error) {
	env := &cb.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, &DecodeError{Block: blockNum, Tx: -1, Field: "envelope", Err: fmt.Errorf("decode common.Envelope: %w", err)}
	}
	return o.Transaction(env, code, blockNum)
}

// ProcessedTransaction decodes a pb.ProcessedTransaction: its envelope with
// its validation code.
func (o Options) ProcessedTransaction(pt *pb.ProcessedTransaction, blockNum uint64) (*TransactionJSON, error) {
	if pt == nil {
		return nil, &DecodeError{Block: blockNum, Tx: -1, Field: "processed_transaction", Err: errors.New("no processed transaction given")}
	}
	return o.Transaction(pt.TransactionEnvelope, pb.TxValidationCode(pt.ValidationCode), blockNum)
}

// Transaction decodes one envelope that the ledger holds in block blockNum
// with validation code code.
func (o Options) Transaction(env *cb.Envelope, code pb.TxValidationCode, blockNum uint64) (*TransactionJSON, error) {
	d := newDecoder(o, blockNum)
	t, fe := d.tx(env, code)
	if fe != nil {
		if code == pb.TxValidationCode_VALID {
			return nil, &DecodeError{Block: blockNum, Tx: -1, TxID: t.TxID, Field: fe.field, Err: fe.err}
		}
		t.DecodeError = fe.String()
	}
	return t, nil
}

// fieldErr is a decode failure at a field path inside one envelope or the
// block metadata.
type fieldErr struct {
	field string
	err   error
}

func (e *fieldErr) String() string { return "field " + e.field + ": " + e.err.Error() }

// unmarshal decodes raw into m, naming field and message on failure.
func unmarshal(field string, raw []byte, m proto.Message) *fieldErr {
	if err := proto.Unmarshal(raw, m); err != nil {
		return &fieldErr{field, fmt.Errorf("decode %s: %w", m.ProtoReflect().Descriptor().FullName(), err)}
	}
	return nil
}

func missing(field, what string) *fieldErr {
	return &fieldErr{field, errors.New(what)}
}

type decoder struct {
	opts  Options
	block uint64
	ids   map[string]IdentityJSON // by serialized identity: a block repeats a few identities many times
}

func newDecoder(o Options, block uint64) *decoder {
	return &decoder{opts: o, block: block, ids: map[string]IdentityJSON{}}
}

func (d *decoder) identity(field string, serialized []byte) (*IdentityJSON, *fieldErr) {
	if id, ok := d.ids[string(serialized)]; ok {
		return &id, nil
	}
	id, err := msp.ParseSerializedIdentity(serialized)
	if err != nil {
		return nil, &fieldErr{field, err}
	}
	j := IdentityJSON{MSPID: id.MSPID, Subject: id.Cert.Subject.String()}
	if d.opts.Certificates {
		j.Certificate = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Raw}))
	}
	d.ids[string(serialized)] = j
	return &j, nil
}

func (d *decoder) newTx(code pb.TxValidationCode) *TransactionJSON {
	return &TransactionJSON{BlockNumber: d.block, ValidationCode: code.String()}
}

// tx decodes one envelope. It always returns the transaction, filled as far as
// decoding got.
func (d *decoder) tx(env *cb.Envelope, code pb.TxValidationCode) (*TransactionJSON, *fieldErr) {
	t := d.newTx(code)
	if env == nil {
		return t, missing("envelope", "no envelope")
	}
	if len(env.Payload) == 0 {
		return t, missing("payload", "envelope has no payload")
	}
	payload := &cb.Payload{}
	if fe := unmarshal("payload", env.Payload, payload); fe != nil {
		return t, fe
	}
	if payload.Header == nil {
		return t, missing("payload.header", "payload has no header")
	}
	chdr, err := protos.UnmarshalChannelHeader(payload.Header.ChannelHeader)
	if err != nil {
		return t, &fieldErr{"payload.header.channel_header", err}
	}
	t.TxID, t.Channel = chdr.TxId, chdr.ChannelId
	typ := cb.HeaderType(chdr.Type)
	t.Type = typ.String()
	if chdr.Timestamp != nil {
		if err := chdr.Timestamp.CheckValid(); err != nil {
			return t, &fieldErr{"payload.header.channel_header.timestamp", err}
		}
		t.Timestamp = chdr.Timestamp.AsTime().UTC().Format(time.RFC3339Nano)
	}
	if _, known := cb.HeaderType_name[chdr.Type]; !known {
		return t, &fieldErr{"payload.header.channel_header.type", fmt.Errorf("unknown header type %d", chdr.Type)}
	}

	// configtxgen writes the genesis CONFIG envelope without a creator; every
	// other envelope must name one.
	shdr := &cb.SignatureHeader{}
	if fe := unmarshal("payload.header.signature_header", payload.Header.SignatureHeader, shdr); fe != nil {
		return t, fe
	}
	if len(shdr.Creator) > 0 {
		c, fe := d.identity("payload.header.signature_header.creator", shdr.Creator)
		if fe != nil {
			return t, fe
		}
		t.Creator = c
	} else if typ != cb.HeaderType_CONFIG {
		return t, missing("payload.header.signature_header.creator", "envelope names no creator")
	}

	switch typ {
	case cb.HeaderType_ENDORSER_TRANSACTION:
		return t, d.endorserTx(t, payload.Data)
	case cb.HeaderType_CONFIG:
		c, fe := configSummary(payload.Data)
		t.Config = c
		return t, fe
	}
	return t, nil
}
