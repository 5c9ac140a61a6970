// Command asset-transfer-contract is the asset-transfer "basic" chaincode
// written with Fabric's contract API (fabric-contract-api-go/v2) and the
// official shim: the reference that chaincode built for Fabric runs on Weft
// unchanged.
//
// It is its own Go module so that the main module never depends on the
// contract API; the main module's `go vet ./...` and `go test ./...` skip it,
// and e2e/contract_test.go builds and deploys it.
//
// It runs two ways, as Fabric chaincode does:
//   - chaincode-as-a-service: with CHAINCODE_SERVER_ADDRESS (host:port to
//     listen on) and CHAINCODE_ID (the package ID) set, it serves
//     Chaincode/Connect without TLS and the peer dials it;
//   - peer-launched (a "golang" package): otherwise it dials the peer named
//     by CORE_PEER_ADDRESS / -peer.address through the shim.
//
// The contract keeps no state between invocations; the world state is the
// only store.
package main
