package validator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// StateReader reads committed world state; statedb.DB satisfies it.
type StateReader interface {
	Get(ns, key string) (*statedb.VersionedValue, error)
}

// MetadataReader is a StateReader that can also say it reads only a key's
// metadata (a key-level endorsement policy), not its value. Validation
// calls GetMetadata for those reads when the state given to Validate has it,
// so a caller tracking what validation depended on (a pipelined committer)
// knows that a later change to the value alone does not matter.
type MetadataReader interface {
	GetMetadata(ns, key string) ([]byte, error)
}

// TxExists reports whether a transaction ID is already in the ledger
// (ledger.BlockStore.TxExists).
type TxExists func(txID string) (bool, error)

// Verdict is the outcome for one transaction of a block.
type Verdict struct {
	TxID   string
	Code   pb.TxValidationCode
	Reason string // why the transaction is invalid; empty when VALID
	// Type, ChaincodeName and ChaincodeVersion describe a transaction
	// found valid here (before the ledger's MVCC check): its header type
	// and, for an ENDORSER_TRANSACTION, the endorsed action's chaincode
	// ID. They are empty otherwise.
	Type                            cb.HeaderType
	ChaincodeName, ChaincodeVersion string

	keys *txKeys // keys a valid endorser transaction writes
}

// RWSet is the read/write set of a transaction found valid here, as the
// validator decoded it, for ledger.Ledger.UseDecoded; nil for an invalid
// transaction and for one that carries no read/write set.
func (v Verdict) RWSet() *ledger.TxRWSet {
	if v.Code != pb.TxValidationCode_VALID || v.keys == nil {
		return nil
	}
	out := &ledger.TxRWSet{TxID: v.TxID, Namespaces: make([]ledger.NsRWSet, len(v.keys.sets))}
	for i, n := range v.keys.sets {
		ns := ledger.NsRWSet{Namespace: n.ns, KV: n.kv}
		if len(n.colls) > 0 {
			ns.Hashed = make([]ledger.CollHashedRWSet, len(n.colls))
			for j, c := range n.colls {
				ns.Hashed[j] = ledger.CollHashedRWSet{Collection: c.name, Set: c.hashed, PvtHash: c.pvtHash}
			}
		}
		out.Namespaces[i] = ns
	}
	return out
}

// WritesNamespace reports whether the transaction, found valid here, writes
// namespace ns: a key, key metadata, or a key of one of ns's collections
// (their hashes). It is false for an invalid transaction and for one that
// carries no read/write set (a configuration transaction).
func (v Verdict) WritesNamespace(ns string) bool {
	if v.Code != pb.TxValidationCode_VALID || v.keys == nil {
		return false
	}
	public, hashed := ns+"\x00", ledger.HashedNamespace(ns, "")
	for _, k := range v.keys.writes {
		if strings.HasPrefix(k, public) || strings.HasPrefix(k, hashed) {
			return true
		}
	}
	for _, k := range v.keys.metadata {
		if strings.HasPrefix(k, public) || strings.HasPrefix(k, hashed) {
			return true
		}
	}
	return false
}

// Config configures a Validator.
type Config struct {
	// Workers bounds the transactions checked at once; 0 means GOMAXPROCS.
	Workers int
	Logger  *slog.Logger
	// Own, when set, holds the endorsements this peer signed itself, which
	// are then not verified again.
	Own *OwnSignatures
	// BeforeTx, when set, is called by the worker about to judge each
	// transaction of a block (not the genesis block). It is a seam for tests
	// that inject faults, such as a panic, into one transaction's check.
	BeforeTx func(block uint64, txIndex int)
}

// Validator validates the blocks of one channel. It is safe for concurrent
// use; it caches endorsement policies compiled for the current channel config.
type Validator struct {
	workers  int
	log      *slog.Logger
	policies *policyCache
	own      *OwnSignatures
	beforeTx func(block uint64, txIndex int)
}

// New returns a Validator.
func New(cfg Config) *Validator {
	w := cfg.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Validator{workers: w, log: log.With("component", "validator"), policies: newPolicyCache(), own: cfg.Own, beforeTx: cfg.BeforeTx}
}

