package raftchain

import (
	"bytes"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// TestMetadataMatchesFabricFixtures decodes blocks written by a Fabric 2.5.16
// etcdraft orderer, checks their signatures the way our blocks are signed, and
// requires SignBlock to produce the same metadata bytes and slot layout.
func TestMetadataMatchesFabricFixtures(t *testing.T) {
	for _, name := range []string{"block_000001.pb", "block_000009.pb"} {
		fb, err := protos.UnmarshalBlock(fabricfixture.ReadFile(t, "blocks", name))
		if err != nil {
			t.Fatal(err)
		}
		obm, rmd, err := BlockMetadata(fb)
		if err != nil || rmd == nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rmd.ConsenterIds) != 1 || rmd.ConsenterIds[0] != 1 || rmd.NextConsenterId != 2 || rmd.RaftIndex == 0 {
			t.Fatalf("%s: raft metadata %v", name, rmd)
		}
		md := &cb.Metadata{}
		proto.Unmarshal(fb.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES], md)
		shdr := &cb.SignatureHeader{}
		proto.Unmarshal(md.Signatures[0].SignatureHeader, shdr)
		id, err := msp.ParseSerializedIdentity(shdr.Creator)
		if err != nil {
			t.Fatal(err)
		}
		msg := append(append(append([]byte{}, md.Value...), md.Signatures[0].SignatureHeader...), protos.BlockHeaderBytes(fb.Header)...)
		if err := id.Verify(msg, md.Signatures[0].Signature); err != nil {
			t.Fatalf("%s: Fabric's orderer signature does not verify our way: %v", name, err)
		}
		if len(fb.Metadata.Metadata[cb.BlockMetadataIndex_LAST_CONFIG]) != 0 {
			t.Fatalf("%s: fixture has a LAST_CONFIG slot; SignBlock leaves it empty", name)
		}

		ours := protos.NewBlock(fb.Header.Number, fb.Header.PreviousHash, fb.Data.Data)
		if !bytes.Equal(ours.Header.DataHash, fb.Header.DataHash) {
			t.Fatalf("%s: data hash differs", name)
		}
		if err := SignBlock(ours, newSigner(t), obm.LastConfig.GetIndex(), rmd); err != nil {
			t.Fatal(err)
		}
		omd := &cb.Metadata{}
		proto.Unmarshal(ours.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES], omd)
		if !bytes.Equal(omd.Value, md.Value) {
			t.Fatalf("%s: our SIGNATURES value %x, Fabric's %x", name, omd.Value, md.Value)
		}
		if len(omd.Signatures) != 1 || len(omd.Signatures[0].IdentifierHeader) != 0 {
			t.Fatalf("%s: signature layout differs", name)
		}
	}
}
