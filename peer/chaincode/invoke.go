package chaincode

import (
	"errors"
	"fmt"
	"strings"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// invokeChaincode serves INVOKE_CHAINCODE as Fabric does: once the callee
// has run, the RESPONSE payload is its final ChaincodeMessage — COMPLETED
// carrying its peer.Response, or ERROR carrying the message it failed with.
// A call that fails before the callee answers (no such chaincode, access
// denied, timeout) is an ERROR answer to the request itself; the official
// shim returns it as a status 500 Response with the text as its Payload.
func (h *handler) invokeChaincode(tx *txState, msg *pb.ChaincodeMessage) ([]byte, error) {
	spec := &pb.ChaincodeSpec{}
	if err := proto.Unmarshal(msg.Payload, spec); err != nil {
		return nil, fmt.Errorf("decode peer.ChaincodeSpec: %w", err)
	}
	name, channel := parseChaincodeName(spec.GetChaincodeId().GetName())
	if name == "" {
		return nil, fmt.Errorf("chaincode %s called another chaincode without naming it (ChaincodeSpec.chaincode_id.name is %q)", tx.ns, spec.GetChaincodeId().GetName())
	}
	target := name
	if channel != "" {
		target += " on channel " + channel
	}
	if tx.txc.Invoker == nil {
		return nil, fmt.Errorf("chaincode %s called chaincode %s, but calls between chaincodes are not available in this transaction", tx.ns, target)
	}
	input := spec.GetInput()
	if input == nil {
		input = &pb.ChaincodeInput{}
	}
	resp, err := tx.txc.Invoker.InvokeChaincode(tx.calls(), tx.txc, name, channel, input)
	inner := &pb.ChaincodeMessage{Txid: msg.Txid, ChannelId: msg.ChannelId}
	var te *TransactionError
	switch {
	case errors.As(err, &te):
		inner.Type, inner.Payload = pb.ChaincodeMessage_ERROR, []byte(te.Message)
	case err != nil:
		return nil, fmt.Errorf("chaincode %s calling chaincode %s: %w", tx.ns, target, err)
	case resp == nil:
		return nil, fmt.Errorf("chaincode %s calling chaincode %s: no response", tx.ns, target)
	default:
		b, err := proto.Marshal(resp)
		if err != nil {
			return nil, fmt.Errorf("marshal the response of chaincode %s: %w", target, err)
		}
		inner.Type, inner.Payload = pb.ChaincodeMessage_COMPLETED, b
	}
	return proto.Marshal(inner)
}

// parseChaincodeName splits the name a shim sends for InvokeChaincode,
// "name[:version][/channel]". The version is a leftover of Fabric 1.x
// and, as in Fabric 2.x, ignored: the committed definition decides.
func parseChaincodeName(s string) (name, channel string) {
	name, channel, _ = strings.Cut(s, "/")
	name, _, _ = strings.Cut(name, ":")
	return name, channel
}
