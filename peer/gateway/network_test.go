package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

const testChannel = "mychannel"

// fakeEndorser is a peer's endorser for a pretend "basic" chaincode, signing
// with the peer's real identity: CreateAsset(id, value) writes id and emits
// AssetCreated; ReadAsset(id) returns "asset <id>".
type fakeEndorser struct {
	pb.UnimplementedEndorserServer
	peer   protos.Signer
	failed string // when set, every proposal fails with this chaincode message
	skew   bool   // when set, the peer writes a different value (non-determinism)
	calls  atomic.Int32
	// interest, when set, is the chaincode interest of its endorsements.
	interest *pb.ChaincodeInterest
}

func (e *fakeEndorser) ProcessProposal(_ context.Context, sp *pb.SignedProposal) (*pb.ProposalResponse, error) {
	e.calls.Add(1)
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		return nil, err
	}
	if e.failed != "" {
		return &pb.ProposalResponse{Response: &pb.Response{Status: 500, Message: e.failed}}, nil
	}
	args := prop.Args()
	fn := string(args[0])
	act := &pb.ChaincodeAction{ChaincodeId: &pb.ChaincodeID{Name: prop.ChaincodeName(), Version: "1.0"}}
	switch fn {
	case "ReadAsset":
		act.Response = &pb.Response{Status: 200, Payload: []byte("asset " + string(args[1]))}
	case "CreateAsset":
		value := string(args[2])
		if e.skew {
			value += "-skewed"
		}
		act.Results = protos.Marshal(&rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{{
			Namespace: prop.ChaincodeName(),
			Rwset:     protos.Marshal(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: string(args[1]), Value: []byte(value)}}}),
		}}})
		act.Events = protos.Marshal(&pb.ChaincodeEvent{ChaincodeId: prop.ChaincodeName(), TxId: prop.ChannelHeader.TxId, EventName: "AssetCreated", Payload: args[1]})
		act.Response = &pb.Response{Status: 200, Payload: []byte("created " + string(args[1]))}
	default:
		return &pb.ProposalResponse{Response: &pb.Response{Status: 500, Message: "unknown function " + fn}}, nil
	}
	prp := protos.Marshal(&pb.ProposalResponsePayload{ProposalHash: prop.Hash(), Extension: protos.Marshal(act)})
	endorser, err := e.peer.Serialize()
	if err != nil {
		return nil, err
	}
	sig, err := e.peer.Sign(append(append([]byte{}, prp...), endorser...))
	if err != nil {
		return nil, err
	}
	return &pb.ProposalResponse{
		Version:     1,
		Response:    &pb.Response{Status: 200, Payload: act.Response.Payload},
		Payload:     prp,
		Endorsement: &pb.Endorsement{Endorser: endorser, Signature: sig},
		Interest:    e.interest,
	}, nil
}

// fakeOrderer admits envelopes by the channel's real /Channel/Writers policy
// and "orders and commits" each one in its own block, marking it VALID only if
// its endorsements satisfy the chaincode's endorsement policy, as a
// committing peer's validator would.
type fakeOrderer struct {
	ab.UnimplementedAtomicBroadcastServer
	writers     channelconfig.Policy
	endorsement func(chaincode string) channelconfig.Policy
	commit      func(envs []*cb.Envelope, codes []pb.TxValidationCode)
	reject      cb.Status // when non-zero, answer this status instead

	mu       sync.Mutex // serialises commits and guards received
	received []*cb.Envelope
}

func (o *fakeOrderer) Broadcast(stream grpc.BidiStreamingServer[cb.Envelope, ab.BroadcastResponse]) error {
	for {
		env, err := stream.Recv()
		if err != nil {
			return nil
		}
		penv, err := protos.ParseEnvelope(env)
		if err != nil {
			return stream.Send(&ab.BroadcastResponse{Status: cb.Status_BAD_REQUEST, Info: err.Error()})
		}
		if err := o.writers.Evaluate([]protos.SignedData{penv.SignedData()}); err != nil {
			if err := stream.Send(&ab.BroadcastResponse{Status: cb.Status_FORBIDDEN, Info: err.Error()}); err != nil {
				return err
			}
			continue
		}
		if o.reject != 0 {
			if err := stream.Send(&ab.BroadcastResponse{Status: o.reject, Info: "orderer says no"}); err != nil {
				return err
			}
			continue
		}
		code := pb.TxValidationCode_VALID
		tx, err := protos.ParseEndorserTx(penv)
		if err != nil {
			code = pb.TxValidationCode_BAD_PAYLOAD
		} else if err := o.endorsement(tx.ChaincodeName).Evaluate(tx.Endorsements()); err != nil {
			code = pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE
		}
		if err := stream.Send(&ab.BroadcastResponse{Status: cb.Status_SUCCESS}); err != nil {
			return err
		}
		o.mu.Lock()
		o.received = append(o.received, env)
		o.commit([]*cb.Envelope{env}, []pb.TxValidationCode{code})
		o.mu.Unlock()
	}
}

