package shim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ChaincodeStub implements ChaincodeStubInterface for one invocation.
type ChaincodeStub struct {
	// TxID is the transaction ID of the invocation.
	TxID string
	// ChannelID is the channel of the invocation.
	ChannelID string

	h           *handler
	args        [][]byte
	decorations map[string][]byte
	event       *pb.ChaincodeEvent // owned by the invocation goroutine
	// respc receives the answers to this stub's requests (see handler.call);
	// made on the first request.
	respc chan *pb.ChaincodeMessage

	signedProposal *pb.SignedProposal
	channelHeader  *cb.ChannelHeader // nil without a signed proposal
	creator        []byte
	transient      map[string][]byte
	binding        []byte
}

var _ ChaincodeStubInterface = (*ChaincodeStub)(nil)

var validationParameterKey = pb.MetaDataKeys_VALIDATION_PARAMETER.String()

func newStub(h *handler, channelID, txid string, input *pb.ChaincodeInput, sp *pb.SignedProposal) (*ChaincodeStub, error) {
	s := &ChaincodeStub{
		TxID:           txid,
		ChannelID:      channelID,
		h:              h,
		args:           input.Args,
		decorations:    input.Decorations,
		signedProposal: sp,
	}
	if sp == nil {
		return s, nil
	}
	// The proposal and its header are read in place when plainly encoded:
	// decoding them would copy the creator's certificate and the payload
	// twice only to decode them again below.
	var propFields [3][]byte // header, payload, extension
	var hdrFields [2][]byte  // channel_header, signature_header
	ok := bytesFieldsInPlace(sp.ProposalBytes, propFields[:]) && len(propFields[0]) > 0 &&
		bytesFieldsInPlace(propFields[0], hdrFields[:])
	chdrBytes, shdrBytes, payload := hdrFields[0], hdrFields[1], propFields[1]
	if !ok {
		prop := &pb.Proposal{}
		if err := proto.Unmarshal(sp.ProposalBytes, prop); err != nil {
			return nil, fmt.Errorf("unmarshal Proposal from SignedProposal: %w", err)
		}
		if len(prop.Header) == 0 {
			return nil, errors.New("the proposal has no header")
		}
		hdr := &cb.Header{}
		if err := proto.Unmarshal(prop.Header, hdr); err != nil {
			return nil, fmt.Errorf("unmarshal proposal Header: %w", err)
		}
		chdrBytes, shdrBytes, payload = hdr.ChannelHeader, hdr.SignatureHeader, prop.Payload
	}
	chdr := &cb.ChannelHeader{}
	if err := proto.Unmarshal(chdrBytes, chdr); err != nil {
		return nil, fmt.Errorf("unmarshal proposal ChannelHeader: %w", err)
	}
	if t := cb.HeaderType(chdr.Type); t != cb.HeaderType_ENDORSER_TRANSACTION && t != cb.HeaderType_CONFIG {
		return nil, fmt.Errorf("proposal channel header type is %s; expected %s or %s", t, cb.HeaderType_ENDORSER_TRANSACTION, cb.HeaderType_CONFIG)
	}
	shdr := &cb.SignatureHeader{}
	if err := proto.Unmarshal(shdrBytes, shdr); err != nil {
		return nil, fmt.Errorf("unmarshal proposal SignatureHeader: %w", err)
	}
	// Of the ChaincodeProposalPayload only the transient map is kept; a
	// payload holding just its input (field 1, once) has none, and decoding
	// it would only copy the input out.
	var cppInput [1][]byte
	if !bytesFieldsInPlace(payload, cppInput[:]) {
		cpp := &pb.ChaincodeProposalPayload{}
		if err := proto.Unmarshal(payload, cpp); err != nil {
			return nil, fmt.Errorf("unmarshal ChaincodeProposalPayload: %w", err)
		}
		s.transient = cpp.TransientMap
	}
	s.channelHeader = chdr
	s.creator = shdr.Creator
	// The binding ties application data to this proposal:
	// SHA-256(nonce ‖ creator ‖ epoch as 8 little-endian bytes).
	d := sha256.New()
	d.Write(shdr.Nonce)
	d.Write(shdr.Creator)
	d.Write(binary.LittleEndian.AppendUint64(nil, chdr.Epoch))
	s.binding = d.Sum(nil)
	return s, nil
}

// bytesFieldsInPlace reads a message whose fields 1 to len(out) are all
// bytes fields, storing each one's value (aliasing b) in out. It reports
// false, leaving the message to proto.Unmarshal, unless b holds only those
// fields, length-delimited and each at most once: then proto.Unmarshal would
// decode it without error to the same values.
func bytesFieldsInPlace(b []byte, out [][]byte) bool {
	var seen uint32
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num < 1 || int(num) > len(out) || typ != protowire.BytesType || seen&(1<<num) != 0 {
			return false
		}
		seen |= 1 << num
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return false
		}
		out[num-1] = v
		b = b[n+m:]
	}
	return true
}

