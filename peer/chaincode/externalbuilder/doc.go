// Package externalbuilder runs Fabric's external builders and launchers:
// operator-supplied programs (bin/detect, bin/build, optional bin/release and
// bin/run under a builder's folder) that turn an installed chaincode package
// into running chaincode, as configured in core.yaml under
// chaincode.externalBuilders.
//
// A Detector tries the builders in the configured order: the first whose
// bin/detect exits 0 builds the package, and its output (build output,
// release output and the builder's name) is kept per package ID, so a package
// is built once. A Build either names a chaincode server
// (release/chaincode/server/connection.json), which the caller dials, or is
// started with Run, which writes chaincode.json for bin/run and watches the
// process.
//
// Guarantees: builder programs see only PATH, LD_LIBRARY_PATH, LIBPATH,
// TMPDIR and the variables a builder's propagateEnvironment names; a failing
// step's error names the builder, the step and ends with the tail of its
// stderr; every started process is waited for, and Stop ends it (and the
// processes it started) within a bounded time.
//
// It never dials chaincode and never speaks the chaincode protocol: the
// caller (peer/chaincode's PackageLauncher) does, and falls back to its
// built-in handling when no builder detects a package.
package externalbuilder