func (o *fakeOrderer) envelopes() []*cb.Envelope {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*cb.Envelope(nil), o.received...)
}

// fakeChaincodes maps chaincode names to endorsement policies.
type fakeChaincodes map[string]*pb.ApplicationPolicy

func (c fakeChaincodes) EndorsementPolicy(channelID, chaincode string) (*pb.ApplicationPolicy, error) {
	if ap, ok := c[chaincode]; ok {
		return ap, nil
	}
	return nil, fmt.Errorf("chaincode %s is not defined on channel %s", chaincode, channelID)
}

// network is a devnet channel (genesis block from sampleconfig/configtx.yaml
// with the anchor peers and orderer pointed at loopback listeners) with the
// gateway of peer0.org1, a fake endorser for peer0.org2 and a fake orderer,
// all over TLS with the devnet certificates, and a real block store.
type network struct {
	bundle     *channelconfig.Bundle
	org1, org2 *fakeEndorser
	orderer    *fakeOrderer
	blocks     *ledger.BlockStore
	notifier   *CommitNotifier
	chaincodes fakeChaincodes
	gateway    string // address of peer0.org1's gateway
	org2Addr   string
	user1      *msp.SigningIdentity // Org1MSP client
	// remoteFault, when set, is the value the next remote endorsement
	// goroutine panics with (once).
	remoteFault atomic.Pointer[string]
}

var configCount atomic.Int32

// devnetBundle writes a configtx.yaml with the given addresses next to the
// devnet crypto and returns the genesis block of mychannel.
func devnetGenesis(t *testing.T, org1Peer, org2Peer, orderer string) *cb.Block {
	t.Helper()
	dir := devnet(t).Dir
	raw, err := os.ReadFile("../../sampleconfig/configtx.yaml")
	if err != nil {
		t.Fatal(err)
	}
	anchor := func(port string) string { return "- Host: localhost\n        Port: " + port }
	hostPort := func(addr string) string {
		i := strings.LastIndex(addr, ":")
		return "- Host: " + addr[:i] + "\n        Port: " + addr[i+1:]
	}
	text := strings.NewReplacer(
		"localhost:7050", orderer,
		anchor("7051"), hostPort(org1Peer),
		anchor("9051"), hostPort(org2Peer),
	).Replace(string(raw))
	path := filepath.Join(dir, fmt.Sprintf("configtx-%d.yaml", configCount.Add(1)))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, err := channelconfig.LoadConfigTx(path)
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := channelconfig.GenesisBlock(ctx, "ChannelUsingRaft", testChannel)
	if err != nil {
		t.Fatal(err)
	}
	return genesis
}

