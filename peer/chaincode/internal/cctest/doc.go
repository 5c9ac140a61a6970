// Package cctest holds the test support that the tests of peer/chaincode and
// peer/chaincode/externalbuilder share: building install packages, a
// throwaway signing identity, a test logger, a free loopback address, serving
// a runtime's ChaincodeSupport and running a chaincode server until the test
// ends.
//
// It is for tests only (it takes a testing.TB and fails the test on error)
// and never imports peer/chaincode, so that package's own tests can use it.
package cctest
