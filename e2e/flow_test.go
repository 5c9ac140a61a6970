package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
	"github.com/weft-ledger/weft/protos"
)

// asset is an asset of the basic sample.
type asset = devnettest.Asset

func readAsset(t *testing.T, c *client.Contract, id string) asset {
	t.Helper()
	return devnettest.ReadAsset(t, c, id)
}

// submitEverywhere submits a transaction through the gateway and waits until
// every peer of the network has committed it, so that later endorsements on
// any peer see its writes. (The gateway waits only for its own peer.)
func submitEverywhere(t *testing.T, c *client.Contract, fn string, args ...string) []byte {
	t.Helper()
	return devnettest.SubmitEverywhere(t, network, c, fn, args...)
}

func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

func TestGatewayEvaluateAndSubmit(t *testing.T) {
	_, contract := gatewayFor(t, network.Orgs[0], "User1")

	raw, err := contract.EvaluateTransaction("GetAllAssets")
	if err != nil {
		t.Fatalf("GetAllAssets: %v", err)
	}
	var all []asset
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatalf("GetAllAssets returned %q: %v", raw, err)
	}
	if len(all) < 6 {
		t.Fatalf("InitLedger should have created 6 assets, GetAllAssets returned %d", len(all))
	}

	id := uniqueID("asset")
	// Every peer must have it before TransferAsset is endorsed on both.
	submitEverywhere(t, contract, "CreateAsset", id, "yellow", "5", "Tom", "1300")
	got := readAsset(t, contract, id)
	want := asset{ID: id, Color: "yellow", Size: 5, Owner: "Tom", AppraisedValue: 1300}
	if got != want {
		t.Fatalf("ReadAsset = %+v, want %+v", got, want)
	}
	old := submitEverywhere(t, contract, "TransferAsset", id, "Mary")
	if string(old) != "Tom" {
		t.Fatalf("TransferAsset returned %q, want the old owner Tom", old)
	}
	// Org2's peer committed the same transaction.
	_, contract2 := gatewayFor(t, network.Orgs[1], "User1")
	if a := readAsset(t, contract2, id); a.Owner != "Mary" {
		t.Fatalf("Org2's peer sees owner %q, want Mary", a.Owner)
	}
	// A chaincode error reaches the client with the chaincode's message.
	_, err = contract.SubmitTransaction("CreateAsset", id, "yellow", "5", "Tom", "1300")
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("creating %s twice: err = %v, want 'already exists'", id, err)
	}
}

// TestSameKeyTwiceIsMVCCConflict endorses two transfers of one asset before
// either is ordered: both read the same version, so the second to commit is
// an MVCC conflict, whether the orderer cut them into one block (it does
// when they arrive together) or two (it cuts a lone envelope at once when
// the channel is not busy: docs/ordering.md). Conflicts inside one block are
// also covered by the ledger's MVCC scripts.
func TestSameKeyTwiceIsMVCCConflict(t *testing.T) {
	_, contract := gatewayFor(t, network.Orgs[0], "User1")
	id := uniqueID("mvcc")
	submitEverywhere(t, contract, "CreateAsset", id, "blue", "1", "Ann", "10")
	// Endorse both transfers before either is ordered, so both read the same version.
	var txs []*client.Transaction
	for _, owner := range []string{"Bob", "Carl"} {
		p, err := contract.NewProposal("TransferAsset", client.WithArguments(id, owner))
		if err != nil {
			t.Fatal(err)
		}
		tx, err := p.Endorse()
		if err != nil {
			t.Fatalf("endorse transfer to %s: %v", owner, err)
		}
		txs = append(txs, tx)
	}
	var commits []*client.Commit
	for _, tx := range txs {
		c, err := tx.Submit()
		if err != nil {
			t.Fatal(err)
		}
		commits = append(commits, c)
	}
	var statuses []*client.Status
	for _, c := range commits {
		st, err := c.Status()
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, st)
	}
	if statuses[0].Code != pb.TxValidationCode_VALID || statuses[1].Code != pb.TxValidationCode_MVCC_READ_CONFLICT {
		t.Fatalf("codes = %s, %s; want VALID, MVCC_READ_CONFLICT", statuses[0].Code, statuses[1].Code)
	}
	if statuses[1].BlockNumber < statuses[0].BlockNumber {
		t.Fatalf("the second transfer landed in block %d, before the first (block %d)", statuses[1].BlockNumber, statuses[0].BlockNumber)
	}
	if a := readAsset(t, contract, id); a.Owner != "Bob" {
		t.Fatalf("owner = %q, want Bob (the conflicting write must not apply)", a.Owner)
	}
}

