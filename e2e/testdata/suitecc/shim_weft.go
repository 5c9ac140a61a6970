//go:build weftshim

package main

import (
	"os"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	shim "github.com/weft-ledger/weft/chaincode-shim"
)

// shimName tells which shim this binary was built on (see the "shim" function).
const shimName = "weft"

type (
	stub          = shim.ChaincodeStubInterface
	stateIterator = shim.StateQueryIteratorInterface
)

func success(payload []byte) *pb.Response { return shim.Success(payload) }

func failure(msg string) *pb.Response { return shim.Error(msg) }

// serve runs cc as a chaincode server when CHAINCODE_SERVER_ADDRESS is set
// (chaincode-as-a-service, plaintext), else registers with the launching peer.
func serve(cc shim.Chaincode) error {
	addr := os.Getenv("CHAINCODE_SERVER_ADDRESS")
	if addr == "" {
		return shim.Start(cc)
	}
	srv := &shim.ChaincodeServer{
		CCID:     os.Getenv("CHAINCODE_ID"),
		Address:  addr,
		CC:       cc,
		TLSProps: shim.TLSProperties{Disabled: true},
	}
	return srv.Start()
}
