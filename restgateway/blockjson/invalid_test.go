package blockjson

import (
	"errors"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/protos"
)

// Each broken envelope sits at index 1 behind a good one; marked VALID it
// fails the whole block naming index and field, marked invalid it decodes
// with decodeError set.
func TestBrokenTransactions(t *testing.T) {
	good := buildEnvelope(t, txSpec{args: [][]byte{[]byte("ReadAsset"), []byte("asset1")}})
	cases := []struct {
		name      string
		env       []byte
		field     string
		code      pb.TxValidationCode
		wantTxID  bool // the channel header was readable
		wantInput bool // decoding got as far as the input
	}{
		{"garbage bytes", []byte{0xff, 0xff, 0xff}, "envelope", pb.TxValidationCode_BAD_PAYLOAD, false, false},
		{"truncated envelope", good[:len(good)/2], "envelope", pb.TxValidationCode_BAD_PAYLOAD, false, false},
		{"no payload", protos.Marshal(&cb.Envelope{Signature: []byte("sig")}), "payload", pb.TxValidationCode_NIL_ENVELOPE, false, false},
		{"unknown header type", buildEnvelope(t, txSpec{typ: 99}), "payload.header.channel_header.type", pb.TxValidationCode_UNKNOWN_TX_TYPE, true, false},
		{"creator not a certificate", buildEnvelope(t, txSpec{creator: protos.Marshal(&mspproto.SerializedIdentity{Mspid: "Org1MSP", IdBytes: []byte("no PEM here")})}), "payload.header.signature_header.creator", pb.TxValidationCode_BAD_CREATOR_SIGNATURE, true, false},
		{"two actions", buildEnvelope(t, txSpec{rawTxData: protos.Marshal(&pb.Transaction{Actions: []*pb.TransactionAction{{}, {}}})}), "payload.data.actions", pb.TxValidationCode_BAD_PAYLOAD, true, false},
		{"garbage transaction", buildEnvelope(t, txSpec{rawTxData: []byte{0x0a, 0x05, 0x01}}), "payload.data", pb.TxValidationCode_BAD_PAYLOAD, true, false},
		{"bad endorser", buildEnvelope(t, txSpec{endorser: []byte("not an identity")}), "payload.data.actions[0].payload.action.endorsements[0].endorser", pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, true, true},
		{"bad rwset", buildEnvelope(t, txSpec{rawRwset: []byte{0x12, 0x09, 0x00}}), "payload.data.actions[0].payload.action.proposal_response_payload.extension.results", pb.TxValidationCode_BAD_RWSET, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Block(buildBlock([][]byte{good, c.env}, pb.TxValidationCode_VALID, pb.TxValidationCode_VALID))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("marked VALID: err = %v, want a *DecodeError", err)
			}
			if de.Block != 12 || de.Tx != 1 || de.Field != c.field || (de.TxID != "") != c.wantTxID {
				t.Fatalf("marked VALID: block %d tx %d field %q txId %q; want block 12 tx 1 field %q (%v)", de.Block, de.Tx, de.Field, de.TxID, c.field, err)
			}
			if !strings.Contains(err.Error(), "block 12, transaction 1") || !strings.Contains(err.Error(), "field "+c.field+": ") {
				t.Fatalf("message does not name block, transaction and field: %v", err)
			}

			b, err := Block(buildBlock([][]byte{good, c.env}, pb.TxValidationCode_VALID, c.code))
			if err != nil {
				t.Fatalf("marked %s: %v", c.code, err)
			}
			tx := b.Transactions[1]
			if tx.ValidationCode != c.code.String() || !strings.HasPrefix(tx.DecodeError, "field "+c.field+": ") {
				t.Fatalf("marked %s: code %s decodeError %q", c.code, tx.ValidationCode, tx.DecodeError)
			}
			if (tx.TxID != "") != c.wantTxID || (tx.Input != nil) != c.wantInput || tx.BlockNumber != 12 {
				t.Fatalf("partial transaction: txId %q input %+v block %d", tx.TxID, tx.Input, tx.BlockNumber)
			}
			if b.Transactions[0].DecodeError != "" || b.Transactions[0].Input.Function != "ReadAsset" {
				t.Fatalf("the good transaction suffered: %+v", b.Transactions[0])
			}

			// The same envelope alone, as "transaction by ID".
			if _, err := TransactionBytes(c.env, pb.TxValidationCode_VALID, 12); !errors.As(err, &de) || de.Field != c.field || de.Tx != -1 {
				t.Fatalf("TransactionBytes marked VALID: %v", err)
			}
			lone, err := TransactionBytes(c.env, c.code, 12)
			if err != nil && c.field != "envelope" {
				t.Fatalf("TransactionBytes marked %s: %v", c.code, err)
			}
			if err == nil && lone.DecodeError != tx.DecodeError {
				t.Fatalf("TransactionBytes decodeError %q, block gave %q", lone.DecodeError, tx.DecodeError)
			}
		})
	}
}

