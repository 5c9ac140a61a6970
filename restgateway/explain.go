package restgateway

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/restgateway/blockjson"
)

// Bounds of the best-effort explanation of an invalid transaction.
const (
	explainTimeout   = 5 * time.Second // for all the ledger queries of one explanation
	explainMaxBlocks = 100             // blocks searched back for the writer of a conflicting key
)

// explainer asks the peer, signed by one wallet identity, why a committed
// transaction is invalid. Every method is best effort: a failed lookup
// leaves the error as it was.
type explainer struct {
	s       *Server
	signer  protos.Signer
	channel string
	blocks  map[uint64]*blockjson.BlockJSON
}

// explain adds the cause to e, the error of transaction txID committed
// invalid in block: which key conflicted and who wrote it, or which
// endorsements did not satisfy which policy.
func (s *Server) explain(ctx context.Context, signer protos.Signer, channel, txID string, code pb.TxValidationCode, block uint64, e *Error) {
	if e == nil || len(e.Details) == 0 {
		return
	}
	switch code {
	case pb.TxValidationCode_MVCC_READ_CONFLICT, pb.TxValidationCode_PHANTOM_READ_CONFLICT,
		pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(ctx, explainTimeout)
	defer cancel()
	x := &explainer{s: s, signer: signer, channel: channel, blocks: map[uint64]*blockjson.BlockJSON{}}
	b, err := x.block(ctx, block)
	if err != nil {
		return
	}
	idx := -1
	for i := range b.Transactions {
		if b.Transactions[i].TxID == txID && b.Transactions[i].ValidationCode == code.String() {
			idx = i
			break
		}
	}
	if idx < 0 {
		return
	}
	prefix := fmt.Sprintf("transaction %s was committed in block %d with validation code %s: ", txID, block, code)
	if code == pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
		x.explainPolicy(ctx, &b.Transactions[idx], prefix, e)
		return
	}
	x.explainConflict(ctx, b, idx, prefix, e)
}

// evaluate runs a query of a system chaincode through the peer's Gateway.
func (x *explainer) evaluate(ctx context.Context, cc string, args [][]byte) ([]byte, error) {
	sp, txID, err := protos.NewProposal(x.signer, x.channel, cc, args, nil)
	if err != nil {
		return nil, err
	}
	resp, err := x.s.gw.Evaluate(ctx, &gwpb.EvaluateRequest{TransactionId: txID, ChannelId: x.channel, ProposedTransaction: sp})
	if err != nil {
		return nil, err
	}
	if st := resp.GetResult().GetStatus(); st >= 400 {
		return nil, fmt.Errorf("%s answered %d: %s", cc, st, resp.GetResult().GetMessage())
	}
	return resp.GetResult().GetPayload(), nil
}

// block fetches and decodes one block through qscc, once per explanation.
func (x *explainer) block(ctx context.Context, n uint64) (*blockjson.BlockJSON, error) {
	if b, ok := x.blocks[n]; ok {
		return b, nil
	}
	raw, err := x.evaluate(ctx, "qscc", [][]byte{[]byte("GetBlockByNumber"), []byte(x.channel), []byte(strconv.FormatUint(n, 10))})
	if err != nil {
		return nil, err
	}
	b, err := blockjson.BlockBytes(raw)
	if err != nil {
		return nil, err
	}
	x.blocks[n] = b
	return b, nil
}

// conflictRead is one key or range the invalid transaction read.
type conflictRead struct {
	ns, key    string
	version    *blockjson.VersionJSON // nil: the key did not exist
	start, end string                 // a range query when isRange
	isRange    bool
}

func (r conflictRead) matches(ns, key string) bool {
	if ns != r.ns {
		return false
	}
	if !r.isRange {
		return key == r.key
	}
	return key >= r.start && (r.end == "" || key < r.end)
}

// after reports whether a write at block:tx is later than the version read.
func (r conflictRead) after(block, tx uint64) bool {
	if r.isRange || r.version == nil {
		return true
	}
	return block > r.version.BlockNum || block == r.version.BlockNum && tx > r.version.TxNum
}

func (r conflictRead) describe() string {
	if r.isRange {
		return fmt.Sprintf("key %q in namespace %s falls in the range [%q, %q) it queried", r.key, r.ns, r.start, r.end)
	}
	if r.version == nil {
		return fmt.Sprintf("key %q in namespace %s was read when it did not exist", r.key, r.ns)
	}
	return fmt.Sprintf("key %q in namespace %s was read at version %d:%d", r.key, r.ns, r.version.BlockNum, r.version.TxNum)
}

// writerOf finds the first valid transaction of b, before index limit, that
// wrote a key one of reads saw; the read is returned with the written key.
func writerOf(b *blockjson.BlockJSON, limit int, reads []conflictRead) (*blockjson.TransactionJSON, conflictRead, bool) {
	for t := 0; t < limit && t < len(b.Transactions); t++ {
		tx := &b.Transactions[t]
		if tx.ValidationCode != pb.TxValidationCode_VALID.String() {
			continue
		}
		for _, ns := range tx.Namespaces {
			for _, w := range ns.Writes {
				for _, r := range reads {
					if r.matches(ns.Namespace, w.Key) && r.after(b.Number, uint64(t)) {
						r.key = w.Key
						return tx, r, true
					}
				}
			}
		}
	}
	return nil, conflictRead{}, false
}

