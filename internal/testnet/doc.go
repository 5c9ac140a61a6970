// Package testnet is test support: it builds a development network's crypto
// material, genesis block and channel bundle once per test binary and hands
// out read-only views of them (signing identities by name, TLS file paths).
//
// It owns the temporary folders it creates; Close removes them (call it from
// TestMain after m.Run, or leave them to the OS temp folder). The material
// comes either from sampleconfig (crypto-config.yaml, configtx.yaml) or from
// the Fabric v2.5.16 fixture in the repository (testdata/fabric-2.5.16,
// through internal/fabricfixture), chosen per Spec.
//
// Guarantees: each Spec is generated at most once per process; Genesis
// returns a fresh copy so callers may mutate it. Tests must not change the
// files under Net.Dir; they may add files of their own there under unique
// names (e.g. a configtx.yaml variant whose relative paths resolve to
// organizations/). It never writes into the
// source tree and is imported only by tests (peer/, orderer/, bench/, e2e/);
// ledger/, statedb/, channelconfig/, msp/ and protos/ must not use it.
package testnet
