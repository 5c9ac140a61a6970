package blockjson

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"reflect"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/protos"
)

func decodeFixture(t *testing.T, n int) *BlockJSON {
	t.Helper()
	b, err := BlockBytes(fabricfixture.ReadFile(t, fmt.Sprintf("blocks/block_%06d.pb", n)))
	if err != nil {
		t.Fatalf("decode Fabric block %d: %v", n, err)
	}
	return b
}

func TestFabricBlocksDecode(t *testing.T) {
	prevHash := ""
	for n := 0; n <= 9; n++ {
		b := decodeFixture(t, n)
		if b.Number != uint64(n) {
			t.Fatalf("block %d decoded as number %d", n, b.Number)
		}
		raw := fixtureBlock(t, n)
		if want := len(raw.Data.Data); len(b.Transactions) != want {
			t.Fatalf("block %d: %d transactions, want %d", n, len(b.Transactions), want)
		}
		if n > 0 && b.PreviousHash != prevHash {
			t.Fatalf("block %d: previousHash %s, want the hash of block %d %s", n, b.PreviousHash, n-1, prevHash)
		}
		prevHash = fmt.Sprintf("%x", protos.BlockHeaderHash(raw.Header))
		for i, tx := range b.Transactions {
			if tx.ValidationCode != "VALID" || tx.DecodeError != "" || tx.Channel != "mychannel" || tx.BlockNumber != uint64(n) {
				t.Fatalf("block %d tx %d: code %s, decodeError %q, channel %q, blockNumber %d", n, i, tx.ValidationCode, tx.DecodeError, tx.Channel, tx.BlockNumber)
			}
		}
		if n > 0 {
			// every block after genesis is signed by the one orderer
			want := []SignerJSON{{IdentityJSON: IdentityJSON{MSPID: "OrdererMSP", Subject: "CN=orderer.example.com,OU=orderer,L=San Francisco,ST=California,C=US"}}}
			if !reflect.DeepEqual(b.Metadata.Signatures, want) || b.Metadata.LastConfig != 0 {
				t.Fatalf("block %d metadata = %+v", n, b.Metadata)
			}
		}
	}
}