// GetMSPID returns the MSP ID of the peer that launched the chaincode, from
// CORE_PEER_LOCALMSPID.
func GetMSPID() (string, error) {
	id := os.Getenv("CORE_PEER_LOCALMSPID")
	if id == "" {
		return "", errors.New("shim: CORE_PEER_LOCALMSPID is not set; the peer sets it when it launches the chaincode")
	}
	return id, nil
}

func (s *ChaincodeStub) call(typ pb.ChaincodeMessage_Type, req proto.Message) ([]byte, error) {
	if s.respc == nil {
		s.respc = make(chan *pb.ChaincodeMessage, 1)
	}
	return s.h.call(s.ChannelID, s.TxID, s.respc, typ, req)
}

// GetArgs implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetArgs() [][]byte { return s.args }

// GetStringArgs implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetStringArgs() []string {
	out := make([]string, len(s.args))
	for i, a := range s.args {
		out[i] = string(a)
	}
	return out
}

// GetFunctionAndParameters implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetFunctionAndParameters() (string, []string) {
	args := s.GetStringArgs()
	if len(args) == 0 {
		return "", []string{}
	}
	return args[0], args[1:]
}

// GetArgsSlice implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetArgsSlice() ([]byte, error) {
	var out []byte
	for _, a := range s.args {
		out = append(out, a...)
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// GetTxID implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetTxID() string { return s.TxID }

// GetChannelID implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetChannelID() string { return s.ChannelID }

// GetDecorations implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetDecorations() map[string][]byte { return s.decorations }

// GetCreator implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetCreator() ([]byte, error) { return s.creator, nil }

// GetTransient implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetTransient() (map[string][]byte, error) { return s.transient, nil }

// GetBinding implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetBinding() ([]byte, error) { return s.binding, nil }

// GetSignedProposal implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetSignedProposal() (*pb.SignedProposal, error) {
	return s.signedProposal, nil
}

// GetTxTimestamp implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetTxTimestamp() (*timestamppb.Timestamp, error) {
	if s.channelHeader == nil {
		return nil, fmt.Errorf("shim: tx %s carries no signed proposal, so it has no timestamp", shortTxID(s.TxID))
	}
	return s.channelHeader.Timestamp, nil
}

// SetEvent implements ChaincodeStubInterface.
func (s *ChaincodeStub) SetEvent(name string, payload []byte) error {
	if name == "" {
		return errors.New("shim: SetEvent: the event name must not be empty")
	}
	s.event = &pb.ChaincodeEvent{EventName: name, Payload: payload}
	return nil
}

// StartWriteBatch implements ChaincodeStubInterface; it has no effect.
func (s *ChaincodeStub) StartWriteBatch() {}

// FinishWriteBatch implements ChaincodeStubInterface; it has no effect.
func (s *ChaincodeStub) FinishWriteBatch() error { return nil }

// InvokeChaincode implements ChaincodeStubInterface.
func (s *ChaincodeStub) InvokeChaincode(chaincodeName string, args [][]byte, channel string) *pb.Response {
	// The peer addresses a chaincode on another channel as "name/channel".
	if channel != "" {
		chaincodeName += "/" + channel
	}
	spec := &pb.ChaincodeSpec{ChaincodeId: &pb.ChaincodeID{Name: chaincodeName}, Input: &pb.ChaincodeInput{Args: args}}
	errResp := func(msg string) *pb.Response {
		return &pb.Response{Status: ERROR, Message: msg, Payload: []byte(msg)}
	}
	body, err := s.call(pb.ChaincodeMessage_INVOKE_CHAINCODE, spec)
	if err != nil {
		return errResp(err.Error())
	}
	// The RESPONSE carries the callee's final ChaincodeMessage.
	inner := &pb.ChaincodeMessage{}
	if err := proto.Unmarshal(body, inner); err != nil {
		return errResp(fmt.Sprintf("shim: unmarshal reply of chaincode %s: %v", chaincodeName, err))
	}
	if inner.Type != pb.ChaincodeMessage_COMPLETED {
		return errResp(string(inner.Payload))
	}
	res := &pb.Response{}
	if err := proto.Unmarshal(inner.Payload, res); err != nil {
		return errResp(fmt.Sprintf("shim: unmarshal response of chaincode %s: %v", chaincodeName, err))
	}
	return res
}

// GetState implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetState(key string) ([]byte, error) {
	return s.getState("", key)
}

func (s *ChaincodeStub) getState(collection, key string) ([]byte, error) {
	v, err := s.call(pb.ChaincodeMessage_GET_STATE, &pb.GetState{Collection: collection, Key: key})
	if err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

// GetMultipleStates implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetMultipleStates(keys ...string) ([][]byte, error) {
	return s.getMultiple("", keys)
}

