// Package e2e holds Weft's end-to-end tests: they build the peer, orderer and
// sample chaincode binaries, start the development network as real processes
// on loopback ports, and drive it with Fabric's official fabric-gateway client
// and with Weft's protocol client.
package e2e
