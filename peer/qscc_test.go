package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/acl"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/protos"
)

// policyFunc is a hand-written channelconfig.Policy.
type policyFunc func([]protos.SignedData) error

func (f policyFunc) Evaluate(sd []protos.SignedData) error { return f(sd) }

// readersOnly is a channel config without ACLs whose only policy is Readers.
type readersOnly struct{ readers channelconfig.Policy }

func (readersOnly) ACLPolicyRef(string) (string, bool) { return "", false }
func (c readersOnly) Policy(path string) (channelconfig.Policy, error) {
	if path != readersPolicy || c.readers == nil {
		return nil, fmt.Errorf("%w: %s", channelconfig.ErrPolicyNotFound, path)
	}
	return c.readers, nil
}

// allowAll is a policy every signer satisfies.
var allowAll = policyFunc(func([]protos.SignedData) error { return nil })

// fixtureQSCC serves qscc over a ledger holding the fixture blocks 0..9 of
// mychannel, with readers as the channel's Readers policy (nil: everyone).
func fixtureQSCC(t *testing.T, readers channelconfig.Policy) (*qscc, *ledger.Ledger, []*cb.Block) {
	t.Helper()
	if readers == nil {
		readers = allowAll
	}
	l, blocks := fixtureLedger(t)
	view := newCommittedBlocks(l.Blocks())
	q := &qscc{
		blocks: func(id string) (*committedBlocks, error) {
			if id != "mychannel" {
				return nil, fmt.Errorf("peer test has not joined channel %q", id)
			}
			return view, nil
		},
		configs: func(id string) (acl.Config, error) { return readersOnly{readers}, nil },
	}
	return q, l, blocks
}

// someProposal is a signed proposal for policies that do not verify it.
var someProposal = &protos.Proposal{
	Signed:          &pb.SignedProposal{ProposalBytes: []byte("proposal"), Signature: []byte("sig")},
	SignatureHeader: &cb.SignatureHeader{Creator: []byte("creator")},
}

func invokeQSCC(q *qscc, txc *chaincode.TxContext, args ...string) *pb.Response {
	in := &pb.ChaincodeInput{}
	for _, a := range args {
		in.Args = append(in.Args, []byte(a))
	}
	resp, _ := q.Invoke(context.Background(), txc, in)
	return resp
}

func TestQSCCQueries(t *testing.T) {
	t.Parallel()
	q, l, blocks := fixtureQSCC(t, nil)
	onChannel := &chaincode.TxContext{ChannelID: "mychannel", Proposal: someProposal}

	// A transaction of block 9, as Fabric wrote it.
	env, err := protos.UnmarshalEnvelope(blocks[9].Data.Data[17])
	if err != nil {
		t.Fatal(err)
	}
	txID := env.ChannelHeader.TxId

	t.Run("GetChainInfo", func(t *testing.T) {
		resp := invokeQSCC(q, onChannel, "GetChainInfo", "mychannel")
		if resp.Status != 200 {
			t.Fatalf("status %d: %s", resp.Status, resp.Message)
		}
		info := &cb.BlockchainInfo{}
		if err := proto.Unmarshal(resp.Payload, info); err != nil {
			t.Fatal(err)
		}
		if info.Height != 10 ||
			!bytes.Equal(info.CurrentBlockHash, protos.BlockHeaderHash(blocks[9].Header)) ||
			!bytes.Equal(info.PreviousBlockHash, protos.BlockHeaderHash(blocks[8].Header)) {
			t.Fatalf("chain info = height %d current %x previous %x", info.Height, info.CurrentBlockHash, info.PreviousBlockHash)
		}
	})
	t.Run("GetBlockByNumber", func(t *testing.T) {
		for _, n := range []int{0, 3, 9} {
			resp := invokeQSCC(q, onChannel, "GetBlockByNumber", "mychannel", fmt.Sprint(n))
			if resp.Status != 200 {
				t.Fatalf("block %d: status %d: %s", n, resp.Status, resp.Message)
			}
			b := &cb.Block{}
			if err := proto.Unmarshal(resp.Payload, b); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(b.Header, blocks[n].Header) || !proto.Equal(b.Data, blocks[n].Data) {
				t.Fatalf("GetBlockByNumber %d returned block %d with different content", n, b.Header.Number)
			}
		}
	})
	t.Run("GetBlockByHash", func(t *testing.T) {
		in := &pb.ChaincodeInput{Args: [][]byte{[]byte("GetBlockByHash"), []byte("mychannel"), protos.BlockHeaderHash(blocks[4].Header)}}
		resp, _ := q.Invoke(context.Background(), onChannel, in)
		b := &cb.Block{}
		if resp.Status != 200 || proto.Unmarshal(resp.Payload, b) != nil || b.Header.Number != 4 {
			t.Fatalf("GetBlockByHash(block 4) = status %d %q, block %v", resp.Status, resp.Message, b.Header)
		}
	})
	t.Run("GetTransactionByID", func(t *testing.T) {
		resp := invokeQSCC(q, onChannel, "GetTransactionByID", "mychannel", txID)
		if resp.Status != 200 {
			t.Fatalf("status %d: %s", resp.Status, resp.Message)
		}
		tx := &pb.ProcessedTransaction{}
		if err := proto.Unmarshal(resp.Payload, tx); err != nil {
			t.Fatal(err)
		}
		if tx.ValidationCode != int32(pb.TxValidationCode_VALID) ||
			!bytes.Equal(protos.Marshal(tx.TransactionEnvelope), protos.Marshal(env.Envelope)) {
			t.Fatalf("GetTransactionByID(%s) = code %d, envelope differs from block 9's", txID, tx.ValidationCode)
		}
	})
	t.Run("GetBlockByTxID", func(t *testing.T) {
		resp := invokeQSCC(q, onChannel, "GetBlockByTxID", "mychannel", txID)
		b := &cb.Block{}
		if resp.Status != 200 || proto.Unmarshal(resp.Payload, b) != nil || b.Header.Number != 9 {
			t.Fatalf("GetBlockByTxID = status %d %q, block %v", resp.Status, resp.Message, b.Header)
		}
	})
	if h := l.Blocks().Height(); h != 10 {
		t.Fatalf("queries changed the ledger height to %d", h)
	}
}

