// Package fabricfixture finds the files a real Fabric v2.5.16 network wrote,
// kept in the repository under testdata/fabric-2.5.16 (its README says how they
// were made and which block shows what).
//
// Tests use it to prove that Weft parses, verifies and validates what Fabric
// writes and reaches Fabric's verdicts. It reads only; nothing here writes into
// the source tree. It depends on nothing of Weft's, so tests of any package —
// protos and msp included — may import it without a cycle.
package fabricfixture