// ValidateBlock returns the TRANSACTIONS_FILTER of b: one pb.TxValidationCode
// per envelope. bundle is the channel configuration in force for b, state the
// committed world state before b, txExists the ledger's TxID index.
func (v *Validator) ValidateBlock(b *cb.Block, bundle *channelconfig.Bundle, state StateReader, txExists TxExists) ([]byte, error) {
	verdicts, err := v.Validate(b, bundle, state, txExists)
	if err != nil {
		return nil, err
	}
	flags := make([]byte, len(verdicts))
	for i, vd := range verdicts {
		flags[i] = byte(vd.Code)
	}
	return flags, nil
}

// Validate is ValidateBlock with the reason of every verdict.
func (v *Validator) Validate(b *cb.Block, bundle *channelconfig.Bundle, state StateReader, txExists TxExists) ([]Verdict, error) {
	if b == nil || b.Header == nil || b.Data == nil {
		return nil, errors.New("validate block: block has no header or data")
	}
	if bundle == nil {
		return nil, fmt.Errorf("validate block %d: no channel configuration", b.Header.Number)
	}
	n := b.Header.Number
	if n == 0 {
		return validateGenesis(b)
	}
	envs := b.Data.Data
	reads, release, err := blockView(state)
	if err != nil {
		return nil, fmt.Errorf("validate block %d: %w", n, err)
	}
	defer release()
	scope := &blockScope{bundle: bundle, state: reads, defs: map[string]*lifecycle.Definition{}}
	verdicts := make([]Verdict, len(envs))
	errs := make([]error, len(envs))
	jobs := make(chan int)
	var wg sync.WaitGroup
	workers := min(v.workers, len(envs))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				verdicts[i], errs[i] = v.judge(scope, n, i, envs[i], txExists)
			}
		}()
	}
	for i := range envs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("validate block %d transaction %d: %w", n, i, err)
		}
	}
	// A key-level policy replaced by an earlier valid transaction of the block
	// is no longer the one the endorsers were checked against: Fabric refuses
	// later writes to that key.
	replaced := map[string]int{}
	for i := range verdicts {
		vd := &verdicts[i]
		if vd.Code != pb.TxValidationCode_VALID || vd.keys == nil {
			continue
		}
		for _, k := range vd.keys.writes {
			if j, ok := replaced[k]; ok {
				vd.Code = pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE
				vd.Reason = fmt.Sprintf("transaction %d of this block changed the key-level endorsement policy of key %q, which this transaction writes", j, strings.ReplaceAll(k, "\x00", "/"))
				break
			}
		}
		if vd.Code == pb.TxValidationCode_VALID {
			for _, k := range vd.keys.metadata {
				replaced[k] = i
			}
		}
	}
	// A TxID may appear once: later valid copies in the block are duplicates.
	seen := map[string]int{}
	for i := range verdicts {
		vd := &verdicts[i]
		if vd.Code != pb.TxValidationCode_VALID || vd.TxID == "" {
			continue
		}
		if first, dup := seen[vd.TxID]; dup {
			vd.Code = pb.TxValidationCode_DUPLICATE_TXID
			vd.Reason = fmt.Sprintf("transaction ID %s already used by transaction %d of this block", vd.TxID, first)
			continue
		}
		seen[vd.TxID] = i
	}
	for i, vd := range verdicts {
		if vd.Code != pb.TxValidationCode_VALID {
			v.log.Warn("invalid transaction", "channel", bundle.ChannelID(), "block", n, "tx_index", i, "tx_id", vd.TxID, "code", vd.Code.String(), "reason", vd.Reason)
		}
	}
	return verdicts, nil
}

// blockView returns what a block's checks read the state through, and the
// function that frees it. The caller hands Validate the committed state
// before the block and keeps it so while Validate runs; a state that is a
// statedb.Snapshotter is then read through one snapshot taken here, which
// answers as separate Gets would, without pinning a view of the database
// for each read. A MetadataReader (a caller tracking what validation read)
// is kept as it is, so it still sees every read.
func blockView(state StateReader) (StateReader, func(), error) {
	if _, ok := state.(MetadataReader); ok {
		return state, func() {}, nil
	}
	s, ok := state.(statedb.Snapshotter)
	if !ok {
		return state, func() {}, nil
	}
	snap, err := s.Snapshot()
	if err != nil {
		return nil, nil, err
	}
	return snap, snap.Release, nil
}

