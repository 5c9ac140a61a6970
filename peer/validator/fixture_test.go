package validator

import (
	"fmt"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/protos"
)

// readFixture returns fixture block n and Fabric's verdicts for it, with the
// TRANSACTIONS_FILTER removed from the block.
func readFixture(t testing.TB, n int) (*cb.Block, []byte) {
	t.Helper()
	b, err := protos.UnmarshalBlock(fabricfixture.ReadFile(t, "blocks", fmt.Sprintf("block_%06d.pb", n)))
	if err != nil {
		t.Fatal(err)
	}
	want := protos.TxFilter(b)
	b.Metadata.Metadata[cb.BlockMetadataIndex_TRANSACTIONS_FILTER] = nil
	return b, want
}

// fixtureChain is a ledger holding fixture blocks 0..upto committed through
// VerifyBlock + ValidateBlock + Commit.
type fixtureChain struct {
	l      *ledger.Ledger
	v      *Validator
	bundle *channelconfig.Bundle
	prev   []byte
}

func newFixtureChain(t testing.TB) *fixtureChain {
	t.Helper()
	l, err := ledger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &fixtureChain{l: l, v: New(Config{Workers: 4})}
}

func (c *fixtureChain) commit(t testing.TB, n int) {
	t.Helper()
	b, want := readFixture(t, n)
	if n == 0 {
		bundle, err := channelconfig.BundleFromBlock(b)
		if err != nil {
			t.Fatal(err)
		}
		c.bundle = bundle
	}
	if err := VerifyBlock(b, c.prev, c.bundle); err != nil {
		t.Fatalf("VerifyBlock(%d): %v", n, err)
	}
	verdicts, err := c.v.Validate(b, c.bundle, c.l.State(), c.l.Blocks().TxExists)
	if err != nil {
		t.Fatalf("ValidateBlock(%d): %v", n, err)
	}
	flags := make([]byte, len(verdicts))
	for i, vd := range verdicts {
		flags[i] = byte(vd.Code)
		if flags[i] != want[i] {
			t.Fatalf("block %d tx %d: Weft says %s (%s), Fabric said %s", n, i, vd.Code, vd.Reason, pb.TxValidationCode(want[i]))
		}
	}
	protos.SetTxFilter(b, flags)
	if err := c.l.Commit(b, nil); err != nil {
		t.Fatalf("commit block %d: %v", n, err)
	}
	if got := protos.TxFilter(b); string(got) != string(want) {
		t.Fatalf("block %d: filter after MVCC %v, Fabric's %v", n, got, want)
	}
	c.prev = protos.BlockHeaderHash(b.Header)
}

// TestFixtureBlocksValidateAsFabric commits fixture blocks 0-9 through
// VerifyBlock, ValidateBlock and the ledger, checking every verdict against
// Fabric's, then judges block 171 (endorsed by Org1 only) against that state.
func TestFixtureBlocksValidateAsFabric(t *testing.T) {
	c := newFixtureChain(t)
	for n := 0; n <= 9; n++ {
		c.commit(t, n)
	}
	b, want := readFixture(t, 171)
	if err := VerifyBlock(b, nil, c.bundle); err != nil {
		t.Fatalf("VerifyBlock(171): %v", err)
	}
	verdicts, err := c.v.Validate(b, c.bundle, c.l.State(), c.l.Blocks().TxExists)
	if err != nil {
		t.Fatal(err)
	}
	if len(verdicts) != 1 || verdicts[0].Code != pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE || byte(verdicts[0].Code) != want[0] {
		t.Fatalf("block 171: %+v, Fabric said %s", verdicts, pb.TxValidationCode(want[0]))
	}
	if !strings.Contains(verdicts[0].Reason, "namespace basic") || !strings.Contains(verdicts[0].Reason, "Org2MSP") {
		t.Errorf("reason does not name the namespace and the missing org: %q", verdicts[0].Reason)
	}
}

// tamper returns a copy of fixture block n with fn applied to each envelope.
func tamper(t *testing.T, n int, fn func(env *cb.Envelope)) *cb.Block {
	t.Helper()
	b, _ := readFixture(t, n)
	for i, raw := range b.Data.Data {
		env := &cb.Envelope{}
		if err := proto.Unmarshal(raw, env); err != nil {
			t.Fatal(err)
		}
		fn(env)
		b.Data.Data[i] = protos.Marshal(env)
	}
	b.Header.DataHash = protos.BlockDataHash(b.Data)
	return b
}

