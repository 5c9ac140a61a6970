package main

import (
	"fmt"
	"log"
	"os"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

func main() {
	cc, err := contractapi.NewChaincode(&SmartContract{})
	if err != nil {
		log.Fatalf("create asset-transfer-private-data chaincode: %v", err)
	}
	if err := run(cc); err != nil {
		log.Fatal(err)
	}
}

// run serves cc as chaincode-as-a-service when CHAINCODE_SERVER_ADDRESS is
// set, and otherwise dials the peer that launched it.
func run(cc *contractapi.ContractChaincode) error {
	addr := os.Getenv("CHAINCODE_SERVER_ADDRESS")
	if addr == "" {
		if err := cc.Start(); err != nil {
			return fmt.Errorf("run peer-launched chaincode: %w", err)
		}
		return nil
	}
	id := os.Getenv("CHAINCODE_ID")
	if id == "" {
		return fmt.Errorf("CHAINCODE_SERVER_ADDRESS is set but CHAINCODE_ID is empty; set it to the installed package ID")
	}
	server := &shim.ChaincodeServer{
		CCID:     id,
		Address:  addr,
		CC:       cc,
		TLSProps: shim.TLSProperties{Disabled: true},
	}
	log.Printf("serving chaincode %s on %s", id, addr)
	if err := server.Start(); err != nil {
		return fmt.Errorf("serve chaincode %s on %s: %w", id, addr, err)
	}
	return nil
}
