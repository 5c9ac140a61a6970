// Package devnet lays out and runs Weft's development network: the layout of
// Fabric's test-network (one orderer, Org1 and Org2 with one peer each, channel
// mychannel, chaincode basic) as real peer, orderer and chaincode processes on
// loopback.
//
// Up generates crypto material, the genesis block and the chaincode package the
// first time, starts the processes, and, on a fresh network, joins the channel
// and deploys basic through the same public protocols a Fabric admin uses. Run
// again on the same folder, it restarts the network from its ledgers. The
// end-to-end tests use it with their own ports and folder.
package devnet
