package shimtest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	shim "github.com/weft-ledger/weft/chaincode-shim"
)

// MockStub is an in-memory shim.ChaincodeStubInterface for unit-testing a
// chaincode without a peer. It holds one chaincode's committed world state,
// private data, key-level endorsement policies and key history, and runs
// transactions against them the way a peer simulates them: reads see
// committed state only, writes are collected and become visible (and enter
// the history) when the transaction ends successfully.
//
// The exported fields may be set between transactions. A MockStub runs one
// transaction at a time and is not safe for concurrent use.
type MockStub struct {
	// Name is the chaincode name; it is the namespace of range query results.
	Name string
	// ChannelID is the channel transactions run on ("" unless set).
	ChannelID string
	// Creator is the serialized identity of the client; each transaction
	// started without a signed proposal reads it when it starts.
	Creator []byte
	// TransientMap is the transient data of the next transactions; see also
	// SetTransient.
	TransientMap map[string][]byte
	// Decorations are returned by GetDecorations.
	Decorations map[string][]byte
	// Clock gives the timestamp of each new transaction; nil means time.Now.
	Clock func() time.Time

	// State is the committed public world state. Tests may read it, or seed
	// it directly (such writes have no history entry).
	State map[string][]byte
	// PvtState is the committed private data, by collection and key.
	PvtState map[string]map[string][]byte
	// EndorsementPolicies holds the committed key-level endorsement policies
	// (validation parameters) by collection ("" for public state) and key.
	EndorsementPolicies map[string]map[string][]byte
	// Invokables are the chaincodes InvokeChaincode can reach, by name or
	// "name/channel"; fill it with MockPeerChaincode.
	Invokables map[string]*MockStub

	cc      shim.Chaincode
	args    [][]byte
	history map[string][]*queryresult.KeyModification // public keys, oldest first
	tx      *mockTx                                   // the running transaction; nil between transactions
	writes  writeSet                                  // this chaincode's writes in tx
	event   *pb.ChaincodeEvent                        // set by the running or the last transaction
}

var _ shim.ChaincodeStubInterface = (*MockStub)(nil)

// mockTx is one transaction. Chaincodes called on the same channel join it;
// their writes commit or roll back with it.
type mockTx struct {
	id        string
	channel   string
	timestamp *timestamppb.Timestamp
	creator   []byte
	transient map[string][]byte
	nonce     []byte
	binding   []byte
	proposal  *pb.SignedProposal
	given     bool // proposal came from MockInvokeWithSignedProposal, so it is not rebuilt
	members   []*MockStub

	// The peer refuses a transaction that mixes writes with paginated or
	// private-data range queries; these record what the transaction did.
	wrote, paginated, pvtQueried bool
}

// NewMockStub returns a MockStub for chaincode cc named name, with empty state.
func NewMockStub(name string, cc shim.Chaincode) *MockStub {
	return &MockStub{
		Name:                name,
		cc:                  cc,
		State:               map[string][]byte{},
		PvtState:            map[string]map[string][]byte{},
		EndorsementPolicies: map[string]map[string][]byte{},
		Invokables:          map[string]*MockStub{},
		Decorations:         map[string][]byte{},
		history:             map[string][]*queryresult.KeyModification{},
	}
}

// MockInit runs the chaincode's Init in transaction txid with args and
// returns its response. The writes commit if the status is below 400
// (shim.ERRORTHRESHOLD) and are discarded otherwise.
func (s *MockStub) MockInit(txid string, args [][]byte) *pb.Response {
	return s.run(txid, args, nil, s.cc.Init)
}

// MockInvoke runs the chaincode's Invoke in transaction txid with args and
// returns its response. The writes commit if the status is below 400
// (shim.ERRORTHRESHOLD) and are discarded otherwise.
func (s *MockStub) MockInvoke(txid string, args [][]byte) *pb.Response {
	return s.run(txid, args, nil, s.cc.Invoke)
}

// MockInvokeWithSignedProposal is MockInvoke with a signed proposal. If sp
// carries a proposal, the creator, transient map, timestamp and binding of
// the transaction come from it (as on a peer); a proposal that does not
// parse fails the call with status 500. An empty sp is only returned by
// GetSignedProposal.
func (s *MockStub) MockInvokeWithSignedProposal(txid string, args [][]byte, sp *pb.SignedProposal) *pb.Response {
	return s.run(txid, args, sp, s.cc.Invoke)
}

