// Package bench holds `go test -bench` benchmarks of Weft's hot paths, run
// against real material: keys and certificates from sampleconfig's
// crypto-config.yaml, the genesis block of sampleconfig's configtx.yaml
// (profile ChannelUsingRaft, channel mychannel), the chaincode "basic" deployed
// through the real `_lifecycle` (approve by both organisations, commit), and a
// real ledger (block store and LevelDB state) in a temporary folder.
//
// The commit-path benchmarks measure what a committing peer does with one
// orderer-signed block of 500 CreateAsset transactions, each created and signed
// by User1@org1.example.com and endorsed by peer0 of Org1 and of Org2:
//
//	BenchmarkCommitBlock500     validator.VerifyBlock + Validator.Validate + ledger.Commit
//	BenchmarkValidateOnly       validator.VerifyBlock + Validator.Validate
//	BenchmarkLedgerCommitOnly   ledger.Commit with the validation flags precomputed
//	BenchmarkECDSAVerify/Sign   one P-256 verify / sign over SHA-256 of 300 bytes
//
// BenchmarkCommitBlock500CouchDB and BenchmarkLedgerCommitOnlyCouchDB are
// the first and third with the world state in CouchDB (statedb/couchdb with
// a peer's default settings) on the server WEFT_TEST_COUCHDB_URL names,
// under a database prefix of their own, dropped afterwards; without it they
// skip.
//
// Besides ns/op (per block) they report tx/s, tx/s/core (tx/s divided by
// GOMAXPROCS), verify_bound_tx/s (GOMAXPROCS / (3 × one ECDSA verify measured
// just before and after the measured loop: the rate at which the cores could
// do nothing but the creator's and the two endorsers' signature checks) and
// fraction_of_bound; and, steadier on a shared machine, cpu_us/tx (process
// CPU while the timer runs), cores_used and cpu_fraction_of_bound (the share
// of that CPU the three verifications account for).
//
// The chaincode benchmark measures the peer side of the chaincode protocol:
//
//	BenchmarkChaincodePut/{weft-shim,official-shim}/{serial,parallel}
//	    chaincode.Runtime.Execute of "put k v" on the suite chaincode of
//	    e2e/testdata/suitecc (the same source built on either shim), which
//	    registers over gRPC on loopback; one PUT_STATE per transaction,
//	    recorded by a ledger.Simulator on a real LevelDB state. serial: one
//	    transaction in flight; parallel: 8 × GOMAXPROCS in flight on the one
//	    stream. It reports tx/s.
//
// Guarantees: every transaction of every measured block is checked to come
// out VALID, before and after the ledger's MVCC, or the benchmark fails; the
// blocks are built and signed with the timer stopped. Nothing is set up in
// plain `go test` beyond one small test of the fixture itself.
//
// BenchmarkLoopbackRoundTrip prices a message over loopback TCP when the
// process was busy and when it was asleep (a 5 ms pause before each round
// trip, as at 200 tx/s): the cost of waking that low-load CPU figures pay
// for every message.
//
// It never changes the packages it measures and has no non-test code.
package bench
