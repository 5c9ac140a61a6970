package validator

import (
	"fmt"
	"reflect"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// sameExported reports where a and b, decoded messages, differ in their
// exported fields, telling a nil slice from an empty one and an absent
// message from an empty one (proto.Equal tells neither bytes apart).
func sameExported(a, b reflect.Value, path string) error {
	if a.Type() != b.Type() {
		return fmt.Errorf("%s: types %s and %s", path, a.Type(), b.Type())
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface: // an interface: a oneof's value
		if a.IsNil() != b.IsNil() {
			return fmt.Errorf("%s: nil %v against nil %v", path, a.IsNil(), b.IsNil())
		}
		if a.IsNil() {
			return nil
		}
		return sameExported(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := range a.NumField() {
			f := a.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			if err := sameExported(a.Field(i), b.Field(i), path+"."+f.Name); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return fmt.Errorf("%s: nil %v len %d against nil %v len %d", path, a.IsNil(), a.Len(), b.IsNil(), b.Len())
		}
		for i := range a.Len() {
			if err := sameExported(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	default:
		if !a.CanInterface() || a.Interface() != b.Interface() {
			return fmt.Errorf("%s: %v against %v", path, a, b)
		}
		return nil
	}
}

// checkDecoder compares decode(raw) with proto.Unmarshal of raw into a new
// message of the same type: same error text, or the same message.
func checkDecoder[M proto.Message](t *testing.T, name string, raw []byte, decode func([]byte) (M, error), fresh func() M) {
	t.Helper()
	got, gotErr := decode(raw)
	want := fresh()
	wantErr := proto.Unmarshal(raw, want)
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("%s(%x): error %v, proto.Unmarshal gives %v", name, raw, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if err := sameExported(reflect.ValueOf(got), reflect.ValueOf(want), name); err != nil {
		t.Fatalf("%s(%x) differs from proto.Unmarshal: %v", name, raw, err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("%s(%x): not proto.Equal to proto.Unmarshal's message", name, raw)
	}
}

func checkAllDecoders(t *testing.T, raw []byte) {
	t.Helper()
	checkDecoder(t, "decodeEnvelope", raw, decodeEnvelope, func() *cb.Envelope { return &cb.Envelope{} })
	checkDecoder(t, "decodePayload", raw, decodePayload, func() *cb.Payload { return &cb.Payload{} })
	checkDecoder(t, "decodeSignatureHeader", raw, decodeSignatureHeader, func() *cb.SignatureHeader { return &cb.SignatureHeader{} })
	checkDecoder(t, "decodeTransaction", raw, decodeTransaction, func() *pb.Transaction { return &pb.Transaction{} })
	checkDecoder(t, "decodeChaincodeActionPayload", raw, decodeChaincodeActionPayload, func() *pb.ChaincodeActionPayload { return &pb.ChaincodeActionPayload{} })
	checkDecoder(t, "decodeProposalResponsePayload", raw, decodeProposalResponsePayload, func() *pb.ProposalResponsePayload { return &pb.ProposalResponsePayload{} })
}

func lenField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// wireSeeds are inputs in the plain form the in-place decoders read and in
// the forms they must leave to proto: empty and repeated fields, unknown
// fields, other wire types, truncations.
func wireSeeds() [][]byte {
	endorsement := lenField(lenField(nil, 1, []byte("endorser")), 2, []byte("sig"))
	action := lenField(lenField(lenField(nil, 1, []byte("prp")), 2, endorsement), 2, endorsement)
	cap := lenField(lenField(nil, 1, []byte("ccp")), 2, action)
	txAction := lenField(lenField(nil, 1, []byte("hdr")), 2, cap)
	tx := lenField(nil, 1, txAction)
	header := lenField(lenField(nil, 1, []byte("chdr")), 2, []byte("shdr"))
	payload := lenField(lenField(nil, 1, header), 2, tx)
	env := lenField(lenField(nil, 1, payload), 2, []byte("sig"))
	varint := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 5)
	seeds := [][]byte{
		nil, {}, endorsement, action, cap, txAction, tx, header, payload, env,
		lenField(nil, 1, nil), // field 1 present and empty
		lenField(nil, 2, nil), // field 2 present and empty
		lenField(lenField(nil, 1, []byte("a")), 1, []byte("b")),   // field 1 twice
		lenField(lenField(nil, 2, header), 2, header),             // field 2 twice (merged when a message)
		lenField(lenField(nil, 1, header), 1, header),             // field 1 twice (merged when a message)
		append(append([]byte(nil), env...), varint...),            // field 2 as a varint
		lenField(append([]byte(nil), env...), 7, nil),             // unknown field
		lenField(nil, 2, lenField(nil, 1, lenField(nil, 5, nil))), // unknown field two levels down
		lenField(tx, 1, varint),                                   // a second action that is no TransactionAction
		lenField(nil, 1, lenField(nil, 1, nil)),                   // nested empty
		{0x0a, 0x05, 0x01},                                        // length past the end
		{0x00},                                                    // field number 0
	}
	for _, s := range [][]byte{env, cap} {
		for i := 1; i < len(s); i += 5 {
			seeds = append(seeds, s[:i])
		}
	}
	return seeds
}

func TestInPlaceDecodersAgreeWithProto(t *testing.T) {
	for _, raw := range wireSeeds() {
		checkAllDecoders(t, raw)
	}
	// Every layer of every transaction of the Fabric fixture blocks (config
	// and endorser transactions).
	inPlace := 0
	for n := range 10 {
		b, _ := readFixture(t, n)
		// Block 9 holds hundreds of like transactions: a few are enough.
		for _, raw := range b.Data.Data[:min(len(b.Data.Data), 20)] {
			for _, layer := range fabricLayers(t, raw) {
				checkAllDecoders(t, layer)
			}
			// Fabric writes the plain form, which is read in place: the
			// payload is a slice of the envelope's own bytes.
			env, err := decodeEnvelope(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !sliceOf(env.Payload, raw) {
				t.Fatalf("block %d: decodeEnvelope copied the payload of a plain envelope", n)
			}
			inPlace++
		}
	}
	if inPlace < 10 {
		t.Fatalf("only %d fixture transactions checked", inPlace)
	}
}

// fabricLayers returns raw, a marshalled envelope, and the marshalled
// messages inside it that the in-place decoders read, as far as they go.
func fabricLayers(t *testing.T, raw []byte) [][]byte {
	t.Helper()
	out := [][]byte{raw}
	env := &cb.Envelope{}
	payload := &cb.Payload{}
	if proto.Unmarshal(raw, env) != nil || proto.Unmarshal(env.Payload, payload) != nil {
		t.Fatal("fixture envelope does not decode")
	}
	out = append(out, env.Payload, payload.GetHeader().GetSignatureHeader(), payload.Data)
	tx := &pb.Transaction{}
	if proto.Unmarshal(payload.Data, tx) != nil || len(tx.Actions) == 0 {
		return out
	}
	out = append(out, tx.Actions[0].Header, tx.Actions[0].Payload)
	cap := &pb.ChaincodeActionPayload{}
	if proto.Unmarshal(tx.Actions[0].Payload, cap) != nil {
		return out
	}
	return append(out, cap.GetAction().GetProposalResponsePayload())
}

// sliceOf reports whether sub is a non-empty slice of whole's memory.
func sliceOf(sub, whole []byte) bool {
	if len(sub) == 0 {
		return false
	}
	for i := range whole {
		if &whole[i] == &sub[0] {
			return true
		}
	}
	return false
}

func FuzzInPlaceDecoders(f *testing.F) {
	for _, s := range wireSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkAllDecoders(t, raw)
	})
}

func checkDecodeRWSet(t *testing.T, raw []byte) {
	t.Helper()
	got, gotErr := decodeRWSet(raw)
	want, wantErr := decodeRWSetByProto(raw)
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("decodeRWSet(%x): error %v, proto gives %v", raw, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if (got == nil) != (want == nil) || len(got) != len(want) {
		t.Fatalf("decodeRWSet(%x): %d namespaces (nil %v), proto gives %d (nil %v)", raw, len(got), got == nil, len(want), want == nil)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ns != w.ns || !proto.Equal(g.kv, w.kv) || len(g.colls) != len(w.colls) {
			t.Fatalf("decodeRWSet(%x) namespace %d: %q %v %d colls, proto gives %q %v %d", raw, i, g.ns, g.kv, len(g.colls), w.ns, w.kv, len(w.colls))
		}
		if err := sameExported(reflect.ValueOf(g.kv), reflect.ValueOf(w.kv), "kv"); err != nil {
			t.Fatalf("decodeRWSet(%x) namespace %d: %v", raw, i, err)
		}
		for j := range g.colls {
			gc, wc := g.colls[j], w.colls[j]
			if gc.name != wc.name || !proto.Equal(gc.hashed, wc.hashed) || string(gc.pvtHash) != string(wc.pvtHash) {
				t.Fatalf("decodeRWSet(%x) namespace %d collection %d differs", raw, i, j)
			}
		}
	}
}

func rwsetSeeds() [][]byte {
	kv := protos.Marshal(&kvrwset.KVRWSet{
		Reads:  []*kvrwset.KVRead{{Key: "a", Version: &kvrwset.Version{BlockNum: 1}}},
		Writes: []*kvrwset.KVWrite{{Key: "a", Value: []byte("v")}, {Key: "d", IsDelete: true}},
	})
	plain := protos.Marshal(&rwset.TxReadWriteSet{NsRwset: []*rwset.NsReadWriteSet{
		{Namespace: "basic", Rwset: kv}, {Namespace: "_lifecycle", Rwset: nil},
	}})
	withColl := protos.Marshal(&rwset.TxReadWriteSet{NsRwset: []*rwset.NsReadWriteSet{{
		Namespace: "basic", Rwset: kv,
		CollectionHashedRwset: []*rwset.CollectionHashedReadWriteSet{{CollectionName: "c", HashedRwset: nil, PvtRwsetHash: []byte{1}}},
	}}})
	badKV := lenField(nil, 2, lenField(lenField(nil, 1, []byte("basic")), 2, []byte{0x0a, 0x09}))
	return [][]byte{
		nil, {}, plain, withColl, badKV,
		append(append([]byte(nil), badKV...), 0x0a),                                    // bad KVRWSet, then a TxReadWriteSet that does not decode
		lenField(nil, 2, lenField(nil, 1, []byte{0xff})),                               // namespace not UTF-8
		lenField(nil, 1, []byte("x")),                                                  // data_model as bytes
		protowire.AppendVarint(protowire.AppendTag(plain, 1, protowire.VarintType), 7), // data_model after the sets
		lenField(nil, 2, lenField(lenField(nil, 1, []byte("a")), 1, []byte("b"))),      // namespace twice
		lenField(plain, 9, nil),                                                        // unknown field
	}
}

func TestDecodeRWSetAgreesWithProto(t *testing.T) {
	for _, raw := range rwsetSeeds() {
		checkDecodeRWSet(t, raw)
	}
	// The read/write sets of the Fabric fixture's endorser transactions.
	sets, plain := 0, 0
	for n := range 10 {
		b, _ := readFixture(t, n)
		for _, raw := range b.Data.Data[:min(len(b.Data.Data), 20)] {
			etx, err := protos.UnmarshalEnvelope(raw)
			if err != nil {
				continue // the genesis block's config transaction has no creator
			}
			tx, err := protos.ParseEndorserTx(etx)
			if err != nil {
				continue // a config transaction
			}
			results := tx.ChaincodeAction.Results
			checkDecodeRWSet(t, results)
			sets++
			if eachPlainNamespace(results, func(_, _ []byte) bool { return true }) {
				plain++
			}
		}
	}
	if sets < 5 || plain == 0 {
		t.Fatalf("%d fixture read/write sets checked, %d of them read in place", sets, plain)
	}
}

func FuzzDecodeRWSet(f *testing.F) {
	for _, s := range rwsetSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkDecodeRWSet(t, raw)
	})
}