func (s *ChaincodeStub) getMultiple(collection string, keys []string) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	out := make([][]byte, 0, len(keys))
	if !s.h.multiGet {
		for _, k := range keys {
			v, err := s.getState(collection, k)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	for len(keys) > 0 {
		n := min(len(keys), s.h.multiGetMax)
		body, err := s.call(pb.ChaincodeMessage_GET_STATE_MULTIPLE, &pb.GetStateMultiple{Collection: collection, Keys: keys[:n]})
		if err != nil {
			return nil, err
		}
		res := &pb.GetStateMultipleResult{}
		if err := proto.Unmarshal(body, res); err != nil {
			return nil, fmt.Errorf("shim: unmarshal GET_STATE_MULTIPLE result: %w", err)
		}
		if len(res.Values) != n {
			return nil, fmt.Errorf("shim: peer returned %d values for %d keys", len(res.Values), n)
		}
		for _, v := range res.Values {
			if len(v) == 0 {
				v = nil
			}
			out = append(out, v)
		}
		keys = keys[n:]
	}
	return out, nil
}

// PutState implements ChaincodeStubInterface.
func (s *ChaincodeStub) PutState(key string, value []byte) error {
	return s.putState("", key, value)
}

func (s *ChaincodeStub) putState(collection, key string, value []byte) error {
	if key == "" {
		return errors.New("shim: PutState: the key must not be an empty string")
	}
	_, err := s.call(pb.ChaincodeMessage_PUT_STATE, &pb.PutState{Collection: collection, Key: key, Value: value})
	return err
}

// DelState implements ChaincodeStubInterface.
func (s *ChaincodeStub) DelState(key string) error {
	_, err := s.call(pb.ChaincodeMessage_DEL_STATE, &pb.DelState{Key: key})
	return err
}

// SetStateValidationParameter implements ChaincodeStubInterface.
func (s *ChaincodeStub) SetStateValidationParameter(key string, ep []byte) error {
	return s.putMetadata("", key, ep)
}

// GetStateValidationParameter implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetStateValidationParameter(key string) ([]byte, error) {
	return s.getValidationParameter("", key)
}

func (s *ChaincodeStub) putMetadata(collection, key string, ep []byte) error {
	_, err := s.call(pb.ChaincodeMessage_PUT_STATE_METADATA, &pb.PutStateMetadata{
		Collection: collection, Key: key,
		Metadata: &pb.StateMetadata{Metakey: validationParameterKey, Value: ep},
	})
	return err
}

func (s *ChaincodeStub) getValidationParameter(collection, key string) ([]byte, error) {
	body, err := s.call(pb.ChaincodeMessage_GET_STATE_METADATA, &pb.GetStateMetadata{Collection: collection, Key: key})
	if err != nil {
		return nil, err
	}
	res := &pb.StateMetadataResult{}
	if err := proto.Unmarshal(body, res); err != nil {
		return nil, fmt.Errorf("shim: unmarshal metadata of key %q: %w", key, err)
	}
	for _, e := range res.Entries {
		if e.Metakey == validationParameterKey {
			return e.Value, nil
		}
	}
	return nil, nil
}

func requireCollection(op, collection string) error {
	if collection == "" {
		return fmt.Errorf("shim: %s: the collection must not be an empty string", op)
	}
	return nil
}

// GetPrivateData implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetPrivateData(collection, key string) ([]byte, error) {
	if err := requireCollection("GetPrivateData", collection); err != nil {
		return nil, err
	}
	return s.getState(collection, key)
}

// GetMultiplePrivateData implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetMultiplePrivateData(collection string, keys ...string) ([][]byte, error) {
	if err := requireCollection("GetMultiplePrivateData", collection); err != nil {
		return nil, err
	}
	return s.getMultiple(collection, keys)
}

// GetPrivateDataHash implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetPrivateDataHash(collection, key string) ([]byte, error) {
	if err := requireCollection("GetPrivateDataHash", collection); err != nil {
		return nil, err
	}
	v, err := s.call(pb.ChaincodeMessage_GET_PRIVATE_DATA_HASH, &pb.GetState{Collection: collection, Key: key})
	if err != nil || len(v) == 0 {
		return nil, err
	}
	return v, nil
}

// PutPrivateData implements ChaincodeStubInterface.
func (s *ChaincodeStub) PutPrivateData(collection, key string, value []byte) error {
	if err := requireCollection("PutPrivateData", collection); err != nil {
		return err
	}
	return s.putState(collection, key, value)
}

// DelPrivateData implements ChaincodeStubInterface.
func (s *ChaincodeStub) DelPrivateData(collection, key string) error {
	if err := requireCollection("DelPrivateData", collection); err != nil {
		return err
	}
	_, err := s.call(pb.ChaincodeMessage_DEL_STATE, &pb.DelState{Collection: collection, Key: key})
	return err
}

// PurgePrivateData implements ChaincodeStubInterface.
func (s *ChaincodeStub) PurgePrivateData(collection, key string) error {
	if err := requireCollection("PurgePrivateData", collection); err != nil {
		return err
	}
	// The peer reads a PURGE_PRIVATE_DATA payload as a DelState message.
	_, err := s.call(pb.ChaincodeMessage_PURGE_PRIVATE_DATA, &pb.DelState{Collection: collection, Key: key})
	return err
}

// SetPrivateDataValidationParameter implements ChaincodeStubInterface.
func (s *ChaincodeStub) SetPrivateDataValidationParameter(collection, key string, ep []byte) error {
	return s.putMetadata(collection, key, ep)
}

// GetPrivateDataValidationParameter implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetPrivateDataValidationParameter(collection, key string) ([]byte, error) {
	return s.getValidationParameter(collection, key)
}