func (s *MockStub) run(txid string, args [][]byte, sp *pb.SignedProposal, call func(shim.ChaincodeStubInterface) *pb.Response) *pb.Response {
	if s.tx != nil { // keep the running transaction's arguments
		return shim.Error(s.busy(txid).Error())
	}
	s.args = args
	if err := s.start(txid, sp); err != nil {
		return shim.Error(err.Error())
	}
	ended := false
	defer func() {
		if !ended { // the chaincode panicked: leave the state as it was
			s.end(false)
		}
	}()
	res := call(s)
	if res == nil {
		res = shim.Error(fmt.Sprintf("shimtest: chaincode %s returned a nil response in transaction %s; return shim.Success or shim.Error", s.Name, txid))
	}
	s.end(res.Status < shim.ERRORTHRESHOLD)
	ended = true
	return res
}

// MockTransactionStart starts transaction txid, so that a test can call the
// stub's methods (PutState, ...) directly; MockTransactionEnd commits it.
// It panics if a transaction is already running on the stub.
func (s *MockStub) MockTransactionStart(txid string) {
	if err := s.start(txid, nil); err != nil {
		panic(err)
	}
}

// MockTransactionEnd commits the writes of transaction txid, started with
// MockTransactionStart. It does nothing if no transaction is running, and
// panics if another transaction is running.
func (s *MockStub) MockTransactionEnd(txid string) {
	switch {
	case s.tx == nil:
		return
	case s.tx.id != txid:
		panic(fmt.Sprintf("shimtest: MockTransactionEnd(%q) on MockStub %s, but transaction %q is running; end that one", txid, s.Name, s.tx.id))
	case s.tx.members[0] != s:
		panic(fmt.Sprintf("shimtest: MockTransactionEnd(%q) on MockStub %s, which was called by chaincode %s in that transaction; end it there", txid, s.Name, s.tx.members[0].Name))
	}
	s.end(true)
}

// MockPeerChaincode makes chaincode name, served by other, callable from this
// stub's chaincode with InvokeChaincode(name, args, channel). An empty channel
// means the caller's channel.
func (s *MockStub) MockPeerChaincode(name string, other *MockStub, channel string) {
	if channel != "" {
		name += "/" + channel
	}
	s.Invokables[name] = other
}

// SetTransient sets the transient map of the running transaction (and of the
// next ones, through TransientMap).
func (s *MockStub) SetTransient(m map[string][]byte) error {
	s.TransientMap = m
	if s.tx != nil && !s.tx.given {
		s.tx.transient = m
		if err := s.tx.buildProposal(s.Name, s.args); err != nil {
			return err
		}
	}
	return nil
}

// Event returns the chaincode event set by the running or the last
// transaction of this chaincode, or nil. It is kept even when the
// transaction failed, though a peer would not emit it then.
func (s *MockStub) Event() *pb.ChaincodeEvent { return s.event }

// start opens transaction txid with this stub as its root.
func (s *MockStub) start(txid string, sp *pb.SignedProposal) error {
	if s.tx != nil {
		return s.busy(txid)
	}
	now := time.Now()
	if s.Clock != nil {
		now = s.Clock()
	}
	tx := &mockTx{
		id:        txid,
		channel:   s.ChannelID,
		timestamp: timestamppb.New(now),
		creator:   s.Creator,
		transient: s.TransientMap,
		nonce:     make([]byte, 24),
	}
	if _, err := rand.Read(tx.nonce); err != nil {
		return fmt.Errorf("shimtest: generate nonce: %w", err)
	}
	var err error
	if sp != nil && len(sp.ProposalBytes) > 0 {
		err = tx.adoptProposal(sp)
	} else if sp != nil {
		tx.proposal, tx.given = sp, true
		tx.binding = binding(tx.nonce, tx.creator, 0)
	} else {
		err = tx.buildProposal(s.Name, s.args)
	}
	if err != nil {
		return fmt.Errorf("shimtest: transaction %s on MockStub %s: %w", txid, s.Name, err)
	}
	s.join(tx)
	return nil
}

func (s *MockStub) busy(txid string) error {
	return fmt.Errorf("shimtest: cannot start transaction %q on MockStub %s: transaction %q is still running; end it with MockTransactionEnd first", txid, s.Name, s.tx.id)
}

// join makes s a member of tx.
func (s *MockStub) join(tx *mockTx) {
	s.tx, s.writes, s.event = tx, writeSet{}, nil
	tx.members = append(tx.members, s)
}

// end finishes the transaction s is the root of: every member's writes are
// committed if commit is set, or dropped.
func (s *MockStub) end(commit bool) {
	tx := s.tx
	for _, m := range tx.members {
		if commit {
			m.commit(tx)
		}
		m.tx, m.writes = nil, nil
	}
}

func binding(nonce, creator []byte, epoch uint64) []byte {
	d := sha256.New()
	d.Write(nonce)
	d.Write(creator)
	d.Write(binary.LittleEndian.AppendUint64(nil, epoch))
	return d.Sum(nil)
}

