package protos

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/fabricfixture"
)

func loadFixtureBlock(t *testing.T, n int) *cb.Block {
	t.Helper()
	b, err := UnmarshalBlock(fabricfixture.ReadFile(t, "blocks", fmt.Sprintf("block_%06d.pb", n)))
	if err != nil {
		t.Fatalf("block %d: %v", n, err)
	}
	return b
}

func TestFixtureHashChainAndDataHash(t *testing.T) {
	var prev *cb.Block
	for n := 0; n <= 9; n++ {
		b := loadFixtureBlock(t, n)
		if got := BlockDataHash(b.Data); !bytes.Equal(got, b.Header.DataHash) {
			t.Errorf("block %d: data hash %x, header says %x", n, got, b.Header.DataHash)
		}
		if prev != nil && !bytes.Equal(BlockHeaderHash(prev.Header), b.Header.PreviousHash) {
			t.Errorf("block %d: previous_hash does not match hash of block %d header", n, n-1)
		}
		prev = b
	}
}

func TestFixtureTxIDsAndEndorsements(t *testing.T) {
	for _, n := range []int{1, 3, 7, 9, 171} {
		b := loadFixtureBlock(t, n)
		for i, raw := range b.Data.Data {
			env, err := UnmarshalEnvelope(raw)
			if err != nil {
				t.Fatalf("block %d tx %d: %v", n, i, err)
			}
			want := ComputeTxID(env.SignatureHeader.Nonce, env.SignatureHeader.Creator)
			if env.ChannelHeader.TxId != want {
				t.Errorf("block %d tx %d: txid %s, computed %s", n, i, env.ChannelHeader.TxId, want)
			}
			tx, err := ParseEndorserTx(env)
			if err != nil {
				t.Fatalf("block %d tx %d: %v", n, i, err)
			}
			if len(tx.Endorsements()) == 0 {
				t.Errorf("block %d tx %d: no endorsements", n, i)
			}
		}
	}
}

func TestBlockHeaderHashChangesWithEveryField(t *testing.T) {
	base := &cb.BlockHeader{Number: 7, PreviousHash: []byte{1, 2}, DataHash: []byte{3, 4}}
	variants := []*cb.BlockHeader{
		{Number: 8, PreviousHash: []byte{1, 2}, DataHash: []byte{3, 4}},
		{Number: 7, PreviousHash: []byte{1, 3}, DataHash: []byte{3, 4}},
		{Number: 7, PreviousHash: []byte{1, 2}, DataHash: []byte{3, 5}},
	}
	for i, v := range variants {
		if bytes.Equal(BlockHeaderHash(base), BlockHeaderHash(v)) {
			t.Errorf("variant %d hashes equal to base", i)
		}
	}
}

func TestUnmarshalBlockRejectsGarbage(t *testing.T) {
	if _, err := UnmarshalBlock([]byte{0xff, 0xff, 0xff}); err == nil {
		t.Fatal("garbage decoded as a block")
	}
	if _, err := UnmarshalBlock(Marshal(&cb.Block{})); err == nil {
		t.Fatal("block without header accepted")
	}
}

func TestTxFilterDefaultsToValid(t *testing.T) {
	b := NewBlock(3, nil, [][]byte{{1}, {2}})
	if f := TxFilter(b); len(f) != 2 || f[0] != 0 || f[1] != 0 {
		t.Fatalf("filter %v", f)
	}
	SetTxFilter(b, []byte{0, 11})
	if f := TxFilter(b); f[1] != 11 {
		t.Fatalf("filter %v", f)
	}
}

func TestEnvelopeChannelHeaderAcceptsGenesisEnvelope(t *testing.T) {
	b, err := UnmarshalBlock(fabricfixture.ReadFile(t, "mychannel-genesis.block"))
	if err != nil {
		t.Fatal(err)
	}
	chdr, err := EnvelopeChannelHeader(b.Data.Data[0])
	if err != nil {
		t.Fatal(err)
	}
	if cb.HeaderType(chdr.Type) != cb.HeaderType_CONFIG || chdr.ChannelId != "mychannel" {
		t.Fatalf("channel header = %v", chdr)
	}
	if _, err := EnvelopeChannelHeader([]byte{0xff}); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestBlockSignatureBytesVerifiesFixtureSignature(t *testing.T) {
	b := loadFixtureBlock(t, 9)
	md := &cb.Metadata{}
	if err := proto.Unmarshal(b.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES], md); err != nil {
		t.Fatal(err)
	}
	if len(md.Signatures) != 1 {
		t.Fatalf("%d signatures", len(md.Signatures))
	}
	msg := BlockSignatureBytes(md.Value, md.Signatures[0].SignatureHeader, b.Header)
	shdr, err := UnmarshalSignatureHeader(md.Signatures[0].SignatureHeader)
	if err != nil {
		t.Fatal(err)
	}
	if !verifyWithCreator(t, shdr.Creator, msg, md.Signatures[0].Signature) {
		t.Fatal("orderer signature does not verify over BlockSignatureBytes")
	}
	msg[0] ^= 1
	if verifyWithCreator(t, shdr.Creator, msg, md.Signatures[0].Signature) {
		t.Fatal("signature verifies over altered bytes")
	}
}

// A deliver request carries the seek info, and the SHA-256 of the TLS client
// certificate when one is given (none otherwise).
func TestNewDeliverRequest(t *testing.T) {
	seek := &ab.SeekInfo{Behavior: ab.SeekInfo_FAIL_IF_NOT_READY}
	for _, cert := range [][]byte{nil, []byte("client certificate DER")} {
		env, err := NewDeliverRequest(fuzzSigner{}, "mychannel", seek, cert)
		if err != nil {
			t.Fatal(err)
		}
		chdr, err := EnvelopeChannelHeader(Marshal(env))
		if err != nil {
			t.Fatal(err)
		}
		if cb.HeaderType(chdr.Type) != cb.HeaderType_DELIVER_SEEK_INFO || chdr.ChannelId != "mychannel" {
			t.Fatalf("channel header %v", chdr)
		}
		want := []byte(nil)
		if cert != nil {
			sum := sha256.Sum256(cert)
			want = sum[:]
		}
		if !bytes.Equal(chdr.TlsCertHash, want) {
			t.Fatalf("tls_cert_hash %x, want %x", chdr.TlsCertHash, want)
		}
	}
}