// validateGenesis accepts the configuration transaction of a genesis block,
// which carries no creator: it is the channel's origin, trusted by joining.
func validateGenesis(b *cb.Block) ([]Verdict, error) {
	if len(b.Data.Data) != 1 {
		return nil, fmt.Errorf("validate block 0: a genesis block holds exactly one configuration transaction, this one holds %d", len(b.Data.Data))
	}
	if _, err := genesisConfig(b.Data.Data[0]); err != nil {
		return nil, fmt.Errorf("validate block 0: %w", err)
	}
	return []Verdict{{Code: pb.TxValidationCode_VALID, Type: cb.HeaderType_CONFIG}}, nil
}

func genesisConfig(raw []byte) (*cb.ConfigEnvelope, error) {
	env := &cb.Envelope{}
	payload := &cb.Payload{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, fmt.Errorf("decode genesis envelope: %w", err)
	}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		return nil, fmt.Errorf("decode genesis payload: %w", err)
	}
	chdr, err := protos.UnmarshalChannelHeader(payload.GetHeader().GetChannelHeader())
	if err != nil {
		return nil, err
	}
	if cb.HeaderType(chdr.Type) != cb.HeaderType_CONFIG {
		return nil, fmt.Errorf("genesis transaction is %s, not CONFIG", cb.HeaderType(chdr.Type))
	}
	ce := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(payload.Data, ce); err != nil || ce.Config == nil {
		return nil, fmt.Errorf("genesis transaction holds no valid common.ConfigEnvelope (%v)", err)
	}
	return ce, nil
}

func invalid(txID string, code pb.TxValidationCode, format string, args ...any) (Verdict, error) {
	return Verdict{TxID: txID, Code: code, Reason: fmt.Sprintf(format, args...)}, nil
}

// PanicCode is the validation code of a transaction whose check panicked:
// Fabric's code for a transaction it cannot parse out of its block
// (INVALID_OTHER_REASON). A panic is a bug met by this transaction's bytes;
// every peer running the same code meets it on the same transaction, so the
// verdict is the same everywhere and the block commits.
const PanicCode = pb.TxValidationCode_INVALID_OTHER_REASON

// judge is validateTx with a panic contained to the transaction: the panic
// is logged with its stack and the transaction gets PanicCode, so a worker
// never takes the peer down and the block still commits.
func (v *Validator) judge(s *blockScope, block uint64, idx int, raw []byte, txExists TxExists) (vd Verdict, err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		v.log.Error("recovered from a panic while validating a transaction; it is marked "+PanicCode.String(),
			"channel", s.bundle.ChannelID(), "block", block, "tx_index", idx, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		vd, err = Verdict{TxID: safeTxID(raw), Code: PanicCode, Reason: fmt.Sprintf(
			"validating transaction %d of block %d panicked (%v): the transaction cannot be judged, and is invalid as Fabric marks a transaction it cannot parse", idx, block, r)}, nil
	}()
	if v.beforeTx != nil {
		v.beforeTx(block, idx)
	}
	return v.validateTx(s, idx, raw, txExists)
}

// safeTxID returns the TxID in an envelope's channel header, "" when it cannot
// be read (without panicking).
func safeTxID(raw []byte) (id string) {
	defer func() {
		if recover() != nil {
			id = ""
		}
	}()
	chdr, err := protos.EnvelopeChannelHeader(raw)
	if err != nil {
		return ""
	}
	return chdr.GetTxId()
}