func TestBrokenBlocks(t *testing.T) {
	good := buildEnvelope(t, txSpec{})
	raw := fabricfixture.ReadFile(t, "blocks/block_000007.pb")
	noHeader := buildBlock([][]byte{good})
	noHeader.Header = nil
	badFilter := buildBlock([][]byte{good, good}, pb.TxValidationCode_VALID)
	badSigs := buildBlock([][]byte{good})
	badSigs.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES] = []byte{0x0a, 0x09}
	cases := []struct {
		name   string
		decode func() (*BlockJSON, error)
		field  string
	}{
		{"truncated block bytes", func() (*BlockJSON, error) { return BlockBytes(raw[:len(raw)-40]) }, "block"},
		{"garbage block bytes", func() (*BlockJSON, error) { return BlockBytes([]byte("not a block")) }, "block"},
		{"nil block", func() (*BlockJSON, error) { return Block(nil) }, "block"},
		{"no header", func() (*BlockJSON, error) { return Block(noHeader) }, "header"},
		{"filter of the wrong length", func() (*BlockJSON, error) { return Block(badFilter) }, "metadata.metadata[TRANSACTIONS_FILTER]"},
		{"garbage signatures metadata", func() (*BlockJSON, error) { return Block(badSigs) }, "metadata.metadata[SIGNATURES]"},
	}
	for _, c := range cases {
		b, err := c.decode()
		var de *DecodeError
		if b != nil || !errors.As(err, &de) || de.Field != c.field || de.Tx != -1 {
			t.Fatalf("%s: block %v, err %v; want a *DecodeError on field %q", c.name, b, err, c.field)
		}
	}
}

// A well-formed transaction the peer marked invalid decodes fully, with its code.
func TestInvalidButWellFormed(t *testing.T) {
	env := buildEnvelope(t, txSpec{
		args: [][]byte{[]byte("TransferAsset"), []byte("asset1"), []byte("Max")},
		kv: &kvrwset.KVRWSet{
			Reads:  []*kvrwset.KVRead{{Key: "asset1", Version: &kvrwset.Version{BlockNum: 9, TxNum: 4}}},
			Writes: []*kvrwset.KVWrite{{Key: "asset1", Value: []byte(`{"ID":"asset1","Owner":"Max"}`)}},
		},
	})
	for _, code := range []pb.TxValidationCode{pb.TxValidationCode_MVCC_READ_CONFLICT, pb.TxValidationCode_PHANTOM_READ_CONFLICT, pb.TxValidationCode_DUPLICATE_TXID, 200} {
		b, err := Block(buildBlock([][]byte{env}, code))
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		tx := b.Transactions[0]
		if tx.ValidationCode != code.String() || tx.DecodeError != "" || tx.Creator.MSPID != "Org1MSP" ||
			tx.Namespaces[0].Reads[0].Version.TxNum != 4 || *tx.Namespaces[0].Writes[0].Value != `{"ID":"asset1","Owner":"Max"}` {
			t.Fatalf("%s: %+v", code, tx)
		}
	}
	if code := pb.TxValidationCode(200).String(); code != "200" {
		t.Fatalf("an unknown code reads %q", code)
	}
}

func TestTextRules(t *testing.T) {
	env := buildEnvelope(t, txSpec{
		args:     [][]byte{[]byte("Put"), {0x00, 0x01}, []byte("héllo\n"), {}},
		response: &pb.Response{Status: 500, Message: "asset9 does not exist", Payload: []byte{0xff}},
		event:    &pb.ChaincodeEvent{EventName: "Transfer", Payload: []byte(`{"id":"asset1"}`)},
		kv: &kvrwset.KVRWSet{
			Writes: []*kvrwset.KVWrite{
				{Key: "bin", Value: []byte{0xc3, 0x28}},
				{Key: "gone", IsDelete: true},
				{Key: "\x00color~name\x00blue\x00asset1\x00", Value: []byte{0x00}},
			},
			RangeQueriesInfo: []*kvrwset.RangeQueryInfo{
				{StartKey: "a", EndKey: "b", ItrExhausted: true, ReadsInfo: &kvrwset.RangeQueryInfo_RawReads{RawReads: &kvrwset.QueryReads{KvReads: []*kvrwset.KVRead{{Key: "a1"}, {Key: "a2"}}}}},
				{StartKey: "c", ReadsInfo: &kvrwset.RangeQueryInfo_ReadsMerkleHashes{ReadsMerkleHashes: &kvrwset.QueryReadsMerkleSummary{MaxDegree: 50}}},
			},
		},
	})
	tx, err := TransactionBytes(env, pb.TxValidationCode_VALID, 3)
	if err != nil {
		t.Fatal(err)
	}
	in := tx.Input
	if in.Function != "Put" || len(in.Args) != 3 || in.Args[0] != nil || *in.Args[1] != "héllo\n" || *in.Args[2] != "" ||
		in.ArgsBase64[0] != "AAE=" || in.ArgsBase64[2] != "" {
		t.Fatalf("input %+v", in)
	}
	if r := tx.Response; r.Status != 500 || r.Message != "asset9 does not exist" || r.Payload != nil || r.PayloadBase64 != "/w==" {
		t.Fatalf("response %+v", r)
	}
	if e := tx.Event; e == nil || e.Name != "Transfer" || *e.Payload != `{"id":"asset1"}` {
		t.Fatalf("event %+v", e)
	}
	w := tx.Namespaces[0].Writes
	if w[0].Value != nil || w[0].ValueBase64 != "wyg=" || !w[1].IsDelete || *w[1].Value != "" || w[2].Key != "\x00color~name\x00blue\x00asset1\x00" || w[2].Value != nil {
		t.Fatalf("writes %+v", w)
	}
	q := tx.Namespaces[0].RangeQueries
	if len(q) != 2 || q[0] != (RangeQueryJSON{StartKey: "a", EndKey: "b", ItrExhausted: true, Reads: 2}) || !q[1].MerkleHashed {
		t.Fatalf("range queries %+v", q)
	}
}