func TestQSCCErrors(t *testing.T) {
	t.Parallel()
	q, _, _ := fixtureQSCC(t, nil)
	onChannel := &chaincode.TxContext{ChannelID: "mychannel", Proposal: someProposal}
	tests := []struct {
		name   string
		txc    *chaincode.TxContext
		args   []string
		status int32
		want   []string
	}{
		{"no arguments", onChannel, nil, 400, []string{"want a function name and a channel name", "got 0"}},
		{"no channel argument", onChannel, []string{"GetChainInfo"}, 400, []string{"got 1"}},
		{"proposal for another channel", &chaincode.TxContext{ChannelID: "other"}, []string{"GetChainInfo", "mychannel"}, 400, []string{"proposal is for channel other", "asks about channel mychannel"}},
		{"unknown channel", &chaincode.TxContext{ChannelID: "nochannel"}, []string{"GetChainInfo", "nochannel"}, 404, []string{"GetChainInfo", `"nochannel"`}},
		{"unknown function", onChannel, []string{"GetEverything", "mychannel"}, 400, []string{`unknown function "GetEverything"`, "GetChainInfo"}},
		{"missing block number", onChannel, []string{"GetBlockByNumber", "mychannel"}, 400, []string{"missing block number"}},
		{"empty block number", onChannel, []string{"GetBlockByNumber", "mychannel", ""}, 400, []string{"missing block number"}},
		{"block number not a number", onChannel, []string{"GetBlockByNumber", "mychannel", "ten"}, 400, []string{`"ten" is not a number`}},
		{"negative block number", onChannel, []string{"GetBlockByNumber", "mychannel", "-1"}, 400, []string{`"-1" is not a number`}},
		{"block beyond the chain", onChannel, []string{"GetBlockByNumber", "mychannel", "10"}, 404, []string{"GetBlockByNumber 10 on mychannel"}},
		{"missing block hash", onChannel, []string{"GetBlockByHash", "mychannel"}, 400, []string{"missing block hash"}},
		{"unknown block hash", onChannel, []string{"GetBlockByHash", "mychannel", "\x01\x02"}, 404, []string{"GetBlockByHash 0102 on mychannel"}},
		{"missing txid", onChannel, []string{"GetTransactionByID", "mychannel"}, 400, []string{"missing transaction ID"}},
		{"unknown txid", onChannel, []string{"GetTransactionByID", "mychannel", "feed"}, 404, []string{"GetTransactionByID feed on mychannel"}},
		{"missing txid for block", onChannel, []string{"GetBlockByTxID", "mychannel"}, 400, []string{"missing transaction ID"}},
		{"unknown txid for block", onChannel, []string{"GetBlockByTxID", "mychannel", "feed"}, 404, []string{"GetBlockByTxID feed on mychannel"}},
		{"channel-less without a proposal", &chaincode.TxContext{}, []string{"GetChainInfo", "mychannel"}, 403, []string{"no signed proposal", "ACL qscc/GetChainInfo of channel mychannel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := invokeQSCC(q, tt.txc, tt.args...)
			if resp.Status != tt.status {
				t.Fatalf("status %d (%s), want %d", resp.Status, resp.Message, tt.status)
			}
			if len(resp.Payload) != 0 {
				t.Errorf("error response carries a payload of %d bytes", len(resp.Payload))
			}
			for _, w := range tt.want {
				if !strings.Contains(resp.Message, w) {
					t.Errorf("message %q does not contain %q", resp.Message, w)
				}
			}
		})
	}
}