// validateTx judges one envelope. An error means the transaction could not be
// judged (state or ledger failure), which fails the whole block.
func (v *Validator) validateTx(s *blockScope, idx int, raw []byte, txExists TxExists) (Verdict, error) {
	bundle := s.bundle
	if len(raw) == 0 {
		return invalid("", pb.TxValidationCode_NIL_ENVELOPE, "transaction %d is empty", idx)
	}
	env, err := decodeEnvelope(raw)
	if err != nil {
		return invalid("", pb.TxValidationCode_INVALID_OTHER_REASON, "decode common.Envelope: %v", err)
	}
	payload, err := decodePayload(env.Payload)
	if err != nil {
		return invalid("", pb.TxValidationCode_BAD_PAYLOAD, "decode common.Payload: %v", err)
	}
	chdr, shdr, err := commonHeader(payload.Header)
	if err != nil {
		return invalid(chdr.GetTxId(), pb.TxValidationCode_BAD_COMMON_HEADER, "%v", err)
	}
	txID := chdr.TxId
	if chdr.ChannelId != bundle.ChannelID() {
		return invalid(txID, pb.TxValidationCode_TARGET_CHAIN_NOT_FOUND, "transaction is for channel %q, this block belongs to channel %q", chdr.ChannelId, bundle.ChannelID())
	}
	creator, err := bundle.MSPs().DeserializeIdentity(shdr.Creator)
	if err != nil {
		return invalid(txID, pb.TxValidationCode_BAD_CREATOR_SIGNATURE, "creator is not a valid identity of channel %s: %v", bundle.ChannelID(), err)
	}
	if len(env.Signature) == 0 {
		return invalid(txID, pb.TxValidationCode_BAD_CREATOR_SIGNATURE, "envelope has no signature")
	}
	if err := creator.Verify(env.Payload, env.Signature); err != nil {
		return invalid(txID, pb.TxValidationCode_BAD_CREATOR_SIGNATURE, "creator's signature over the payload is not valid: %v", err)
	}
	// Expiry is judged at the transaction's own time, never the wall clock,
	// so every peer reaches the same verdict whenever it validates the block.
	if chdr.Timestamp == nil {
		return invalid(txID, pb.TxValidationCode_BAD_CREATOR_SIGNATURE, "the channel header has no timestamp, so the creator's certificate cannot be checked for expiry at the transaction's time")
	}
	if err := creator.CheckExpiry(chdr.Timestamp.AsTime()); err != nil {
		return invalid(txID, pb.TxValidationCode_BAD_CREATOR_SIGNATURE, "creator's certificate had expired at the transaction's timestamp: %v", err)
	}

	switch cb.HeaderType(chdr.Type) {
	case cb.HeaderType_CONFIG:
		ce := &cb.ConfigEnvelope{}
		if err := proto.Unmarshal(payload.Data, ce); err != nil || ce.Config == nil {
			return invalid(txID, pb.TxValidationCode_INVALID_CONFIG_TRANSACTION, "CONFIG transaction holds no valid common.ConfigEnvelope (%v)", err)
		}
		return Verdict{TxID: txID, Code: pb.TxValidationCode_VALID, Type: cb.HeaderType_CONFIG}, nil
	case cb.HeaderType_ENDORSER_TRANSACTION:
	default:
		return invalid(txID, pb.TxValidationCode_UNSUPPORTED_TX_PAYLOAD, "%s transactions are not committed to a channel ledger", cb.HeaderType(chdr.Type))
	}

	if !txIDMatches(txID, shdr.Nonce, shdr.Creator) {
		return invalid(txID, pb.TxValidationCode_BAD_PROPOSAL_TXID, "transaction ID %q is not SHA-256(nonce ‖ creator) = %s", txID, protos.ComputeTxID(shdr.Nonce, shdr.Creator))
	}
	tx, err := endorserTransaction(payload)
	if err != nil {
		return invalid(txID, pb.TxValidationCode_INVALID_ENDORSER_TRANSACTION, "%v", err)
	}
	exists, err := txExists(txID)
	if err != nil {
		return Verdict{}, fmt.Errorf("look up transaction ID %s in the ledger: %w", txID, err)
	}
	if exists {
		return invalid(txID, pb.TxValidationCode_DUPLICATE_TXID, "transaction ID %s is already in the ledger", txID)
	}
	code, reason, keys, err := v.checkEndorsements(s, chdr, tx)
	if err != nil {
		return Verdict{}, err
	}
	vd := Verdict{TxID: txID, Code: code, Reason: reason, keys: keys}
	if code == pb.TxValidationCode_VALID {
		vd.Type = cb.HeaderType_ENDORSER_TRANSACTION
		vd.ChaincodeName, vd.ChaincodeVersion = keys.ccName, keys.ccVersion
	}
	return vd, nil
}