// buildProposal makes an unsigned proposal that agrees with the
// transaction's ID, channel, timestamp, creator, nonce, transient map and
// the root chaincode's name and arguments.
func (tx *mockTx) buildProposal(ccName string, args [][]byte) error {
	ccID := &pb.ChaincodeID{Name: ccName}
	ext, err := proto.Marshal(&pb.ChaincodeHeaderExtension{ChaincodeId: ccID})
	if err != nil {
		return err
	}
	chdr, err := proto.Marshal(&cb.ChannelHeader{
		Type:      int32(cb.HeaderType_ENDORSER_TRANSACTION),
		ChannelId: tx.channel,
		TxId:      tx.id,
		Timestamp: tx.timestamp,
		Extension: ext,
	})
	if err != nil {
		return err
	}
	shdr, err := proto.Marshal(&cb.SignatureHeader{Creator: tx.creator, Nonce: tx.nonce})
	if err != nil {
		return err
	}
	hdr, err := proto.Marshal(&cb.Header{ChannelHeader: chdr, SignatureHeader: shdr})
	if err != nil {
		return err
	}
	input, err := proto.Marshal(&pb.ChaincodeInvocationSpec{ChaincodeSpec: &pb.ChaincodeSpec{
		Type: pb.ChaincodeSpec_GOLANG, ChaincodeId: ccID, Input: &pb.ChaincodeInput{Args: args},
	}})
	if err != nil {
		return err
	}
	payload, err := proto.Marshal(&pb.ChaincodeProposalPayload{Input: input, TransientMap: tx.transient})
	if err != nil {
		return err
	}
	prop, err := proto.Marshal(&pb.Proposal{Header: hdr, Payload: payload})
	if err != nil {
		return err
	}
	tx.proposal = &pb.SignedProposal{ProposalBytes: prop}
	tx.binding = binding(tx.nonce, tx.creator, 0)
	return nil
}

// adoptProposal takes the transaction context from sp, as the shim does.
func (tx *mockTx) adoptProposal(sp *pb.SignedProposal) error {
	prop := &pb.Proposal{}
	if err := proto.Unmarshal(sp.ProposalBytes, prop); err != nil {
		return fmt.Errorf("unmarshal Proposal of the signed proposal: %w", err)
	}
	hdr := &cb.Header{}
	if err := proto.Unmarshal(prop.Header, hdr); err != nil {
		return fmt.Errorf("unmarshal proposal Header: %w", err)
	}
	chdr := &cb.ChannelHeader{}
	if err := proto.Unmarshal(hdr.ChannelHeader, chdr); err != nil {
		return fmt.Errorf("unmarshal proposal ChannelHeader: %w", err)
	}
	shdr := &cb.SignatureHeader{}
	if err := proto.Unmarshal(hdr.SignatureHeader, shdr); err != nil {
		return fmt.Errorf("unmarshal proposal SignatureHeader: %w", err)
	}
	cpp := &pb.ChaincodeProposalPayload{}
	if err := proto.Unmarshal(prop.Payload, cpp); err != nil {
		return fmt.Errorf("unmarshal ChaincodeProposalPayload: %w", err)
	}
	tx.proposal, tx.given = sp, true
	tx.creator, tx.transient, tx.nonce = shdr.Creator, cpp.TransientMap, shdr.Nonce
	if chdr.Timestamp != nil {
		tx.timestamp = chdr.Timestamp
	}
	tx.binding = binding(shdr.Nonce, shdr.Creator, chdr.Epoch)
	return nil
}

// GetArgs implements shim.ChaincodeStubInterface.
func (s *MockStub) GetArgs() [][]byte { return s.args }

// GetStringArgs implements shim.ChaincodeStubInterface.
func (s *MockStub) GetStringArgs() []string {
	out := make([]string, len(s.args))
	for i, a := range s.args {
		out[i] = string(a)
	}
	return out
}

// GetFunctionAndParameters implements shim.ChaincodeStubInterface.
func (s *MockStub) GetFunctionAndParameters() (string, []string) {
	args := s.GetStringArgs()
	if len(args) == 0 {
		return "", []string{}
	}
	return args[0], args[1:]
}

// GetArgsSlice implements shim.ChaincodeStubInterface.
func (s *MockStub) GetArgsSlice() ([]byte, error) {
	return bytes.Join(s.args, nil), nil
}

// GetTxID implements shim.ChaincodeStubInterface; it is "" between transactions.
func (s *MockStub) GetTxID() string {
	if s.tx == nil {
		return ""
	}
	return s.tx.id
}