// TestQSCCChannellessReaders checks that a proposal without a channel is
// answered only if its signed data satisfies the asked channel's Readers.
func TestQSCCChannellessReaders(t *testing.T) {
	t.Parallel()
	var seen []protos.SignedData
	allow := true
	q, _, _ := fixtureQSCC(t, policyFunc(func(sd []protos.SignedData) error {
		seen = sd
		if !allow {
			return errors.New("no signature from a reader")
		}
		return nil
	}))
	txc := &chaincode.TxContext{Proposal: someProposal}

	resp := invokeQSCC(q, txc, "GetChainInfo", "mychannel")
	if resp.Status != 200 {
		t.Fatalf("allowed reader: status %d: %s", resp.Status, resp.Message)
	}
	if len(seen) != 1 || string(seen[0].Data) != "proposal" || string(seen[0].Identity) != "creator" || string(seen[0].Signature) != "sig" {
		t.Fatalf("Readers evaluated %+v, want the proposal's signed data", seen)
	}

	allow = false
	resp = invokeQSCC(q, txc, "GetChainInfo", "mychannel")
	if resp.Status != 403 || !strings.Contains(resp.Message, "qscc/GetChainInfo") || !strings.Contains(resp.Message, readersPolicy) || !strings.Contains(resp.Message, "no signature from a reader") {
		t.Fatalf("denied reader: status %d %q, want 403 naming qscc/GetChainInfo, %s and the policy's reason", resp.Status, resp.Message, readersPolicy)
	}
}

// TestQSCCReadersOfFixtureChannel evaluates the real Readers policy of the
// fixture channel against an identity from another CA: access is denied.
func TestQSCCReadersOfFixtureChannel(t *testing.T) {
	t.Parallel()
	bundle, err := channelconfig.BundleFromBlock(fixtureBlock(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	readers, err := bundle.Policy(readersPolicy)
	if err != nil {
		t.Fatal(err)
	}
	q, _, _ := fixtureQSCC(t, readers)
	signer := devSigner(t, devCrypto(t), "Admin@org1.example.com")
	sp, _, err := protos.NewProposal(signer, "", "qscc", [][]byte{[]byte("GetChainInfo"), []byte("mychannel")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	resp := invokeQSCC(q, &chaincode.TxContext{Proposal: prop, SignedProposal: sp}, "GetChainInfo", "mychannel")
	if resp.Status != 403 || !strings.Contains(resp.Message, "access denied") {
		t.Fatalf("foreign admin: status %d %q, want 403 access denied", resp.Status, resp.Message)
	}
}

// TestQSCCHidesBlocksWhoseStateIsNotApplied: a block the store holds but
// whose writes are not in the state yet (a state write failed after the
// append and the commit path is retrying it) is not served by qscc, neither
// by number, by hash nor through its transactions, and chain info stops
// below it; once the commit path publishes it, qscc serves it.
func TestQSCCHidesBlocksWhoseStateIsNotApplied(t *testing.T) {
	t.Parallel()
	q, l, blocks := fixtureQSCC(t, nil)
	view, err := q.blocks("mychannel")
	if err != nil {
		t.Fatal(err)
	}
	view.height = 9 // block 9 appended, its state not applied yet
	on := &chaincode.TxContext{ChannelID: "mychannel", Proposal: someProposal}
	env, err := protos.UnmarshalEnvelope(blocks[9].Data.Data[0])
	if err != nil {
		t.Fatal(err)
	}
	txID := env.ChannelHeader.TxId

	info := &cb.BlockchainInfo{}
	if resp := invokeQSCC(q, on, "GetChainInfo", "mychannel"); resp.Status != 200 || proto.Unmarshal(resp.Payload, info) != nil ||
		info.Height != 9 || !bytes.Equal(info.CurrentBlockHash, protos.BlockHeaderHash(blocks[8].Header)) {
		t.Fatalf("GetChainInfo = %d %q height %d; want height 9 ending at block 8", resp.Status, resp.Message, info.Height)
	}
	for _, call := range [][]string{
		{"GetBlockByNumber", "mychannel", "9"},
		{"GetBlockByHash", "mychannel", string(protos.BlockHeaderHash(blocks[9].Header))},
		{"GetTransactionByID", "mychannel", txID},
		{"GetBlockByTxID", "mychannel", txID},
	} {
		if resp := invokeQSCC(q, on, call...); resp.Status != 404 {
			t.Errorf("%s of block 9 before its state is applied = %d %q, want 404", call[0], resp.Status, resp.Message)
		}
	}
	if resp := invokeQSCC(q, on, "GetBlockByNumber", "mychannel", "8"); resp.Status != 200 {
		t.Fatalf("GetBlockByNumber 8 = %d %q", resp.Status, resp.Message)
	}

	view.advance(l.Blocks().Height())
	if resp := invokeQSCC(q, on, "GetTransactionByID", "mychannel", txID); resp.Status != 200 {
		t.Fatalf("GetTransactionByID once block 9 is published = %d %q", resp.Status, resp.Message)
	}
}