// TestOneOrgEndorsementFailsPolicy sends a transaction endorsed by Org1's peer
// only; basic's policy (the channel default, a majority of two orgs) needs both.
func TestOneOrgEndorsementFailsPolicy(t *testing.T) {
	_, contract := gatewayFor(t, network.Orgs[0], "User1")
	id := uniqueID("policy")
	submitEverywhere(t, contract, "CreateAsset", id, "green", "2", "Dan", "20")
	cfg := network.Config()
	user, err := cfg.Signer(network.Orgs[0], "User1")
	if err != nil {
		t.Fatal(err)
	}
	peer1 := dialPeer(t, network.Orgs[0])
	w, err := wclient.WatchCommits(context.Background(), peer1, user, devnet.ChannelID, wclient.SeekNewest())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	inv := wclient.Invocation{Channel: devnet.ChannelID, Chaincode: devnet.ChaincodeName, Args: [][]byte{[]byte("TransferAsset"), []byte(id), []byte("Eve")}}
	_, err = wclient.Invoke(context.Background(), user, inv, map[string]pb.EndorserClient{"org1": pb.NewEndorserClient(peer1)}, dialOrderer(t), w)
	if !errors.Is(err, wclient.ErrNotCommitted) || !strings.Contains(err.Error(), "ENDORSEMENT_POLICY_FAILURE") {
		t.Fatalf("err = %v, want ENDORSEMENT_POLICY_FAILURE", err)
	}
	if a := readAsset(t, contract, id); a.Owner != "Dan" {
		t.Fatalf("owner = %q after a policy failure, want Dan (state unchanged)", a.Owner)
	}
}

// endorsedEnvelope endorses a CreateAsset on both peers and returns the signed envelope.
func endorsedEnvelope(t *testing.T, id string) (*cb.Envelope, string) {
	t.Helper()
	user, err := network.Config().Signer(network.Orgs[0], "User1")
	if err != nil {
		t.Fatal(err)
	}
	sp, txID, err := protos.NewProposal(user, devnet.ChannelID, devnet.ChaincodeName,
		[][]byte{[]byte("CreateAsset"), []byte(id), []byte("red"), []byte("3"), []byte("Fay"), []byte("30")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return endorsedTransaction(context.Background(), t, user, sp, allEndorsers(t)), txID
}

// allEndorsers returns an endorser client for every peer of the network, by MSP ID.
func allEndorsers(t *testing.T) map[string]pb.EndorserClient {
	t.Helper()
	eps := map[string]pb.EndorserClient{}
	for _, o := range network.Orgs {
		eps[o.MSPID] = pb.NewEndorserClient(dialPeer(t, o))
	}
	return eps
}

// endorsedTransaction endorses sp on eps and returns the transaction
// envelope, signed by user, that the client would broadcast.
func endorsedTransaction(ctx context.Context, t *testing.T, user protos.Signer, sp *pb.SignedProposal, eps map[string]pb.EndorserClient) *cb.Envelope {
	t.Helper()
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	responses, err := wclient.Endorse(ctx, sp, eps)
	if err != nil {
		t.Fatalf("endorse transaction %s: %v", prop.ChannelHeader.TxId, err)
	}
	payload, err := protos.NewTransaction(prop, responses)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protos.SignEnvelope(payload, user)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func broadcastStatus(t *testing.T, env *cb.Envelope) *ab.BroadcastResponse {
	t.Helper()
	stream, err := ab.NewAtomicBroadcastClient(dialOrderer(t)).Broadcast(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(env); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestBadlySignedEnvelopeRefusedAtBroadcast(t *testing.T) {
	env, _ := endorsedEnvelope(t, uniqueID("badsig"))
	env.Signature[len(env.Signature)/2] ^= 0xff
	resp := broadcastStatus(t, env)
	if resp.Status != cb.Status_FORBIDDEN && resp.Status != cb.Status_BAD_REQUEST {
		t.Fatalf("status = %s (%s), want FORBIDDEN or BAD_REQUEST", resp.Status, resp.Info)
	}
	if !strings.Contains(strings.ToLower(resp.Info), "signature") {
		t.Fatalf("info %q does not name the signature as the cause", resp.Info)
	}
}

// TestReplayedTransactionIsDuplicate broadcasts the same envelope twice: the
// first copy commits VALID, the second is recorded as DUPLICATE_TXID.
func TestReplayedTransactionIsDuplicate(t *testing.T) {
	id := uniqueID("replay")
	env, txID := endorsedEnvelope(t, id)
	user, err := network.Config().Signer(network.Orgs[0], "User1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := pb.NewDeliverClient(dialPeer(t, network.Orgs[0])).DeliverFiltered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seek, err := wclient.SeekEnvelope(user, devnet.ChannelID, wclient.SeekNewest(), math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(seek); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if resp := broadcastStatus(t, env); resp.Status != cb.Status_SUCCESS {
			t.Fatalf("broadcast %d: %s %s", i, resp.Status, resp.Info)
		}
	}
	var codes []pb.TxValidationCode
	for len(codes) < 2 {
		resp, err := stream.Recv()
		if err == io.EOF || err != nil {
			t.Fatalf("waiting for both copies of %s: %v (saw %v)", txID, err, codes)
		}
		if fb := resp.GetFilteredBlock(); fb != nil {
			for _, ftx := range fb.FilteredTransactions {
				if ftx.Txid == txID {
					codes = append(codes, ftx.TxValidationCode)
				}
			}
		}
	}
	if codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_DUPLICATE_TXID {
		t.Fatalf("codes = %v, want [VALID DUPLICATE_TXID]", codes)
	}
}
