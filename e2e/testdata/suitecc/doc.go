// Command suitecc is the chaincode of Weft's shim-compatibility suite
// (e2e/suite_test.go). Its contract logic (suitecc.go) is written once against
// a small alias layer; the build tag picks the shim underneath it:
//
//	go build .                  // Fabric's official shim (shim_official.go)
//	go build -tags weftshim .   // Weft's shim (shim_weft.go)
//
// Both binaries run as chaincode-as-a-service when CHAINCODE_SERVER_ADDRESS
// (and CHAINCODE_ID) are set, else register with the peer that launched them.
//
// Every function takes string arguments and answers JSON (or the raw value
// for get):
//
//	put k v [k v ...]             write pairs; returns nothing
//	get k                         the value ("" when absent)
//	del k                         delete
//	AssetExists k                 "true"/"false" (the e2e deploy helper's warm-up)
//	range start end [pageSize bookmark]
//	                              page{keys, values, fetched, bookmark}
//	cput objectType value attr... write value under a composite key
//	cquery objectType pageSize bookmark attr...
//	                              partial composite-key query (pageSize 0: all);
//	                              page{keys (attributes joined by "/"), values, fetched, bookmark}
//	history k                     [{txId, value, isDelete, hasTimestamp}], newest first
//	event name payload            sets the transaction's chaincode event
//	transient k                   stores the transient map's entry k under k and returns it
//	setep k msp...                key-level policy: one signature of a peer of any msp
//	getep k                       the MSP IDs of k's key-level policy ([] when none)
//	call cc fn arg...             invokes cc on this channel, records
//	                              {chaincode, function, payload} under "lastcall"
//	                              and returns the callee's payload
//	fail msg                      an error response with message msg
//	txinfo arg...                 {txId, channel, mspId, hasTimestamp, function, params}
//	shim                          which shim the binary was built on
package main
