package shim

import pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

// Status codes of a chaincode response, as the peer reads them.
const (
	// OK is the status of a successful Init or Invoke.
	OK = 200
	// ERRORTHRESHOLD: a status at or above it is an error the endorser will not endorse.
	ERRORTHRESHOLD = 400
	// ERROR is the status Error uses.
	ERROR = 500
)

// Success returns a response with status OK and the given payload.
func Success(payload []byte) *pb.Response {
	return &pb.Response{Status: OK, Payload: payload}
}

// Error returns a response with status ERROR and the given message.
func Error(msg string) *pb.Response {
	return &pb.Response{Status: ERROR, Message: msg}
}
