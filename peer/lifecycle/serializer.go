package lifecycle

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sort"

	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// Prefixes ("sub-namespaces") inside the `_lifecycle` namespace, as Fabric names them.
const (
	namespacesPrefix = "namespaces"
	sourcesPrefix    = "chaincode-sources"

	typeDefinition   = "ChaincodeDefinition"
	typeParameters   = "ChaincodeParameters"
	typeLocalPackage = "ChaincodeLocalPackage"
)

func metadataKey(prefix, name string) string { return prefix + "/metadata/" + name }

func fieldKey(prefix, name, field string) string { return prefix + "/fields/" + name + "/" + field }

// field is one serialized member of a record, in declaration order.
type field struct {
	name string
	data *lb.StateData
}

// record is a structure stored as one metadata key plus one key per field.
// The field order is part of the format: other organisations compare hashes.
type record struct {
	datatype string
	fields   []field
}

func (r *record) fieldNames() []string {
	out := make([]string, len(r.fields))
	for i, f := range r.fields {
		out[i] = f.name
	}
	return out
}

func int64Data(v int64) *lb.StateData {
	return &lb.StateData{Type: &lb.StateData_Int64{Int64: v}}
}

func stringData(v string) *lb.StateData {
	return &lb.StateData{Type: &lb.StateData_String_{String_: v}}
}

// protoData stores a message as bytes; a nil message is stored as empty bytes,
// which is what Fabric writes for an absent collection package.
func protoData(m proto.Message) *lb.StateData {
	var b []byte
	if m != nil && m.ProtoReflect().IsValid() {
		b = protos.Marshal(m)
	}
	return &lb.StateData{Type: &lb.StateData_Bytes{Bytes: b}}
}

// kvState reads and writes plain values (public state, or this org's private state).
type kvState interface {
	GetState(key string) ([]byte, error)
	PutState(key string, value []byte) error
	DelState(key string) error
}

// readState reads plain values.
type readState interface {
	GetState(key string) ([]byte, error)
}

// hashState reads only value hashes (another org's implicit collection).
type hashState interface {
	GetStateHash(key string) ([]byte, error)
	Collection() string
}

func readMetadata(prefix, name string, st readState) (*lb.StateMetadata, bool, error) {
	raw, err := st.GetState(metadataKey(prefix, name))
	if err != nil {
		return nil, false, fmt.Errorf("read metadata of %s/%s: %w", prefix, name, err)
	}
	if raw == nil {
		return nil, false, nil
	}
	md := &lb.StateMetadata{}
	if err := proto.Unmarshal(raw, md); err != nil {
		return nil, false, fmt.Errorf("decode metadata of %s/%s: %w", prefix, name, err)
	}
	return md, true, nil
}

func readField(prefix, name, fieldName string, st readState) (*lb.StateData, error) {
	key, raw, err := readRaw(prefix, name, fieldName, st)
	if err != nil {
		return nil, err
	}
	return decodeField(key, raw)
}

// readRaw reads a field's bytes, returning its key too.
func readRaw(prefix, name, fieldName string, st readState) (string, []byte, error) {
	key := fieldKey(prefix, name, fieldName)
	raw, err := st.GetState(key)
	if err != nil {
		return key, nil, fmt.Errorf("read %s: %w", key, err)
	}
	return key, raw, nil
}

// decodeField decodes the StateData of field key.
func decodeField(key string, raw []byte) (*lb.StateData, error) {
	d := &lb.StateData{}
	if err := proto.Unmarshal(raw, d); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return d, nil
}

// int64Field reads the value of a StateData holding an Int64 as it is
// written (the field alone, or nothing for an absent key) without
// decoding it into a message: every endorsement reads a chaincode's
// sequence. It declines (false) anything else, which readInt64 decodes.
func int64Field(raw []byte) (int64, bool) {
	if len(raw) == 0 {
		return 0, true
	}
	if raw[0] != stateDataInt64Tag {
		return 0, false
	}
	v, n := protowire.ConsumeVarint(raw[1:])
	if n < 0 || 1+n != len(raw) {
		return 0, false
	}
	return int64(v), true
}

// stateDataInt64Tag is the tag of StateData.Int64 (field 1, varint).
const stateDataInt64Tag = 1<<3 | byte(protowire.VarintType)

