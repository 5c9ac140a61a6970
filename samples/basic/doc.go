// Command basic is Fabric's asset-transfer-basic chaincode written on Weft's
// shim with a plain Invoke switch: the same functions, arguments, JSON shapes
// and error messages as the fabric-samples chaincode-go variant (which uses
// the contract API), so Fabric's sample applications work against it.
//
// Functions: InitLedger, CreateAsset(id, color, size, owner, appraisedValue),
// ReadAsset(id), UpdateAsset(id, color, size, owner, appraisedValue),
// DeleteAsset(id), AssetExists(id), TransferAsset(id, newOwner) (returns the
// old owner), GetAllAssets. A function may also be named
// "SmartContract:<name>", the contract API's qualified form.
//
// Weft addition, not in fabric-samples: TransferValue(fromID, toID, amount)
// moves amount (a positive integer) of AppraisedValue from one asset to
// another, reading and writing both keys; `weft bench --keys N --zipf S` uses
// it as its hot-key workload.
//
// Running: with CHAINCODE_SERVER_ADDRESS set it serves as a chaincode server
// (chaincode as a service) registered as CHAINCODE_ID (or the package ID held
// by the file CHAINCODE_ID_FILE names, read at start), with TLS when
// CHAINCODE_TLS_KEY and CHAINCODE_TLS_CERT name PEM files (and client
// authentication when CHAINCODE_CLIENT_CA_CERT does; CHAINCODE_TLS_DISABLED=true
// forces TLS off). Otherwise the peer launched it and it dials the peer with
// shim.Start. It stops cleanly on SIGINT or SIGTERM.
package main
