// Package chaincode is the peer side of the Fabric chaincode protocol.
//
// It owns the chaincode Runtime: the ChaincodeSupport/Register service that
// peer-launched chaincode dials, the dialler for chaincode-as-a-service
// (pb.Chaincode/Connect to the address in connection.json), the launch of
// installed packages ("golang" built with the local Go toolchain and run as a
// child process, "ccaas" dialled), and one stream handler per connected
// chaincode that serves its state requests against the transaction's
// TxSimulator. It also owns TxContext, TxSimulator and SystemChaincode, the
// types the endorser and the system chaincodes share.
//
// Guarantees: many transactions may be in flight per chaincode at once; each
// stream has a single writer; every transaction ends within the configured
// timeout; a broken stream fails only the transactions that were in flight on
// it, with an error naming the chaincode, and the next invocation relaunches
// the chaincode. Errors name the chaincode (its package ID) and the txid.
//
// Every message a Fabric v2.5 shim sends gets a deliberate answer: state,
// private data, metadata and range requests are served on the TxSimulator
// (optional capabilities such as RangePager for paginated ranges,
// PrivateDataRangeReader for private ranges, RichQuerier for rich queries,
// PrivateMetadataAccessor for private key metadata and PrivateDataPurger are discovered by type assertion; PurgePrivateData also needs the channel's
// V2_5 application capability in TxContext.ApplicationCapabilities);
// GET_HISTORY_FOR_KEY is served from TxContext.History and INVOKE_CHAINCODE
// through TxContext.Invoker (the endorser), both with a clear error when
// absent; GET_STATE_MULTIPLE and WRITE_BATCH_STATE (never offered in READY)
// are refused with an error that names the call and what to use instead.
// As in Fabric, a non-paginated range, private range, rich or history query
// stops silently after Config.TotalQueryLimit results (ledger.state.totalQueryLimit,
// 100000 by default).
//
// Rich queries (GET_QUERY_RESULT: GetQueryResult, GetQueryResultWithPagination,
// GetPrivateDataQueryResult) are served on a simulator with the RichQuerier
// capability, as Fabric's handler serves them: results stream in batches
// through QUERY_STATE_NEXT and QUERY_STATE_CLOSE like a range query; a
// request whose QueryMetadata sets a page size or a bookmark gets one whole
// page with a QueryResponseMetadata (fetched_records_count, bookmark); a
// query on a collection is never paginated. *ledger.Simulator records each
// public result as a read of its key, and rich query results are not
// re-checked for phantoms at commit (as in Fabric): a key that comes to match
// the query between endorsement and commit is not detected. On a LevelDB
// state the ledger refuses them, and a simulator without the capability gets
// them refused here, both with a message naming CouchDB.
//
// Authentication: with a CA (Config.CA; the peer makes one when its TLS is
// on), every launch gets a client certificate bound to its package ID, the
// Register listener (CA.ServerCredentials) accepts only certificates of that
// CA, and Register accepts a stream only if its certificate belongs to a
// launch in progress and it registers as that launch's package ID, once.
// Without a CA, Register still refuses a package ID it is not launching. A
// runtime without a launcher is in development mode and accepts chaincode
// that registers by itself. Chaincode-as-a-service is dialled with the TLS
// settings of its connection.json (tls_required needs root_cert).
//
// Private data follows Fabric's handler: no private data request (hash
// reads included) is served in chaincode Init(); and when the caller gives
// the collection rules (TxContext.Collection, read once per collection and
// transaction), a collection the chaincode does not define is refused
// ("collection <channel>/<ns>/<coll> could not be found"), a client whose
// organisation (TxContext.Creator's MSP ID) is not a member is refused
// private reads (GetPrivateData, private range and rich queries,
// GetPrivateDataValidationParameter) of a memberOnlyRead collection and
// writes (PutPrivateData, DelPrivateData, PurgePrivateData,
// SetPrivateDataValidationParameter) to a memberOnlyWrite one, with Fabric's
// "tx creator does not have read/write access permission" followed by the
// collection, the chaincode and the organisation; GetPrivateDataHash never
// needs membership. A PUT_STATE_METADATA, public or private, makes the entry
// it carries the key's whole metadata and reads nothing, as in Fabric, so
// the read/write set is the one a Fabric peer would endorse.
//
// It never commits state, never checks signatures or endorsement policies
// (the endorser and the validator do), and never reads the lifecycle
// definitions: callers resolve the package ID and the collection rules first.
package chaincode