func TestFabricGenesisConfig(t *testing.T) {
	b := decodeFixture(t, 0)
	tx := b.Transactions[0]
	if tx.Type != "CONFIG" || tx.Creator != nil || tx.Chaincode != nil {
		t.Fatalf("genesis tx: type %s, creator %v, chaincode %v", tx.Type, tx.Creator, tx.Chaincode)
	}
	want := &ConfigJSON{
		Sequence:        0,
		ApplicationOrgs: []OrgJSON{{Name: "Org1MSP", MSPID: "Org1MSP"}, {Name: "Org2MSP", MSPID: "Org2MSP"}},
		OrdererOrgs:     []OrgJSON{{Name: "OrdererOrg", MSPID: "OrdererMSP"}},
	}
	if !reflect.DeepEqual(tx.Config, want) {
		t.Fatalf("config summary = %+v, want %+v", tx.Config, want)
	}
	if len(b.Metadata.Signatures) != 0 {
		t.Fatalf("genesis block has signatures %+v", b.Metadata.Signatures)
	}
	// configtxgen's own genesis block has the same transaction.
	g, err := BlockBytes(fabricfixture.ReadFile(t, "mychannel-genesis.block"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Transactions, b.Transactions) {
		t.Fatalf("configtxgen genesis decodes to %+v, peer block 0 to %+v", g.Transactions, b.Transactions)
	}
}

func TestFabricInitLedger(t *testing.T) {
	b := decodeFixture(t, 7)
	if len(b.Transactions) != 1 {
		t.Fatalf("%d transactions", len(b.Transactions))
	}
	tx := b.Transactions[0]
	if tx.TxID != "341692bba39e900197f88a6fa91fab9d9b5a0483c99f24cc456b3bb4bb8012a7" || tx.Type != "ENDORSER_TRANSACTION" {
		t.Fatalf("txId %s type %s", tx.TxID, tx.Type)
	}
	if tx.Timestamp != "2026-11-22T01:56:43.625895526Z" {
		t.Fatalf("timestamp %s", tx.Timestamp)
	}
	if tx.Creator == nil || tx.Creator.MSPID != "Org1MSP" || tx.Creator.Subject != "CN=Admin@org1.example.com,OU=admin,L=San Francisco,ST=California,C=US" {
		t.Fatalf("creator %+v", tx.Creator)
	}
	if *tx.Chaincode != (ChaincodeJSON{Name: "basic", Version: "1.0"}) || tx.Input.Function != "InitLedger" || len(tx.Input.Args) != 0 {
		t.Fatalf("chaincode %+v input %+v", tx.Chaincode, tx.Input)
	}
	if tx.Response == nil || tx.Response.Status != 200 {
		t.Fatalf("response %+v", tx.Response)
	}
	var endorsers []string
	for _, e := range tx.Endorsements {
		endorsers = append(endorsers, e.MSPID)
	}
	if strings.Join(endorsers, ",") != "Org2MSP,Org1MSP" {
		t.Fatalf("endorsers %v", endorsers)
	}
	if len(tx.Namespaces) != 2 || tx.Namespaces[0].Namespace != "_lifecycle" || tx.Namespaces[1].Namespace != "basic" {
		t.Fatalf("namespaces %+v", tx.Namespaces)
	}
	lc := tx.Namespaces[0]
	if len(lc.Reads) != 1 || lc.Reads[0].Key != "namespaces/fields/basic/Sequence" || *lc.Reads[0].Version != (VersionJSON{BlockNum: 3, TxNum: 0}) {
		t.Fatalf("_lifecycle reads %+v", lc.Reads)
	}
	w := tx.Namespaces[1].Writes
	if len(w) != 6 || w[0].Key != "asset1" || w[0].IsDelete || w[0].Value == nil ||
		*w[0].Value != `{"AppraisedValue":300,"Color":"blue","ID":"asset1","Owner":"Tomoko","Size":5}` ||
		w[0].ValueBase64 != "eyJBcHByYWlzZWRWYWx1ZSI6MzAwLCJDb2xvciI6ImJsdWUiLCJJRCI6ImFzc2V0MSIsIk93bmVyIjoiVG9tb2tvIiwiU2l6ZSI6NX0=" {
		t.Fatalf("basic writes %+v", w)
	}
}

func TestFabricLifecycleApprove(t *testing.T) {
	tx := decodeFixture(t, 1).Transactions[0]
	if tx.Chaincode.Name != "_lifecycle" || tx.Input.Function != "ApproveChaincodeDefinitionForMyOrg" {
		t.Fatalf("chaincode %+v function %s", tx.Chaincode, tx.Input.Function)
	}
	// The argument is a protobuf message: not text, so only base64.
	if len(tx.Input.Args) != 1 || tx.Input.Args[0] != nil || tx.Input.ArgsBase64[0] == "" {
		t.Fatalf("args %+v", tx.Input)
	}
	var found bool
	for _, ns := range tx.Namespaces {
		for _, c := range ns.Collections {
			if c.Collection == "_implicit_org_Org1MSP" {
				found = c.HashedWrites > 0 && len(c.PvtRwsetHash) == 64
			}
		}
	}
	if !found {
		t.Fatalf("no hashed writes to _implicit_org_Org1MSP in %+v", tx.Namespaces)
	}
}

func TestFabricManyTransactions(t *testing.T) {
	b := decodeFixture(t, 9)
	if len(b.Transactions) != 500 {
		t.Fatalf("%d transactions, want 500", len(b.Transactions))
	}
	seen := map[string]bool{}
	for i, tx := range b.Transactions {
		if tx.Input.Function != "CreateAsset" || len(tx.Endorsements) != 2 || seen[tx.TxID] {
			t.Fatalf("tx %d: function %s, %d endorsements, duplicate txId %v", i, tx.Input.Function, len(tx.Endorsements), seen[tx.TxID])
		}
		seen[tx.TxID] = true
	}
}

func TestFabricEndorsementPolicyFailure(t *testing.T) {
	b := decodeFixture(t, 171)
	tx := b.Transactions[0]
	if tx.ValidationCode != "ENDORSEMENT_POLICY_FAILURE" || tx.DecodeError != "" {
		t.Fatalf("code %s decodeError %q", tx.ValidationCode, tx.DecodeError)
	}
	if len(tx.Endorsements) != 1 || tx.Endorsements[0].MSPID != "Org1MSP" {
		t.Fatalf("endorsements %+v", tx.Endorsements)
	}
	if got := *tx.Input.Args[0]; got != "onlyorg1" {
		t.Fatalf("args[0] = %q", got)
	}
	basic := tx.Namespaces[1]
	if basic.Reads[0].Key != "onlyorg1" || basic.Reads[0].Version != nil || basic.Writes[0].Key != "onlyorg1" {
		t.Fatalf("basic rwset %+v", basic)
	}
}

// "Transaction by ID" (qscc GetTransactionByID) gives the same transaction as
// the block does.
func TestTransactionMatchesBlock(t *testing.T) {
	raw := fixtureBlock(t, 171)
	fromBlock := decodeFixture(t, 171).Transactions[0]
	env := &cb.Envelope{}
	if err := proto.Unmarshal(raw.Data.Data[0], env); err != nil {
		t.Fatal(err)
	}
	code := pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE
	pt := &pb.ProcessedTransaction{TransactionEnvelope: env, ValidationCode: int32(code)}
	for name, decode := range map[string]func() (*TransactionJSON, error){
		"Transaction":          func() (*TransactionJSON, error) { return Transaction(env, code, 171) },
		"TransactionBytes":     func() (*TransactionJSON, error) { return TransactionBytes(raw.Data.Data[0], code, 171) },
		"ProcessedTransaction": func() (*TransactionJSON, error) { return ProcessedTransaction(pt, 171) },
	} {
		got, err := decode()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(*got, fromBlock) {
			t.Fatalf("%s = %+v\nblock has %+v", name, got, fromBlock)
		}
	}
}

func TestCertificatesOption(t *testing.T) {
	plain := decodeFixture(t, 8)
	if plain.Transactions[0].Creator.Certificate != "" {
		t.Fatal("certificate given without Options.Certificates")
	}
	b, err := Options{Certificates: true}.Block(fixtureBlock(t, 8))
	if err != nil {
		t.Fatal(err)
	}
	ids := []IdentityJSON{*b.Transactions[0].Creator, b.Transactions[0].Endorsements[0], b.Metadata.Signatures[0].IdentityJSON}
	for _, id := range ids {
		blk, _ := pem.Decode([]byte(id.Certificate))
		if blk == nil {
			t.Fatalf("identity %s of %s has no PEM certificate", id.Subject, id.MSPID)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil || cert.Subject.String() != id.Subject {
			t.Fatalf("certificate of %s: %v, subject %v", id.Subject, err, cert)
		}
	}
}