// GetChannelID implements shim.ChaincodeStubInterface: the channel of the
// running transaction (for a chaincode called on another channel, that
// channel), or ChannelID between transactions.
func (s *MockStub) GetChannelID() string {
	if s.tx == nil {
		return s.ChannelID
	}
	return s.tx.channel
}

// GetDecorations implements shim.ChaincodeStubInterface.
func (s *MockStub) GetDecorations() map[string][]byte { return s.Decorations }

// GetCreator implements shim.ChaincodeStubInterface.
func (s *MockStub) GetCreator() ([]byte, error) {
	if s.tx == nil {
		return s.Creator, nil
	}
	return s.tx.creator, nil
}

// GetTransient implements shim.ChaincodeStubInterface.
func (s *MockStub) GetTransient() (map[string][]byte, error) {
	if s.tx == nil {
		return s.TransientMap, nil
	}
	return s.tx.transient, nil
}

// GetBinding implements shim.ChaincodeStubInterface:
// SHA-256(nonce ‖ creator ‖ epoch) of the transaction's proposal.
func (s *MockStub) GetBinding() ([]byte, error) {
	if s.tx == nil {
		return nil, s.noTx("GetBinding")
	}
	return s.tx.binding, nil
}

// GetSignedProposal implements shim.ChaincodeStubInterface. Unless the
// transaction was given one, it is an unsigned proposal built from the
// transaction's context and the arguments of the chaincode that started it.
func (s *MockStub) GetSignedProposal() (*pb.SignedProposal, error) {
	if s.tx == nil {
		return nil, s.noTx("GetSignedProposal")
	}
	return s.tx.proposal, nil
}

// GetTxTimestamp implements shim.ChaincodeStubInterface.
func (s *MockStub) GetTxTimestamp() (*timestamppb.Timestamp, error) {
	if s.tx == nil {
		return nil, s.noTx("GetTxTimestamp")
	}
	return s.tx.timestamp, nil
}

// SetEvent implements shim.ChaincodeStubInterface; read the event with Event.
func (s *MockStub) SetEvent(name string, payload []byte) error {
	if name == "" {
		return errors.New("shimtest: SetEvent: the event name must not be empty")
	}
	s.event = &pb.ChaincodeEvent{ChaincodeId: s.Name, TxId: s.GetTxID(), EventName: name, Payload: payload}
	return nil
}

// StartWriteBatch implements shim.ChaincodeStubInterface; it has no effect
// (writes are held until the transaction ends anyway).
func (s *MockStub) StartWriteBatch() {}

// FinishWriteBatch implements shim.ChaincodeStubInterface; it returns nil.
func (s *MockStub) FinishWriteBatch() error { return nil }

// InvokeChaincode implements shim.ChaincodeStubInterface for chaincodes
// registered with MockPeerChaincode. On the same channel the callee joins the
// transaction: its writes commit or roll back with the caller's transaction,
// whatever status the callee returned. On another channel its writes are
// discarded, as on a peer.
func (s *MockStub) InvokeChaincode(chaincodeName string, args [][]byte, channel string) *pb.Response {
	if s.tx == nil {
		return shim.Error(s.noTx("InvokeChaincode").Error())
	}
	sameChannel := channel == "" || channel == s.tx.channel
	key := chaincodeName
	if channel != "" {
		key += "/" + channel
	}
	other, ok := s.Invokables[key]
	if !ok && sameChannel {
		other, ok = s.Invokables[chaincodeName]
	}
	if !ok {
		return shim.Error(fmt.Sprintf("shimtest: chaincode %q on channel %q is not registered with MockStub %s; call MockPeerChaincode(%q, otherStub, %q) first", chaincodeName, channel, s.Name, chaincodeName, channel))
	}
	switch {
	case other.tx == s.tx: // already in this transaction (a nested call)
	case other.tx != nil:
		return shim.Error(fmt.Sprintf("shimtest: chaincode %s is running transaction %q; MockStub runs one transaction at a time", other.Name, other.tx.id))
	case sameChannel:
		other.join(s.tx)
	default:
		// A transaction of its own on that channel, never committed.
		sub := *s.tx
		sub.channel, sub.members = channel, nil
		sub.wrote, sub.paginated, sub.pvtQueried = false, false, false
		other.join(&sub)
		defer other.end(false)
	}
	saved := other.args
	other.args = args
	defer func() { other.args = saved }()
	res := other.cc.Invoke(other)
	if res == nil {
		return shim.Error(fmt.Sprintf("shimtest: chaincode %s returned a nil response; return shim.Success or shim.Error", other.Name))
	}
	return res
}

func (s *MockStub) noTx(op string) error {
	return fmt.Errorf("shimtest: %s on MockStub %s: no transaction is running; call it from the chaincode during MockInvoke or MockInit, or between MockTransactionStart and MockTransactionEnd", op, s.Name)
}
