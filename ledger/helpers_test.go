package ledger

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// endorserEnvelope builds an ENDORSER_TRANSACTION envelope carrying rws, with
// just enough structure for protos.ParseEndorserTx (no real signatures: the
// ledger never checks them).
func endorserEnvelope(txID string, rws *rwset.TxReadWriteSet) []byte {
	return endorserEnvelopeAt(txID, rws, nil)
}

// endorserEnvelopeAt is endorserEnvelope with a channel header timestamp.
func endorserEnvelopeAt(txID string, rws *rwset.TxReadWriteSet, ts *timestamppb.Timestamp) []byte {
	chdr := &cb.ChannelHeader{Type: int32(cb.HeaderType_ENDORSER_TRANSACTION), ChannelId: "testchannel", TxId: txID, Timestamp: ts}
	shdr := &cb.SignatureHeader{Creator: []byte("creator-" + txID), Nonce: []byte("nonce")}
	act := &pb.ChaincodeAction{Results: protos.Marshal(rws), ChaincodeId: &pb.ChaincodeID{Name: "cc"}}
	prp := &pb.ProposalResponsePayload{ProposalHash: []byte("h"), Extension: protos.Marshal(act)}
	cap := &pb.ChaincodeActionPayload{Action: &pb.ChaincodeEndorsedAction{ProposalResponsePayload: protos.Marshal(prp)}}
	tx := &pb.Transaction{Actions: []*pb.TransactionAction{{Header: protos.Marshal(shdr), Payload: protos.Marshal(cap)}}}
	payload := &cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(chdr), SignatureHeader: protos.Marshal(shdr)},
		Data:   protos.Marshal(tx),
	}
	return protos.Marshal(&cb.Envelope{Payload: protos.Marshal(payload), Signature: []byte("sig")})
}

// nextBlock builds the block after prev (nil for block 0) holding envs.
func nextBlock(prev *cb.Block, envs ...[]byte) *cb.Block {
	if prev == nil {
		return protos.NewBlock(0, nil, envs)
	}
	return protos.NewBlock(prev.Header.Number+1, protos.BlockHeaderHash(prev.Header), envs)
}

func txIDFor(block uint64, i int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("tx-%d-%d", block, i)))
	return fmt.Sprintf("%x", h)
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func openLedger(t *testing.T, dir string) *Ledger {
	t.Helper()
	l, err := OpenWithOptions(dir, Options{Logger: quietLog})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

// dump returns every entry of the given namespaces as "ns/key=value@version".
func dump(t *testing.T, db statedb.DB, namespaces ...string) []string {
	t.Helper()
	var out []string
	for _, ns := range namespaces {
		it, err := db.GetRange(ns, "", "")
		if err != nil {
			t.Fatal(err)
		}
		for {
			kv, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if kv == nil {
				break
			}
			out = append(out, fmt.Sprintf("%s/%q=%q meta=%x @%s", ns, kv.Key, kv.Value, kv.Metadata, kv.Version))
		}
		it.Close()
	}
	return out
}

// txWriteSets decodes the read/write sets of an endorser transaction
// envelope; ok is false for other transaction types (config).
func txWriteSets(t *testing.T, raw []byte) (sets []decodedNs, ok bool) {
	t.Helper()
	env, err := protos.UnmarshalEnvelope(raw)
	if err != nil || cb.HeaderType(env.ChannelHeader.Type) != cb.HeaderType_ENDORSER_TRANSACTION {
		return nil, false
	}
	etx, err := protos.ParseEndorserTx(env)
	if err != nil {
		t.Fatal(err)
	}
	sets, err = decodeRWSet(etx.ReadWriteSet)
	if err != nil {
		t.Fatal(err)
	}
	return sets, true
}
