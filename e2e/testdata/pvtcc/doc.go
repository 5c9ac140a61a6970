// Command pvtcc is the private data test chaincode of e2e/privatedata, on
// Fabric's official shim. It keeps no state of its own; every function takes
// string arguments, and a value written comes from the transient map (entry
// "value") so that it never appears in the transaction:
//
//	put coll key          PutPrivateData(coll, key, transient["value"])
//	get coll key          the value; an error naming the key and collection
//	                      when GetPrivateData returns none
//	hash coll key         GetPrivateDataHash in lower-case hex ("" when none)
//	del coll key          DelPrivateData
//	purge coll key        PurgePrivateData
//	setep coll key msp... SetPrivateDataValidationParameter: a peer of every
//	                      listed organisation must endorse a change of key
//	getep coll key        the organisations of key's policy as a JSON array
//	                      ([] when it has none)
//
// collections_config.json, in Fabric's format (weft lifecycle chaincode
// approveformyorg --collections-config), defines its three collections:
// org1only (Org1MSP; memberOnlyRead and memberOnlyWrite; disseminated to at
// most one peer, none required), shared (Org1MSP and Org2MSP; one peer
// required, up to three), btl3 (Org1MSP and Org2MSP, values expire after
// three blocks) and allthree (Org1MSP and Org2MSP; three peers required).
//
// The binary runs as a chaincode service when CHAINCODE_SERVER_ADDRESS (and
// CHAINCODE_ID) are set, else it registers with the peer that launched it.
package main
