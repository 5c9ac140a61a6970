package couchdb

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// CouchDB refuses database names longer than this (its max_dbname_length);
// Fabric truncates names past it.
const maxDBNameLength = 238

// Fabric keeps this many bytes of each part of a name it must truncate.
const (
	channelNameKept    = 50
	namespaceNameKept  = 50
	collectionNameKept = 50
	// A truncated namespace database name is at most
	// 50 + len("_") + 50 + len("$$") + 50 + len("(") + 64 + len(")").
	maxTruncatedName = channelNameKept + 1 + namespaceNameKept + 2 + collectionNameKept + 1 + 64 + 1
)

// The documents Fabric keeps in a channel's metadata database.
const (
	savepointDocID       = "statedb_savepoint"
	channelMetadataDocID = "channel_metadata"
	// Fabric records the format of its state data in this database and
	// document; the name's double underscore keeps it apart from channel
	// databases.
	internalDBName       = "fabric__internal"
	dataformatDocID      = "dataformatVersion"
	currentDataformatVer = "2.0"
)

// Namespaces holding the hashes of private data end in $$h<collection>.
const hashedNamespaceMarker = "$$h"

// validPrefix reports why prefix cannot start CouchDB database names.
func validPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > maxDBNameLength-maxTruncatedName {
		return fmt.Errorf("DatabasePrefix %q is longer than %d characters", prefix, maxDBNameLength-maxTruncatedName)
	}
	if prefix[0] < 'a' || prefix[0] > 'z' {
		return fmt.Errorf("DatabasePrefix %q must start with a lower-case letter", prefix)
	}
	for _, c := range []byte(prefix) {
		if !dbNameByte(c) || c == '.' {
			return fmt.Errorf("DatabasePrefix %q holds %q; CouchDB database names allow a-z, 0-9 and _$()+-/", prefix, c)
		}
	}
	return nil
}

func dbNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("_$()+-/.", c) >= 0
}

// escapeUpperCase writes each upper-case letter as '$' and its lower case,
// as Fabric does, since CouchDB database names are lower case.
func escapeUpperCase(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			b.WriteByte('$')
			b.WriteByte(c + 'a' - 'A')
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// checkDBName checks a name built by metadataDBName or namespaceDBName
// against what CouchDB accepts, and maps '.' (allowed in channel names) to
// '$' as Fabric does; channel and chaincode names never hold '$' themselves,
// so the mapping cannot make two names collide.
func checkDBName(name, what string) (string, error) {
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return "", fmt.Errorf("%s: database name %q must start with a lower-case letter", what, name)
	}
	for i := 0; i < len(name); i++ {
		if !dbNameByte(name[i]) {
			return "", fmt.Errorf("%s: database name %q holds %q, which CouchDB does not allow", what, name, name[i])
		}
	}
	return strings.ReplaceAll(name, ".", "$"), nil
}

// metadataDBName is the name of channel's metadata database: the channel's
// name and "_", with the channel's name cut to 50 bytes plus its hash when
// the name would be too long. limit is what is left of CouchDB's name length
// after the database prefix.
func metadataDBName(channel string, limit int) string {
	if len(channel) > limit {
		channel = channel[:channelNameKept] + "(" + sha256Hex(channel) + ")"
	}
	return channel + "_"
}

// namespaceDBName is the name of the database of namespace ns (a chaincode,
// ns$$p<collection> or ns$$h<collection>) in channel: "<channel>_<ns>" with
// upper-case letters escaped. Past limit, the channel, the chaincode and the
// collection parts are cut to 50 bytes each and the SHA-256 of the
// unescaped "<channel>_<ns>" is appended in parentheses, as Fabric does.
func namespaceDBName(channel, ns string, limit int) string {
	escaped := escapeUpperCase(ns)
	name := channel + "_" + escaped
	if len(name) <= limit {
		return name
	}
	hash := sha256Hex(channel + "_" + ns)
	if len(channel) > channelNameKept {
		channel = channel[:channelNameKept]
	}
	chaincode, collection, hasCollection := strings.Cut(escaped, "$$")
	if len(chaincode) > namespaceNameKept {
		chaincode = chaincode[:namespaceNameKept]
	}
	short := chaincode
	if hasCollection {
		if len(collection) > collectionNameKept {
			collection = collection[:collectionNameKept]
		}
		short += "$$" + collection
	}
	return channel + "_" + short + "(" + hash + ")"
}

// isHashedNamespace reports whether ns holds private data hashes, whose keys
// are raw hash bytes.
func isHashedNamespace(ns string) bool {
	i := strings.Index(ns, "$$")
	return i >= 0 && strings.HasPrefix(ns[i:], hashedNamespaceMarker)
}

// Errors about keys; CheckKeyValue and Apply return them wrapped with the key.
var (
	errKeyNotUTF8      = errors.New("must be a UTF-8 string")
	errKeyUnderscore   = errors.New(`cannot begin with "_"`)
	errKeyEmpty        = errors.New("the empty key is not supported by CouchDB")
	errKeyHashedEncode = errors.New("a hashed key must not be empty")
)

// checkKey applies Fabric's rules for a CouchDB document ID.
func checkKey(key string) error {
	switch {
	case !utf8.ValidString(key):
		return errKeyNotUTF8
	case key == "":
		return errKeyEmpty
	case key[0] == '_':
		return errKeyUnderscore
	}
	return nil
}

// docID is the CouchDB _id of key in ns. Keys of hashed collections are raw
// hashes, which CouchDB cannot hold, so Fabric stores them in standard
// base64 when its state database does not support byte keys; other keys are
// their own _id and must pass checkKey.
func docID(ns, key string) (string, error) {
	if isHashedNamespace(ns) {
		if key == "" {
			return "", errKeyHashedEncode
		}
		return base64.StdEncoding.EncodeToString([]byte(key)), nil
	}
	if err := checkKey(key); err != nil {
		return "", err
	}
	return key, nil
}

// keyOf inverts docID.
func keyOf(ns, id string) (string, error) {
	if isHashedNamespace(ns) {
		b, err := base64.StdEncoding.DecodeString(id)
		if err != nil {
			return "", fmt.Errorf("document %q of hashed namespace %s is not base64: %w", id, ns, err)
		}
		return string(b), nil
	}
	return id, nil
}

// validFloor returns the longest valid UTF-8 prefix of s: no valid UTF-8
// string below s sorts above it, so a scan may start there and skip keys
// below s.
func validFloor(s string) string {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return s[:i]
		}
		i += n
	}
	return s
}