func TestFixtureTamperedTransactions(t *testing.T) {
	c := newFixtureChain(t)
	for n := 0; n <= 6; n++ {
		c.commit(t, n)
	}
	validate := func(b *cb.Block) []Verdict {
		t.Helper()
		vs, err := c.v.Validate(b, c.bundle, c.l.State(), c.l.Blocks().TxExists)
		if err != nil {
			t.Fatal(err)
		}
		return vs
	}

	// A flipped byte in the creator's signature.
	vs := validate(tamper(t, 7, func(env *cb.Envelope) { env.Signature[len(env.Signature)-1] ^= 1 }))
	if vs[0].Code != pb.TxValidationCode_BAD_CREATOR_SIGNATURE {
		t.Errorf("flipped creator signature: %s (%s)", vs[0].Code, vs[0].Reason)
	}
	// A flipped byte in the payload breaks the signature too.
	vs = validate(tamper(t, 7, func(env *cb.Envelope) { env.Payload[len(env.Payload)-1] ^= 1 }))
	if vs[0].Code == pb.TxValidationCode_VALID {
		t.Errorf("altered payload validated")
	}
	// Garbage instead of an envelope.
	b, _ := readFixture(t, 7)
	b.Data.Data[0] = []byte{0xff, 0xff}
	if vs = validate(b); vs[0].Code != pb.TxValidationCode_INVALID_OTHER_REASON {
		t.Errorf("garbage envelope: %s", vs[0].Code)
	}

	// The same envelope twice in one block: the second is a duplicate.
	b, _ = readFixture(t, 7)
	b.Data.Data = append(b.Data.Data, b.Data.Data[0])
	vs = validate(b)
	if vs[0].Code != pb.TxValidationCode_VALID || vs[1].Code != pb.TxValidationCode_DUPLICATE_TXID {
		t.Errorf("duplicate in block: %s, %s", vs[0].Code, vs[1].Code)
	}

	// A block whose transaction is already in the ledger.
	b, _ = readFixture(t, 6)
	if vs = validate(b); vs[0].Code != pb.TxValidationCode_DUPLICATE_TXID {
		t.Errorf("transaction already committed: %s (%s)", vs[0].Code, vs[0].Reason)
	}

	// Fabric's next block verifies; tampered ones do not.
	b, _ = readFixture(t, 7)
	if err := VerifyBlock(b, c.prev, c.bundle); err != nil {
		t.Fatalf("block 7: %v", err)
	}
	md := &cb.Metadata{}
	if err := proto.Unmarshal(b.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES], md); err != nil {
		t.Fatal(err)
	}
	md.Signatures[0].Signature[len(md.Signatures[0].Signature)-1] ^= 1
	b.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES] = protos.Marshal(md)
	if err := VerifyBlock(b, c.prev, c.bundle); err == nil || !strings.Contains(err.Error(), "block 7") || !strings.Contains(err.Error(), BlockValidationPolicy) {
		t.Errorf("bad orderer signature: %v", err)
	}
	b, _ = readFixture(t, 7)
	b.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES] = nil
	if err := VerifyBlock(b, c.prev, c.bundle); err == nil || !strings.Contains(err.Error(), "no SIGNATURES") {
		t.Errorf("unsigned block: %v", err)
	}
	b, _ = readFixture(t, 7)
	b.Header.Number = 8 // signed header no longer matches
	if err := VerifyBlock(b, c.prev, c.bundle); err == nil {
		t.Errorf("renumbered block verified")
	}
	b, _ = readFixture(t, 7)
	if err := VerifyBlock(b, []byte("not the previous hash"), c.bundle); err == nil || !strings.Contains(err.Error(), "previous_hash") {
		t.Errorf("broken chain: %v", err)
	}
	// An envelope altered after the header was signed: the data hash tells.
	b, _ = readFixture(t, 7)
	env := &cb.Envelope{}
	if err := proto.Unmarshal(b.Data.Data[0], env); err != nil {
		t.Fatal(err)
	}
	env.Signature[len(env.Signature)-1] ^= 1
	b.Data.Data[0] = protos.Marshal(env)
	if err := VerifyBlock(b, c.prev, c.bundle); err == nil || !strings.Contains(err.Error(), "data_hash") {
		t.Errorf("altered data: %v", err)
	}
	// Bytes that are not an envelope's own encoding are refused before the
	// data hash is looked at (Fabric's fix for CVE-2023-46132).
	b = tamper(t, 7, func(*cb.Envelope) {})
	b.Data.Data[0] = append(b.Data.Data[0], 0)
	if err := VerifyBlock(b, c.prev, c.bundle); err == nil || !strings.Contains(err.Error(), "block 7 is malformed: transaction 0") {
		t.Errorf("trailing byte after an envelope: %v", err)
	}
}
