// Package cluster carries Raft messages between the orderers of a channel and
// pulls committed blocks from them.
//
// It speaks Fabric's cluster service (orderer.Cluster/Step, a bidirectional
// stream of StepRequest): each ConsensusRequest holds a channel name and, as
// payload, a proto-marshalled raftpb.Message, as Fabric's etcdraft sends it.
//
// A Comm is one per orderer node. Configure tells it the consenters of a
// channel (id, host:port, server and client TLS certificates). It keeps one
// outgoing stream per remote node, shared by every channel that node serves,
// dialled with mutual TLS (this node's TLS key pair as client certificate, the
// remote's server certificate checked against the root pool and pinned to the
// consenter's ServerTLSCert). Messages wait in a bounded queue per remote
// node: Transport.Send never blocks; when a queue is full the message is
// dropped and counted, which Raft tolerates. Broken streams are re-opened with
// exponential backoff; Reachable reports the consenters with a live stream.
//
// A Server answers Step streams. The caller must present a TLS client
// certificate; each message is handed to the Handler only if its Raft From is
// the consenter of that channel whose ClientTLSCert is exactly the caller's
// certificate and its To is this node. Anything else is dropped and logged
// with the channel, the claimed id and the certificate subject; a caller whose
// certificate belongs to no consenter of any configured channel has its
// stream closed. SubmitRequests are refused: Weft followers forward
// envelopes through Raft, not through the cluster service.
//
// A Puller fetches committed blocks of one channel from the other orderers
// through AtomicBroadcast/Deliver (a SeekInfo envelope signed by this
// orderer), checks each block's data hash, the hash chain and the caller's
// signature check, and fails over to the next endpoint on any error.
//
// The package never starts a gRPC server or decides who the consenters are:
// the orderer node registers the Server on its listener and calls Configure
// from the channel configuration.
package cluster