func newNetwork(t *testing.T) *network {
	t.Helper()
	dn := devnet(t)
	gwLis, org2Lis, ordLis := listen(t), listen(t), listen(t)
	genesis := devnetGenesis(t, gwLis.Addr().String(), org2Lis.Addr().String(), ordLis.Addr().String())
	bundle, err := channelconfig.BundleFromBlock(genesis)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := ledger.OpenBlockStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blocks.Close() })
	if err := blocks.Append(genesis); err != nil {
		t.Fatal(err)
	}
	n := &network{
		bundle:   bundle,
		blocks:   blocks,
		notifier: NewCommitNotifier(),
		chaincodes: fakeChaincodes{
			"basic": {Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: "/Channel/Application/Endorsement"}},
		},
		user1: dn.User(t, "User1", "Org1MSP"),
		org1:  &fakeEndorser{peer: dn.Signer(t, "peer0.org1.example.com")},
		org2:  &fakeEndorser{peer: dn.Signer(t, "peer0.org2.example.com")},
	}
	t.Cleanup(n.notifier.Close)
	writers, err := bundle.Policy("/Channel/Writers")
	if err != nil {
		t.Fatal(err)
	}
	n.orderer = &fakeOrderer{writers: writers, commit: func(envs []*cb.Envelope, codes []pb.TxValidationCode) { n.commit(t, envs, codes) }}
	n.orderer.endorsement = func(cc string) channelconfig.Policy {
		ap := n.chaincodes[cc]
		if env := ap.GetSignaturePolicy(); env != nil {
			p, err := channelconfig.NewSignaturePolicy(env, bundle.MSPs())
			if err != nil {
				t.Error(err)
			}
			return p
		}
		p, err := bundle.Policy(ap.GetChannelConfigPolicyReference())
		if err != nil {
			t.Error(err)
		}
		return p
	}

	n.org2Addr = testnet.ServeTLS(t, org2Lis, dn.TLSCert(t, "peer0.org2.example.com"), func(s *grpc.Server) { pb.RegisterEndorserServer(s, n.org2) })
	testnet.ServeTLS(t, ordLis, dn.TLSCert(t, "orderer.example.com"), func(s *grpc.Server) {
		ab.RegisterAtomicBroadcastServer(s, n.orderer)
	})
	ch, err := ChannelFromBundle(bundle, blocks)
	if err != nil {
		t.Fatal(err)
	}
	channels := ChannelsFunc(func(id string) (*Channel, error) {
		if id != testChannel {
			return nil, fmt.Errorf("channel %s: %w", id, ErrChannelNotFound)
		}
		return ch, nil
	})
	peerTLS := dn.TLSCert(t, "peer0.org1.example.com")
	gw, err := New(Config{
		MSPID: "Org1MSP", Endpoint: gwLis.Addr().String(), Endorser: n.org1, Channels: channels, Chaincodes: n.chaincodes,
		Notifier: n.notifier, ClientCert: &peerTLS, EndorseTimeout: 10 * time.Second, BroadcastTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	gw.beforeRemote = func(string) {
		if v := n.remoteFault.Swap(nil); v != nil {
			panic(*v)
		}
	}
	n.gateway = testnet.ServeTLS(t, gwLis, peerTLS, func(s *grpc.Server) { gwpb.RegisterGatewayServer(s, gw) })
	return n
}

// commit appends a block of envs with the given validation codes to the
// block store and tells the notifier, as the peer's commit path does.
func (n *network) commit(t *testing.T, envs []*cb.Envelope, codes []pb.TxValidationCode) {
	var raw [][]byte
	flags := make([]byte, len(envs))
	for i, e := range envs {
		raw = append(raw, protos.Marshal(e))
		flags[i] = byte(codes[i])
	}
	info := n.blocks.Info()
	b := protos.NewBlock(info.Height, info.CurrentBlockHash, raw)
	protos.SetTxFilter(b, flags)
	if err := n.blocks.Append(b); err != nil {
		t.Errorf("commit block %d: %v", info.Height, err)
		return
	}
	n.notifier.BlockCommitted(testChannel, b)
}

// tlsRoots returns the TLS root CAs of an organisation in the channel config.
func (n *network) tlsRoots(t *testing.T, mspID string) *x509.CertPool {
	t.Helper()
	m, ok := n.bundle.MSPs().MSP(mspID)
	if !ok {
		t.Fatalf("no MSP %s", mspID)
	}
	return m.TLSRootCAs()
}

// connect returns an official fabric-gateway client for signer, connected
// to peer0.org1's gateway over TLS.
func (n *network) connect(t *testing.T, signer *msp.SigningIdentity) *client.Gateway {
	t.Helper()
	id, err := identity.NewX509Identity(signer.MSPID, signer.Cert)
	if err != nil {
		t.Fatal(err)
	}
	sign, err := identity.NewPrivateKeySign(signer.Key)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := client.Connect(id, client.WithSign(sign), client.WithClientConnection(testnet.DialTLS(t, n.gateway, n.tlsRoots(t, "Org1MSP"))),
		client.WithEvaluateTimeout(10*time.Second), client.WithEndorseTimeout(10*time.Second),
		client.WithSubmitTimeout(10*time.Second), client.WithCommitStatusTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw
}

// txEndorsers returns the MSP IDs of the endorsers of a transaction envelope
// and checks that no transient data reached the ledger.
func txEndorsers(t *testing.T, env *cb.Envelope) []string {
	t.Helper()
	penv, err := protos.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := protos.ParseEndorserTx(penv)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range tx.ActionPayload.Action.Endorsements {
		sid := &mspproto.SerializedIdentity{}
		if err := proto.Unmarshal(e.Endorser, sid); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sid.Mspid)
	}
	if len(tx.ProposalPayload.TransientMap) != 0 {
		t.Errorf("transaction carries a transient map: %v", tx.ProposalPayload.TransientMap)
	}
	return ids
}

func joined(ss []string) string { return strings.Join(ss, ",") }
