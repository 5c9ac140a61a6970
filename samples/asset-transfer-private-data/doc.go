// Command asset-transfer-private-data is an asset transfer between the
// clients of two organisations that keeps each organisation's appraisal of
// an asset private, on Fabric's contract API (fabric-contract-api-go/v2) and
// the official shim. It behaves as fabric-samples' chaincode of the same
// name, written anew for Weft:
//
//   - CreateAsset (transient "asset_properties": objectType, assetID,
//     color, size, appraisedValue) stores the asset, owned by the client,
//     in assetCollection (Org1MSP and Org2MSP) and the appraised value in
//     the client organisation's <MSPID>PrivateCollection;
//   - ReadAsset, ReadAssetPrivateDetails (collection, assetID; only clients
//     of that collection's organisation: memberOnlyRead) and
//     ReadTransferAgreement read them;
//   - AgreeToTransfer (transient "asset_value": assetID, appraisedValue)
//     records the buyer's appraisal in the buyer organisation's collection
//     and the buyer's agreement in assetCollection;
//   - TransferAsset (transient "asset_owner": assetID, buyerMSP) lets the
//     owner hand the asset to the buyer when both organisations' private
//     appraisals have the same hash (GetPrivateDataHash: neither sees the
//     other's value);
//   - DeleteAsset (transient "asset_delete": assetID) lets the owner remove it.
//
// collections_config.json defines the three collections; the organisations'
// appraisals live three blocks (blockToLive 3), so a transfer follows the
// agreement soon, as in Fabric's tutorial.
//
// On the development network (`make run`), deploy it as Fabric's tutorial
// does, with the chaincode endorsement policy OR('Org1MSP.peer',
// 'Org2MSP.peer') so that each organisation endorses its own steps alone:
//
//	weft lifecycle chaincode package private.tar.gz --path samples/asset-transfer-private-data --lang golang --label private_1
//	weft lifecycle chaincode install private.tar.gz          (as each organisation's admin, on each peer)
//	weft lifecycle chaincode approveformyorg ... --name private --version 1 --sequence 1 \
//	    --package-id <ID> --collections-config samples/asset-transfer-private-data/collections_config.json \
//	    --signature-policy "OR('Org1MSP.peer','Org2MSP.peer')"   (once per organisation)
//	weft lifecycle chaincode commit ... (the same flags, both organisations' peers)
//
// then invoke with --transient '{"asset_properties":"<base64 JSON>"}' as
// with Fabric's peer CLI. e2e/privatedata runs the whole flow through
// Fabric's gateway client.
//
// It runs as a chaincode service when CHAINCODE_SERVER_ADDRESS and
// CHAINCODE_ID are set, else it dials the peer that launched it. Launched by
// a peer it checks that client and peer are of the same organisation; as a
// service shared by both organisations' peers it cannot, and the private
// collections' endorsement policies refuse what another organisation's
// peer endorsed.
//
// It is its own Go module so that the main module never depends on the
// contract API.
package main
