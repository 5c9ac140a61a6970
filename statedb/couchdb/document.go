package couchdb

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-ledger/weft/statedb"
)

// The fields Fabric gives every state document, and the attachment that holds
// a value that is not a JSON object.
const (
	idField          = "_id"
	revField         = "_rev"
	deletedField     = "_deleted"
	attachmentsField = "_attachments"
	versionField     = "~version"
	binaryAttachment = "valueBytes"
	binaryType       = "application/octet-stream"
)

// appendOrderPreserving appends n as Fabric's order-preserving varint: one
// byte giving the length of n's big-endian form without leading zeros,
// then that form (0 is the single byte 0x00).
func appendOrderPreserving(out []byte, n uint64) []byte {
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], n)
	i := 0
	for i < 8 && be[i] == 0 {
		i++
	}
	out = append(out, byte(8-i))
	return append(out, be[i:]...)
}

func consumeOrderPreserving(b []byte) (uint64, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errors.New("truncated height")
	}
	size := int(b[0])
	if size > 8 || size > len(b)-1 {
		return 0, nil, fmt.Errorf("height length byte %d with %d bytes left", size, len(b)-1)
	}
	var n uint64
	for _, c := range b[1 : 1+size] {
		n = n<<8 | uint64(c)
	}
	return n, b[1+size:], nil
}

// encodeVersionField is Fabric's "~version" field: a 0x00 byte, then the
// standard base64 of a protobuf message {1: version bytes, 2: metadata},
// where the version bytes are the block then the transaction number, each
// in the order-preserving varint.
func encodeVersionField(v statedb.Version, metadata []byte) string {
	height := appendOrderPreserving(nil, v.BlockNum)
	height = appendOrderPreserving(height, v.TxNum)
	msg := protowire.AppendTag(nil, 1, protowire.BytesType)
	msg = protowire.AppendBytes(msg, height)
	if len(metadata) > 0 {
		msg = protowire.AppendTag(msg, 2, protowire.BytesType)
		msg = protowire.AppendBytes(msg, metadata)
	}
	return "\x00" + base64.StdEncoding.EncodeToString(msg)
}

// decodeVersionField reads a "~version" field, including the "block:tx"
// form Fabric wrote before it stored metadata.
func decodeVersionField(s string) (statedb.Version, []byte, error) {
	if s == "" {
		return statedb.Version{}, nil, errors.New("empty version field")
	}
	if s[0] != 0 {
		blk, tx, ok := strings.Cut(s, ":")
		b, err1 := strconv.ParseUint(blk, 10, 64)
		t, err2 := strconv.ParseUint(tx, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return statedb.Version{}, nil, fmt.Errorf("version field %q is neither Fabric encoding", s)
		}
		return statedb.Version{BlockNum: b, TxNum: t}, nil, nil
	}
	msg, err := base64.StdEncoding.DecodeString(s[1:])
	if err != nil {
		return statedb.Version{}, nil, fmt.Errorf("version field: %w", err)
	}
	var height, metadata []byte
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return statedb.Version{}, nil, fmt.Errorf("version field: %w", protowire.ParseError(n))
		}
		msg = msg[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, msg)
			if n < 0 {
				return statedb.Version{}, nil, fmt.Errorf("version field: %w", protowire.ParseError(n))
			}
			msg = msg[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(msg)
		if n < 0 {
			return statedb.Version{}, nil, fmt.Errorf("version field: %w", protowire.ParseError(n))
		}
		msg = msg[n:]
		switch num {
		case 1:
			height = v
		case 2:
			metadata = append([]byte(nil), v...)
		}
	}
	blk, rest, err := consumeOrderPreserving(height)
	if err != nil {
		return statedb.Version{}, nil, fmt.Errorf("version field: %w", err)
	}
	tx, _, err := consumeOrderPreserving(rest)
	if err != nil {
		return statedb.Version{}, nil, fmt.Errorf("version field: %w", err)
	}
	return statedb.Version{BlockNum: blk, TxNum: tx}, metadata, nil
}