// explainConflict names the key that changed and the transaction that wrote
// it: an earlier valid transaction of the same block, or of the blocks since
// the version read (at most explainMaxBlocks back).
func (x *explainer) explainConflict(ctx context.Context, b *blockjson.BlockJSON, idx int, prefix string, e *Error) {
	var reads []conflictRead
	lowest := b.Number
	for _, ns := range b.Transactions[idx].Namespaces {
		for _, r := range ns.Reads {
			reads = append(reads, conflictRead{ns: ns.Namespace, key: r.Key, version: r.Version})
			if r.Version == nil {
				lowest = 0
			} else {
				lowest = min(lowest, r.Version.BlockNum)
			}
		}
		for _, q := range ns.RangeQueries {
			reads = append(reads, conflictRead{ns: ns.Namespace, start: q.StartKey, end: q.EndKey, isRange: true})
		}
	}
	if len(reads) == 0 {
		return
	}
	tx, read, found := writerOf(b, idx, reads)
	from, cut := lowest, false
	if b.Number > explainMaxBlocks && from < b.Number-explainMaxBlocks {
		from, cut = b.Number-explainMaxBlocks, true
	}
	var n uint64
	for n = from; !found && n < b.Number; n++ {
		blk, err := x.block(ctx, n)
		if err != nil {
			return
		}
		tx, read, found = writerOf(blk, len(blk.Transactions), reads)
	}
	if !found {
		if cut {
			e.Message += fmt.Sprintf(" (no writer of the keys it read found in blocks %d to %d; older blocks were not searched)", from, b.Number)
		}
		return
	}
	d := &e.Details[0]
	blockNum := tx.BlockNumber
	d.Namespace, d.Key, d.ConflictingTxID, d.ConflictingBlock = read.ns, read.key, tx.TxID, &blockNum
	if read.version != nil {
		d.ReadVersion = fmt.Sprintf("%d:%d", read.version.BlockNum, read.version.TxNum)
	}
	e.Message = prefix + fmt.Sprintf("%s but transaction %s (block %d) wrote it first; submit again", read.describe(), tx.TxID, tx.BlockNumber)
}

// explainPolicy names the organisations that endorsed and the chaincode's
// endorsement policy, read from its _lifecycle definition.
func (x *explainer) explainPolicy(ctx context.Context, tx *blockjson.TransactionJSON, prefix string, e *Error) {
	if tx.Chaincode == nil || tx.Chaincode.Name == "" {
		return
	}
	cc := tx.Chaincode.Name
	raw, err := x.evaluate(ctx, "_lifecycle", client.QueryCommittedArgs(cc))
	if err != nil {
		return
	}
	def := &lb.QueryChaincodeDefinitionResult{}
	if proto.Unmarshal(raw, def) != nil {
		return
	}
	policy := describeApplicationPolicy(def.ValidationParameter)
	if policy == "" {
		return
	}
	seen := map[string]bool{}
	var endorsers []string
	for _, id := range tx.Endorsements {
		if !seen[id.MSPID] {
			seen[id.MSPID] = true
			endorsers = append(endorsers, id.MSPID)
		}
	}
	sort.Strings(endorsers)
	who := "the endorsements of " + strings.Join(endorsers, ", ")
	if len(endorsers) == 0 {
		who = "the transaction's endorsements (none)"
	}
	msg := fmt.Sprintf("%s do not satisfy the endorsement policy of chaincode %s (%s)", who, cc, policy)
	var keys []string
	for _, ns := range tx.Namespaces {
		if ns.Namespace != cc {
			continue
		}
		for _, w := range ns.Writes {
			keys = append(keys, fmt.Sprintf("%q", w.Key))
		}
	}
	if len(keys) > 0 {
		if len(keys) > 5 {
			keys = append(keys[:5], "...")
		}
		msg += ", or a key-level endorsement policy of a key it writes (" + strings.Join(keys, ", ") + ")"
	}
	d := &e.Details[0]
	d.Endorsers, d.Policy = endorsers, policy
	e.Message = prefix + msg + "; endorse with the organisations the policy names"
}

// describeApplicationPolicy renders a chaincode's endorsement policy
// (peer.ApplicationPolicy): a signature policy in the policy language, or
// the path of a channel config policy. "" when it cannot be decoded.
func describeApplicationPolicy(raw []byte) string {
	ap := &pb.ApplicationPolicy{}
	if len(raw) == 0 || proto.Unmarshal(raw, ap) != nil {
		return ""
	}
	switch t := ap.Type.(type) {
	case *pb.ApplicationPolicy_SignaturePolicy:
		return channelconfig.FormatPolicy(t.SignaturePolicy)
	case *pb.ApplicationPolicy_ChannelConfigPolicyReference:
		ref := t.ChannelConfigPolicyReference
		if !strings.HasPrefix(ref, "/") {
			ref = "/Channel/Application/" + ref
		}
		return ref
	}
	return ""
}
