// Package devnet lays out and runs Weft's development network: the layout of
// Fabric's test-network (OrdererMSP, Org1 and Org2 with one peer each, channel
// mychannel, chaincode basic) as real peer, orderer and chaincode processes on
// loopback, optionally with more orderers, peers and organisations.
//
// With Config.Peers 2 (`weft up --peers 2`) each organisation runs peer1 beside
// peer0, where deploy/docker-compose.yaml puts it (PeerNodes, DefaultPorts).
// Every peer joins the channel and has basic installed, and all of them dial
// the one basic chaincode server; each organisation's approval is endorsed by
// its peer0 only, so that its peer1 depends on gossip for it, as in a real
// network. The anchor peers stay the peer0s. Each peer is started with
// Fabric's gossip settings as the test-network sets them (bootstrap from the
// other peer of its organisation, or itself when alone; endpoint and external
// endpoint its own address; static leader). Orgs and Network.Peers keep
// meaning each organisation's peer0; a network keeps the number of peers it
// was created with.
//
// With Config.Organizations 3 or 4 (`weft up --orgs N`) Org3 and Org4 join
// Org1 and Org2 as members of the channel: crypto-config.yaml and
// configtx.yaml in the network folder are sampleconfig's with each added as
// a copy of Org2 under its own names, its peer0 the anchor peer (11051 and
// 13051, see DefaultPorts), and the channel keeps the test-network's
// policies (MAJORITY Admins, Endorsement and LifecycleEndorsement), now over
// every organisation. Every organisation approves basic, and the commit and
// InitLedger are endorsed by all of them. basic's endorsement policy is the
// channel's default unless Config.EndorsementPolicy gives one, such as
// AND('Org1MSP.peer','Org2MSP.peer','Org3MSP.peer') for benchmarks of what
// each organisation costs. A network keeps its number of organisations and
// its policy (channel-artifacts/basic-endorsement-policy).
//
// Up generates crypto material, the genesis block, the chaincode package and
// the REST gateway's bearer token (Config.RESTTokenPath, bound to User1 by
// config/restgateway.yaml) the first time, starts the processes, and, on a
// fresh network, joins the channel
// and deploys basic through the same public protocols a Fabric admin uses. Run
// again on the same folder, it restarts the network from its ledgers. The
// end-to-end tests use it with their own ports and folder.
//
// The ordering service is one orderer (orderer.example.com) or a Raft cluster
// of 3 or 5 (Config.Orderers), laid out as Fabric's samples: orderer K on
// K*1000+6050, its admin API 3 above, operations ports from 9446 (see
// DefaultPorts). For a cluster, crypto-config.yaml and configtx.yaml in the
// network folder are sampleconfig's with orderer2..N added (crypto specs,
// OrdererEndpoints, Addresses, consenters) and EtcdRaft Options set for a
// failover of about a second (RaftTickInterval and friends); each orderer has
// its own ledger and WAL folder (<dir>/orderer, <dir>/orderer2, ...) and log
// (logs/orderer.log, logs/orderer2.log, ...), and the genesis block is joined
// to every orderer through its participation API. With one orderer the files
// are sampleconfig's, unchanged.
//
// Each peer reads a core.yaml of its own (config/<peer>/core.yaml, its
// FABRIC_CFG_PATH; addresses, paths and TLS come from the environment Up
// starts it with). With Config.CouchDB (`weft up --couchdb URL`, or
// WEFT_COUCHDB) Up writes the ledger section of those files: every peer on
// one CouchDB, each with a database prefix of its own (peer0org1_,
// peer1org1_, ...), or one CouchDB per peer; the credentials of a URL go to
// username and password (the files are 0600). A restart without it keeps
// what the files say. Up checks that every CouchDB answers before it starts
// anything, and a new network first deletes the databases an earlier one
// left under its prefixes (make clean removes the folder, not them).
package devnet