func readInt64(prefix, name, fieldName string, st readState) (int64, error) {
	key, raw, err := readRaw(prefix, name, fieldName, st)
	if err != nil {
		return 0, err
	}
	if v, ok := int64Field(raw); ok {
		return v, nil
	}
	d, err := decodeField(key, raw)
	if err != nil {
		return 0, err
	}
	switch t := d.Type.(type) {
	case nil:
		return 0, nil
	case *lb.StateData_Int64:
		return t.Int64, nil
	default:
		return 0, fmt.Errorf("%s holds %T, want an Int64", fieldKey(prefix, name, fieldName), d.Type)
	}
}

func readString(prefix, name, fieldName string, st readState) (string, error) {
	d, err := readField(prefix, name, fieldName, st)
	if err != nil {
		return "", err
	}
	switch t := d.Type.(type) {
	case nil:
		return "", nil
	case *lb.StateData_String_:
		return t.String_, nil
	default:
		return "", fmt.Errorf("%s holds %T, want a String", fieldKey(prefix, name, fieldName), d.Type)
	}
}

func readProto(prefix, name, fieldName string, st readState, m proto.Message) error {
	d, err := readField(prefix, name, fieldName, st)
	if err != nil {
		return err
	}
	var b []byte
	switch t := d.Type.(type) {
	case nil:
	case *lb.StateData_Bytes:
		b = t.Bytes
	default:
		return fmt.Errorf("%s holds %T, want Bytes", fieldKey(prefix, name, fieldName), d.Type)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("decode %s as %T: %w", fieldKey(prefix, name, fieldName), m, err)
	}
	return nil
}

// serialize writes rec under prefix/name, writing only the keys whose value
// changes and the metadata only when the set of fields or the type changes;
// keys of fields no longer present are deleted.
func serialize(prefix, name string, rec *record, st kvState) error {
	md, ok, err := readMetadata(prefix, name, st)
	if err != nil {
		return err
	}
	if !ok {
		md = &lb.StateMetadata{}
	}
	existing := map[string][]byte{}
	for _, f := range md.Fields {
		key := fieldKey(prefix, name, f)
		v, err := st.GetState(key)
		if err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
		existing[key] = v
	}
	for _, f := range rec.fields {
		key := fieldKey(prefix, name, f.name)
		val := protos.Marshal(f.data)
		if old, ok := existing[key]; !ok || !bytes.Equal(old, val) {
			if err := st.PutState(key, val); err != nil {
				return fmt.Errorf("write %s: %w", key, err)
			}
		}
		delete(existing, key)
	}
	if len(existing) > 0 || md.Datatype != rec.datatype || len(md.Fields) != len(rec.fields) {
		newMD := &lb.StateMetadata{Datatype: rec.datatype, Fields: rec.fieldNames()}
		if err := st.PutState(metadataKey(prefix, name), protos.Marshal(newMD)); err != nil {
			return fmt.Errorf("write %s: %w", metadataKey(prefix, name), err)
		}
	}
	stale := make([]string, 0, len(existing))
	for k := range existing {
		stale = append(stale, k)
	}
	sort.Strings(stale)
	for _, k := range stale {
		if err := st.DelState(k); err != nil {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return nil
}

// isSerialized reports whether the hashes stored under prefix/name are those
// of rec, reading the hash of the metadata and of every field first (so the
// read set does not depend on where a mismatch is).
func isSerialized(prefix, name string, rec *record, st hashState) (bool, error) {
	keys := []string{metadataKey(prefix, name)}
	for _, f := range rec.fields {
		keys = append(keys, fieldKey(prefix, name, f.name))
	}
	hashes := make(map[string][]byte, len(keys))
	for _, k := range keys {
		h, err := st.GetStateHash(k)
		if err != nil {
			return false, fmt.Errorf("read hash of %s in %s: %w", k, st.Collection(), err)
		}
		hashes[k] = h
	}
	md := protos.Marshal(&lb.StateMetadata{Datatype: rec.datatype, Fields: rec.fieldNames()})
	if !bytes.Equal(sha256Of(md), hashes[keys[0]]) {
		return false, nil
	}
	for i, f := range rec.fields {
		if !bytes.Equal(sha256Of(protos.Marshal(f.data)), hashes[keys[i+1]]) {
			return false, nil
		}
	}
	return true, nil
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
