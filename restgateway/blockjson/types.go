package blockjson

// BlockJSON is one block.
type BlockJSON struct {
	Number       uint64            `json:"number"`
	DataHash     string            `json:"dataHash"`     // hex
	PreviousHash string            `json:"previousHash"` // hex; "" for a genesis block
	Transactions []TransactionJSON `json:"transactions"` // in block order: the index is the tx number
	Metadata     MetadataJSON      `json:"metadata"`
}

// MetadataJSON is what the orderer wrote into the block's metadata.
type MetadataJSON struct {
	// LastConfig is the number of the newest config block at this block.
	LastConfig uint64 `json:"lastConfig"`
	// Signatures are the orderers' signatures over the block (not verified here).
	Signatures []SignerJSON `json:"signatures"`
}

// SignerJSON is one orderer signature on a block: an identity, or, for a BFT
// orderer that identifies itself by consenter ID, that ID.
type SignerJSON struct {
	IdentityJSON
	ConsenterID uint32 `json:"consenterId,omitempty"`
}

// IdentityJSON is an X.509 identity of an MSP.
type IdentityJSON struct {
	MSPID       string `json:"mspId"`
	Subject     string `json:"subject"`               // RFC 2253, e.g. "CN=User1@org1.example.com,OU=client,..."
	Certificate string `json:"certificate,omitempty"` // PEM, only with Options.Certificates
}

// TransactionJSON is one transaction (one envelope) of a block.
type TransactionJSON struct {
	TxID           string        `json:"txId"`
	Type           string        `json:"type"` // cb.HeaderType name: ENDORSER_TRANSACTION, CONFIG, ...
	Channel        string        `json:"channel"`
	Timestamp      string        `json:"timestamp,omitempty"` // RFC 3339
	BlockNumber    uint64        `json:"blockNumber"`
	ValidationCode string        `json:"validationCode"`    // pb.TxValidationCode name: VALID, MVCC_READ_CONFLICT, ...
	Creator        *IdentityJSON `json:"creator,omitempty"` // absent for configtxgen's genesis config

	// Only for ENDORSER_TRANSACTION.
	Chaincode    *ChaincodeJSON  `json:"chaincode,omitempty"`
	Input        *InputJSON      `json:"input,omitempty"`
	Response     *ResponseJSON   `json:"response,omitempty"`
	Endorsements []IdentityJSON  `json:"endorsements,omitempty"`
	Namespaces   []NamespaceJSON `json:"namespaces,omitempty"`
	Event        *EventJSON      `json:"event,omitempty"`

	// Only for CONFIG.
	Config *ConfigJSON `json:"config,omitempty"`

	// DecodeError is set, for a transaction not marked VALID, when part of it
	// could not be decoded; the fields before that part are filled.
	DecodeError string `json:"decodeError,omitempty"`
}

// ChaincodeJSON names the chaincode an endorser transaction ran.
type ChaincodeJSON struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// InputJSON is the invocation: args[0] of the proposal is the function.
type InputJSON struct {
	// Function is the first argument as UTF-8 (invalid bytes become U+FFFD).
	Function string `json:"function"`
	// Args are the remaining arguments: text, or null when not text.
	Args []*string `json:"args"`
	// ArgsBase64 are the remaining arguments, exact, in base64.
	ArgsBase64 []string `json:"argsBase64"`
}

// ResponseJSON is the chaincode response the endorsers signed.
type ResponseJSON struct {
	Status        int32   `json:"status"`
	Message       string  `json:"message,omitempty"`
	Payload       *string `json:"payload,omitempty"` // when text
	PayloadBase64 string  `json:"payloadBase64"`
}

// EventJSON is the chaincode event a transaction set.
type EventJSON struct {
	Name          string  `json:"name"`
	Payload       *string `json:"payload,omitempty"` // when text
	PayloadBase64 string  `json:"payloadBase64"`
}

// NamespaceJSON is the read/write set of one namespace (a chaincode, or a
// system namespace such as _lifecycle).
type NamespaceJSON struct {
	Namespace    string           `json:"namespace"`
	Reads        []ReadJSON       `json:"reads"`
	Writes       []WriteJSON      `json:"writes"`
	RangeQueries []RangeQueryJSON `json:"rangeQueries,omitempty"`
	Collections  []CollectionJSON `json:"collections,omitempty"`
}

// ReadJSON is one key read with the version seen; Version is null when the key
// did not exist.
type ReadJSON struct {
	Key     string       `json:"key"`
	Version *VersionJSON `json:"version"`
}

// VersionJSON is the height of the transaction that last wrote a key.
type VersionJSON struct {
	BlockNum uint64 `json:"blockNum"`
	TxNum    uint64 `json:"txNum"`
}

// WriteJSON is one key written or deleted.
type WriteJSON struct {
	Key         string  `json:"key"`
	Value       *string `json:"value,omitempty"` // when text
	ValueBase64 string  `json:"valueBase64"`
	IsDelete    bool    `json:"isDelete"`
}

// RangeQueryJSON summarises one range query the chaincode ran.
type RangeQueryJSON struct {
	StartKey     string `json:"startKey"`
	EndKey       string `json:"endKey"`
	ItrExhausted bool   `json:"itrExhausted"`
	// Reads is the number of keys recorded; with MerkleHashed the reads were
	// summarised as a Merkle tree and Reads is 0.
	Reads        int  `json:"reads"`
	MerkleHashed bool `json:"merkleHashed,omitempty"`
}

// CollectionJSON summarises the hashed read/write set of one private data
// collection (keys and values are only hashes on the ledger).
type CollectionJSON struct {
	Collection   string `json:"collection"`
	HashedReads  int    `json:"hashedReads"`
	HashedWrites int    `json:"hashedWrites"`
	PvtRwsetHash string `json:"pvtRwsetHash,omitempty"` // hex
}

// ConfigJSON summarises a CONFIG transaction.
type ConfigJSON struct {
	Sequence        uint64    `json:"sequence"`
	ApplicationOrgs []OrgJSON `json:"applicationOrgs"`
	OrdererOrgs     []OrgJSON `json:"ordererOrgs"`
}

// OrgJSON is one organisation of a channel config.
type OrgJSON struct {
	Name  string `json:"name"` // the config group name
	MSPID string `json:"mspId"`
}
