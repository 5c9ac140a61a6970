// Package privatedata holds the end-to-end tests of private data on a
// network of two organisations with two peers each (devnettest.Start with
// Peers: 2), with Fabric's official gateway client and chaincode on Fabric's
// official shim and contract API: e2e/testdata/pvtcc with its org1only,
// shared and btl3 collections, and samples/asset-transfer-private-data.
//
// They show what issue 14 promises: member-only storage (Org2 peers keep
// only the hashes of org1only, also when they endorsed its writes),
// dissemination and reconciliation (peer1.org1 stopped before a write has
// the value once restarted), blockToLive expiry on every member peer,
// memberOnlyRead and memberOnlyWrite refusals naming the collection and the
// client's organisation, private key-level endorsement, a peer restarted
// between endorsement and commit that still commits the private data,
// DeliverWithPrivateData sending what the requester's organisation may read,
// and the asset-transfer-private-data flow. Tests that stop peers run one after
// the other and leave every peer running.
package privatedata
