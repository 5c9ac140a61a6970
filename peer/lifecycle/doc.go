// Package lifecycle is the `_lifecycle` system chaincode of a Weft peer and the
// reader of committed chaincode definitions.
//
// It owns the chaincode packages installed on the peer (a folder given to New,
// one <packageID>.tar.gz per package) and the layout of chaincode definitions in
// the `_lifecycle` namespace, which is byte-for-byte Fabric v2.5's:
//
//	public state       namespaces/metadata/<cc>                lb.StateMetadata{"ChaincodeDefinition", [Sequence EndorsementInfo ValidationInfo Collections]}
//	                   namespaces/fields/<cc>/<Field>           lb.StateData
//	org collection     namespaces/metadata/<cc>#<seq>          lb.StateMetadata{"ChaincodeParameters", [EndorsementInfo ValidationInfo Collections]}
//	(_implicit_org_M)  namespaces/fields/<cc>#<seq>/<Field>
//	                   chaincode-sources/metadata/<cc>#<seq>   lb.StateMetadata{"ChaincodeLocalPackage", [PackageID]}
//	                   chaincode-sources/fields/<cc>#<seq>/PackageID
//
// so that a Weft peer produces the same read/write sets as a Fabric peer for the
// same lifecycle operation, and reads definitions Fabric peers committed.
//
// Guarantees: a value is written only when it changes (as Fabric does, to keep
// write sets minimal); approvals of other organisations are checked only through
// the hashes of their implicit collections; every error names the operation, the
// chaincode and the reason.
//
// DefinitionCache keeps, per channel, the committed definitions and this
// organisation's approved package IDs read from state; its owner (the peer's
// commit path) invalidates it around every block that writes `_lifecycle`.
//
// The installed-package queries report each package's References as Fabric
// does: the definitions committed on the joined channels (JoinedChannels) for
// which this organisation approved that package, with exactly the committed
// parameters, at the committed sequence.
//
// CouchDB indexes: InstallChaincode refuses a package whose index files
// (META-INF/statedb/couchdb/... in code.tar.gz, see ReadIndexes) are
// misplaced or malformed, naming the file. SyncIndexes creates the indexes
// of the package that runs each committed definition (the References rule)
// in the channel's state database, when that database keeps indexes: on
// install, and when the peer calls it (channel open, `_lifecycle` commits).
//
// It never enforces the LifecycleEndorsement policy (that is the validator's job
// at commit time) and never writes state outside the simulator it is handed;
// outside a simulation it only reads committed state.
package lifecycle