// commonHeader decodes and checks the headers Fabric requires of every
// transaction: a known type, epoch 0, a nonce and a creator.
func commonHeader(h *cb.Header) (*cb.ChannelHeader, *cb.SignatureHeader, error) {
	if h == nil {
		return nil, nil, errors.New("payload has no header")
	}
	chdr := &cb.ChannelHeader{}
	if err := proto.Unmarshal(h.ChannelHeader, chdr); err != nil {
		return nil, nil, fmt.Errorf("decode common.ChannelHeader: %w", err)
	}
	shdr, err := decodeSignatureHeader(h.SignatureHeader)
	if err != nil {
		return chdr, nil, fmt.Errorf("decode common.SignatureHeader: %w", err)
	}
	switch cb.HeaderType(chdr.Type) {
	case cb.HeaderType_ENDORSER_TRANSACTION, cb.HeaderType_CONFIG_UPDATE, cb.HeaderType_CONFIG:
	default:
		return chdr, nil, fmt.Errorf("invalid header type %s", cb.HeaderType(chdr.Type))
	}
	if chdr.Epoch != 0 {
		return chdr, nil, fmt.Errorf("invalid epoch %d in channel header, expected 0", chdr.Epoch)
	}
	if len(shdr.Nonce) == 0 {
		return chdr, nil, errors.New("signature header has no nonce")
	}
	if len(shdr.Creator) == 0 {
		return chdr, nil, errors.New("signature header has no creator")
	}
	return chdr, shdr, nil
}

// txIDMatches reports whether txID is protos.ComputeTxID(nonce, creator),
// the lowercase hex of SHA-256(nonce ‖ creator), without the hasher, digest
// and strings ComputeTxID allocates: the input is gathered in a buffer of
// this frame when it fits (a creator is a certificate of about 1 KB).
func txIDMatches(txID string, nonce, creator []byte) bool {
	var buf [2048]byte
	sum := sha256.Sum256(append(append(buf[:0], nonce...), creator...))
	var hx [2 * sha256.Size]byte
	hex.Encode(hx[:], sum[:])
	return string(hx[:]) == txID
}

// endorsedTx is the decoded part of an ENDORSER_TRANSACTION that carries the
// endorsements.
type endorsedTx struct {
	action *pb.ChaincodeActionPayload
	prpRaw []byte
	prp    *pb.ProposalResponsePayload
}

// endorserTransaction checks the structure Fabric requires: one action whose
// header has a nonce and creator and whose proposal hash matches the
// transaction's headers and proposal payload.
func endorserTransaction(payload *cb.Payload) (*endorsedTx, error) {
	tx, err := decodeTransaction(payload.Data)
	if err != nil {
		return nil, fmt.Errorf("decode peer.Transaction: %w", err)
	}
	if len(tx.Actions) != 1 {
		return nil, fmt.Errorf("only one action per transaction is supported, transaction contains %d", len(tx.Actions))
	}
	act := tx.Actions[0]
	ash, err := decodeSignatureHeader(act.GetHeader())
	if err != nil {
		return nil, fmt.Errorf("decode action signature header: %w", err)
	}
	if len(ash.Nonce) == 0 || len(ash.Creator) == 0 {
		return nil, errors.New("action signature header lacks a nonce or a creator")
	}
	cap, err := decodeChaincodeActionPayload(act.Payload)
	if err != nil {
		return nil, fmt.Errorf("decode peer.ChaincodeActionPayload: %w", err)
	}
	if cap.Action == nil {
		return nil, errors.New("chaincode action payload has no endorsed action")
	}
	prp, err := decodeProposalResponsePayload(cap.Action.ProposalResponsePayload)
	if err != nil {
		return nil, fmt.Errorf("decode peer.ProposalResponsePayload: %w", err)
	}
	hash := protos.ProposalHash(payload.Header.ChannelHeader, act.Header, cap.ChaincodeProposalPayload)
	if !bytes.Equal(hash, prp.ProposalHash) {
		return nil, errors.New("proposal hash in the endorsed response does not match the transaction's headers and proposal payload")
	}
	return &endorsedTx{action: cap, prpRaw: cap.Action.ProposalResponsePayload, prp: prp}, nil
}