// jsonObjectFields returns the top-level field names of value when it is a
// JSON object that CouchDB can store as a document's fields, and ok=false
// for any other value (arrays, strings, numbers, null, non-JSON bytes),
// which is kept intact as an attachment. Fabric also sends a JSON object
// holding invalid UTF-8 as fields, after its JSON re-encoding has replaced
// the bad bytes with U+FFFD; Weft keeps such a value byte for byte as an
// attachment instead.
func jsonObjectFields(value []byte) (fields []string, ok bool) {
	t := bytes.TrimLeft(value, " \t\r\n")
	if len(t) == 0 || t[0] != '{' || !utf8.Valid(value) || !json.Valid(value) {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(value, &m); err != nil {
		return nil, false
	}
	fields = make([]string, 0, len(m))
	for f := range m {
		fields = append(fields, f)
	}
	return fields, true
}

// reservedField returns the first field of a JSON value that CouchDB or
// Fabric reserve: "~version" and any field starting with "_".
func reservedField(fields []string) (string, bool) {
	var bad []string
	for _, f := range fields {
		if f == versionField || strings.HasPrefix(f, "_") {
			bad = append(bad, f)
		}
	}
	if len(bad) == 0 {
		return "", false
	}
	// The smallest, so the message is the same on every peer.
	min := bad[0]
	for _, f := range bad[1:] {
		if f < min {
			min = f
		}
	}
	return min, true
}

func errReservedField(field string) error {
	return fmt.Errorf("field [%s] is not valid for the CouchDB state database", field)
}

// encodeDoc builds the JSON document Fabric writes for a value: a JSON
// object's own fields beside _id, _rev and ~version, any other value as the
// inline base64 attachment "valueBytes", and a delete as a document with
// _deleted (which keeps the version, as Fabric's does). rev is "" for a
// document CouchDB does not hold yet. isJSON says the value is a JSON object
// (jsonObjectFields) whose fields the caller has checked (reservedField).
func encodeDoc(id, rev string, vv *statedb.VersionedValue, isJSON, deleted bool, v statedb.Version) []byte {
	var b bytes.Buffer
	b.WriteString(`{"_id":`)
	writeJSONString(&b, id)
	if rev != "" {
		b.WriteString(`,"_rev":`)
		writeJSONString(&b, rev)
	}
	if deleted {
		b.WriteString(`,"~version":`)
		writeJSONString(&b, encodeVersionField(v, nil))
		b.WriteString(`,"_deleted":true}`)
		return b.Bytes()
	}
	b.WriteString(`,"~version":`)
	writeJSONString(&b, encodeVersionField(vv.Version, vv.Metadata))
	if isJSON {
		// Splice the object's own fields in as the client wrote them:
		// CouchDB parses them anyway, and re-encoding here would cost a
		// decode and encode per write.
		body := bytes.TrimSpace(vv.Value)
		inner := bytes.TrimSpace(body[1 : len(body)-1])
		if len(inner) > 0 {
			b.WriteByte(',')
			b.Write(inner)
		}
		b.WriteByte('}')
		return b.Bytes()
	}
	b.WriteString(`,"_attachments":{"` + binaryAttachment + `":{"content_type":"` + binaryType + `","data":"`)
	enc := base64.NewEncoder(base64.StdEncoding, &b)
	_, _ = enc.Write(vv.Value)
	_ = enc.Close()
	b.WriteString(`"}}}`)
	return b.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}

// storedDoc is a state document as CouchDB returned it.
type storedDoc struct {
	id, rev string
	vv      statedb.VersionedValue
	// stub is set when the document holds an attachment whose bytes the
	// response left out (a _find result); it must be fetched on its own.
	stub bool
}

// decodeDoc reads a state document. The value of a JSON document is what
// Fabric returns: its fields without _id, _rev and ~version, marshalled by
// encoding/json (fields sorted, numbers as CouchDB spelled them, <, > and &
// escaped). An attachment document's value is the attachment's bytes.
func decodeDoc(raw []byte) (*storedDoc, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode document: %w", err)
	}
	d := &storedDoc{}
	d.id, _ = m[idField].(string)
	d.rev, _ = m[revField].(string)
	ver, ok := m[versionField].(string)
	if !ok {
		return nil, fmt.Errorf("document %q has no %s field: it was not written by a Fabric-compatible peer", d.id, versionField)
	}
	var err error
	d.vv.Version, d.vv.Metadata, err = decodeVersionField(ver)
	if err != nil {
		return nil, fmt.Errorf("document %q: %w", d.id, err)
	}
	if atts, ok := m[attachmentsField].(map[string]any); ok {
		att, _ := atts[binaryAttachment].(map[string]any)
		data, hasData := att["data"].(string)
		if !hasData {
			d.stub = true
			return d, nil
		}
		d.vv.Value, err = base64.StdEncoding.DecodeString(data)
		if err != nil {
			return nil, fmt.Errorf("document %q: attachment %s: %w", d.id, binaryAttachment, err)
		}
		return d, nil
	}
	for f := range m {
		if f == versionField || strings.HasPrefix(f, "_") {
			delete(m, f)
		}
	}
	d.vv.Value, err = json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("document %q: %w", d.id, err)
	}
	return d, nil
}

// cacheableValue returns what decodeDoc will return for value once CouchDB
// has stored it, when that can be known without asking CouchDB: always for
// an attachment, and for a JSON object when every number in it is an
// integer CouchDB and PouchDB both keep exactly (|n| < 10^15, not -0).
// Floats and large integers may come back spelled differently (1.50 as
// 1.5), so their value is not cached at commit but read back once.
func cacheableValue(value []byte) ([]byte, bool) {
	if _, ok := jsonObjectFields(value); !ok {
		return value, true
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || !exactNumbers(m) {
		return nil, false
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, false
	}
	return out, true
}

func exactNumbers(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if !exactNumbers(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !exactNumbers(e) {
				return false
			}
		}
	case json.Number:
		s := string(x)
		digits := strings.TrimPrefix(s, "-")
		if s == "-0" || len(digits) == 0 || len(digits) > 15 || (len(digits) > 1 && digits[0] == '0') {
			return false
		}
		for _, c := range []byte(digits) {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}
