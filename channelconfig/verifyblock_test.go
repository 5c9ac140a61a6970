package channelconfig

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-ledger/weft/protos"
)

// TestVerifyBlockRefusesNonCanonicalEnvelopes: a block whose second
// envelope carries a duplicated payload field — it decodes to the same
// envelope but its bytes are not that envelope's encoding — is refused
// however well it is signed, naming the block and the transaction index.
func TestVerifyBlockRefusesNonCanonicalEnvelopes(t *testing.T) {
	n := newUpdateNet(t)
	orderer := signer(t, n.dir, ordDir, "orderer", "OrdererMSP")
	var envs [][]byte
	for i := range 2 {
		env, err := protos.NewSignedEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "mychannel", n.user1, &cb.Envelope{Payload: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, protos.Marshal(env))
	}
	if err := VerifyBlock(signBlock(t, protos.NewBlock(5, nil, envs), orderer), nil, n.bundle); err != nil {
		t.Fatalf("canonical block: %v", err)
	}
	decoy := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("decoy payload"))
	forged := [][]byte{envs[0], append(decoy, envs[1]...)}
	// Hash chain, data hash and orderer signature are all in order: only the
	// envelope's encoding is wrong.
	err := VerifyBlock(signBlock(t, protos.NewBlock(5, nil, forged), orderer), nil, n.bundle)
	if !errors.Is(err, ErrBlockVerification) {
		t.Fatalf("got %v, want ErrBlockVerification", err)
	}
	for _, want := range []string{"block 5", "transaction 1", "canonical"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestVerifyBlockFabricFixture: the blocks a Fabric v2.5.16 network wrote
// pass, chained one to the next under the genesis configuration.
func TestVerifyBlockFabricFixture(t *testing.T) {
	bundle := genesisBundle(t)
	var prev []byte
	for n := range 10 {
		b := readBlock(t, filepath.Join(fixtureDir, "blocks", fmt.Sprintf("block_%06d.pb", n)))
		if err := VerifyBlock(b, prev, bundle); err != nil {
			t.Fatalf("fixture block %d: %v", n, err)
		}
		prev = protos.BlockHeaderHash(b.Header)
	}
}