// signedEndorsements returns each endorsement as signed data: the endorser's
// signature over proposal_response_payload ‖ endorser.
func (t *endorsedTx) signedEndorsements() []protos.SignedData {
	es := t.action.Action.Endorsements
	if len(es) == 0 {
		return nil
	}
	// One buffer holds every endorsement's signed bytes, each capped at its
	// own end so that no append can run into the next.
	size := 0
	for _, e := range es {
		size += len(t.prpRaw) + len(e.Endorser)
	}
	buf := make([]byte, 0, size)
	out := make([]protos.SignedData, 0, len(es))
	for _, e := range es {
		start := len(buf)
		buf = append(append(buf, t.prpRaw...), e.Endorser...)
		out = append(out, protos.SignedData{Data: buf[start:len(buf):len(buf)], Identity: e.Endorser, Signature: e.Signature})
	}
	return out
}

// writesTo reports whether a namespace's read/write set writes anything.
func writesTo(kv *kvrwset.KVRWSet, colls []*collectionWrites) bool {
	if len(kv.GetWrites()) > 0 || len(kv.GetMetadataWrites()) > 0 {
		return true
	}
	for _, c := range colls {
		if len(c.hashed.GetHashedWrites()) > 0 || len(c.hashed.GetMetadataWrites()) > 0 {
			return true
		}
	}
	return false
}

type collectionWrites struct {
	name    string
	hashed  *kvrwset.HashedRWSet
	pvtHash []byte
}

type nsRWSet struct {
	ns    string
	kv    *kvrwset.KVRWSet
	colls []*collectionWrites
}

func decodeRWSet(raw []byte) ([]*nsRWSet, error) {
	// A set without collections is read in place: counted and checked
	// first, so that, as with proto, no namespace's KVRWSet is decoded from a
	// TxReadWriteSet that does not decode as a whole.
	count := 0
	if eachPlainNamespace(raw, func(_, _ []byte) bool { count++; return true }) {
		out := make([]*nsRWSet, 0, count)
		var err error
		eachPlainNamespace(raw, func(ns, set []byte) bool {
			kv := &kvrwset.KVRWSet{}
			if e := proto.Unmarshal(set, kv); e != nil {
				err = fmt.Errorf("decode KVRWSet of namespace %s: %w", ns, e)
				return false
			}
			out = append(out, &nsRWSet{ns: string(ns), kv: kv})
			return true
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	return decodeRWSetByProto(raw)
}

// decodeRWSetByProto decodes a read/write set with proto throughout: what
// decodeRWSet does for a set with collections or in any form but the plain
// one (and the reference its fuzz target holds the in-place path to).
func decodeRWSetByProto(raw []byte) ([]*nsRWSet, error) {
	txrw := &rwset.TxReadWriteSet{}
	if err := proto.Unmarshal(raw, txrw); err != nil {
		return nil, fmt.Errorf("decode rwset.TxReadWriteSet: %w", err)
	}
	out := make([]*nsRWSet, 0, len(txrw.NsRwset))
	for _, ns := range txrw.NsRwset {
		kv := &kvrwset.KVRWSet{}
		if err := proto.Unmarshal(ns.Rwset, kv); err != nil {
			return nil, fmt.Errorf("decode KVRWSet of namespace %s: %w", ns.Namespace, err)
		}
		n := &nsRWSet{ns: ns.Namespace, kv: kv}
		for _, c := range ns.CollectionHashedRwset {
			h := &kvrwset.HashedRWSet{}
			if err := proto.Unmarshal(c.HashedRwset, h); err != nil {
				return nil, fmt.Errorf("decode hashed rwset of %s/%s: %w", ns.Namespace, c.CollectionName, err)
			}
			n.colls = append(n.colls, &collectionWrites{name: c.CollectionName, hashed: h, pvtHash: c.PvtRwsetHash})
		}
		out = append(out, n)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
