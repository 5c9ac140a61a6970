package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// assetCollection holds every asset's public part; both organisations are
// its members.
const assetCollection = "assetCollection"

// transferAgreementType is the object type of the composite keys under which
// buyers record their agreement to a transfer in assetCollection.
const transferAgreementType = "transferAgreement"

// Asset is the part of an asset both organisations see.
type Asset struct {
	Type  string `json:"objectType"`
	ID    string `json:"assetID"`
	Color string `json:"color"`
	Size  int    `json:"size"`
	Owner string `json:"owner"` // the owner's client identity (GetClientIdentity().GetID())
}

// AssetPrivateDetails is an organisation's own appraisal of an asset, kept
// in its private collection.
type AssetPrivateDetails struct {
	ID             string `json:"assetID"`
	AppraisedValue int    `json:"appraisedValue"`
}

// TransferAgreement names the buyer who agreed to take an asset.
type TransferAgreement struct {
	ID      string `json:"assetID"`
	BuyerID string `json:"buyerID"`
}

// SmartContract moves assets between the clients of two organisations; its
// exported methods are the transactions.
type SmartContract struct {
	contractapi.Contract
}

// assetInput is the transient "asset_properties" of CreateAsset.
type assetInput struct {
	Type           string `json:"objectType"`
	ID             string `json:"assetID"`
	Color          string `json:"color"`
	Size           int    `json:"size"`
	AppraisedValue int    `json:"appraisedValue"`
}

// CreateAsset creates the asset described by the transient entry
// "asset_properties" ({objectType, assetID, color, size, appraisedValue}),
// owned by the client: its public part in assetCollection, its appraised
// value in the client organisation's private collection.
func (s *SmartContract) CreateAsset(ctx contractapi.TransactionContextInterface) error {
	var in assetInput
	if err := transientJSON(ctx, "asset_properties", &in); err != nil {
		return err
	}
	switch {
	case in.Type == "":
		return errors.New("asset_properties: objectType must not be empty")
	case in.ID == "":
		return errors.New("asset_properties: assetID must not be empty")
	case in.Color == "":
		return errors.New("asset_properties: color must not be empty")
	case in.Size <= 0:
		return errors.New("asset_properties: size must be a positive integer")
	case in.AppraisedValue <= 0:
		return errors.New("asset_properties: appraisedValue must be a positive integer")
	}
	existing, err := ctx.GetStub().GetPrivateData(assetCollection, in.ID)
	if err != nil {
		return fmt.Errorf("read asset %s: %w", in.ID, err)
	}
	if existing != nil {
		return fmt.Errorf("asset %s already exists", in.ID)
	}
	owner, err := ctx.GetClientIdentity().GetID()
	if err != nil {
		return fmt.Errorf("read the client's identity: %w", err)
	}
	if err := verifyClientOrgMatchesPeerOrg(ctx); err != nil {
		return fmt.Errorf("CreateAsset: %w", err)
	}
	asset := Asset{Type: in.Type, ID: in.ID, Color: in.Color, Size: in.Size, Owner: owner}
	if err := putJSON(ctx, assetCollection, in.ID, asset); err != nil {
		return err
	}
	coll, err := ownCollection(ctx)
	if err != nil {
		return err
	}
	return putJSON(ctx, coll, in.ID, AssetPrivateDetails{ID: in.ID, AppraisedValue: in.AppraisedValue})
}

// agreementInput is the transient "asset_value" of AgreeToTransfer.
type agreementInput struct {
	ID             string `json:"assetID"`
	AppraisedValue int    `json:"appraisedValue"`
}

// AgreeToTransfer records that the client (the buyer) agrees to take the
// asset at the value of the transient entry "asset_value" ({assetID,
// appraisedValue}): the value in the buyer organisation's private
// collection, the agreement (the buyer's identity) in assetCollection.
func (s *SmartContract) AgreeToTransfer(ctx contractapi.TransactionContextInterface) error {
	var in agreementInput
	if err := transientJSON(ctx, "asset_value", &in); err != nil {
		return err
	}
	if in.ID == "" {
		return errors.New("asset_value: assetID must not be empty")
	}
	if in.AppraisedValue <= 0 {
		return errors.New("asset_value: appraisedValue must be a positive integer")
	}
	asset, err := s.ReadAsset(ctx, in.ID)
	if err != nil {
		return err
	}
	if asset == nil {
		return fmt.Errorf("asset %s does not exist", in.ID)
	}
	if err := verifyClientOrgMatchesPeerOrg(ctx); err != nil {
		return fmt.Errorf("AgreeToTransfer: %w", err)
	}
	coll, err := ownCollection(ctx)
	if err != nil {
		return err
	}
	if err := putJSON(ctx, coll, in.ID, AssetPrivateDetails{ID: in.ID, AppraisedValue: in.AppraisedValue}); err != nil {
		return err
	}
	buyer, err := ctx.GetClientIdentity().GetID()
	if err != nil {
		return fmt.Errorf("read the client's identity: %w", err)
	}
	key, err := ctx.GetStub().CreateCompositeKey(transferAgreementType, []string{in.ID})
	if err != nil {
		return err
	}
	return ctx.GetStub().PutPrivateData(assetCollection, key, []byte(buyer))
}

// transferInput is the transient "asset_owner" of TransferAsset.
type transferInput struct {
	ID       string `json:"assetID"`
	BuyerMSP string `json:"buyerMSP"`
}

// TransferAsset gives the asset of the transient entry "asset_owner"
// ({assetID, buyerMSP}) to the buyer who agreed to take it. Only the owner
// may, and only when both organisations recorded the same appraised value:
// the hashes of the owner's and the buyer's private details must be equal,
// which each organisation's peers can check without seeing the other's
// value. The owner organisation's appraisal and the agreement are removed.
func (s *SmartContract) TransferAsset(ctx contractapi.TransactionContextInterface) error {
	var in transferInput
	if err := transientJSON(ctx, "asset_owner", &in); err != nil {
		return err
	}
	if in.ID == "" || in.BuyerMSP == "" {
		return errors.New("asset_owner: assetID and buyerMSP must not be empty")
	}
	asset, err := s.ReadAsset(ctx, in.ID)
	if err != nil {
		return err
	}
	if asset == nil {
		return fmt.Errorf("asset %s does not exist", in.ID)
	}
	if err := verifyClientOrgMatchesPeerOrg(ctx); err != nil {
		return fmt.Errorf("TransferAsset: %w", err)
	}
	if err := verifyOwner(ctx, asset); err != nil {
		return err
	}
	agreement, err := s.ReadTransferAgreement(ctx, in.ID)
	if err != nil {
		return err
	}
	if agreement == nil {
		return fmt.Errorf("asset %s: no buyer agreed to a transfer (AgreeToTransfer)", in.ID)
	}
	ownerColl, err := ownCollection(ctx)
	if err != nil {
		return err
	}
	buyerColl := in.BuyerMSP + "PrivateCollection"
	ownerHash, err := ctx.GetStub().GetPrivateDataHash(ownerColl, in.ID)
	if err != nil {
		return fmt.Errorf("read the hash of the owner's appraisal of %s in %s: %w", in.ID, ownerColl, err)
	}
	if ownerHash == nil {
		return fmt.Errorf("asset %s: the owner's organisation has no appraisal in %s", in.ID, ownerColl)
	}
	buyerHash, err := ctx.GetStub().GetPrivateDataHash(buyerColl, in.ID)
	if err != nil {
		return fmt.Errorf("read the hash of the buyer's appraisal of %s in %s: %w", in.ID, buyerColl, err)
	}
	if buyerHash == nil {
		return fmt.Errorf("asset %s: the buyer's organisation %s has no appraisal in %s", in.ID, in.BuyerMSP, buyerColl)
	}
	if !bytes.Equal(ownerHash, buyerHash) {
		return fmt.Errorf("asset %s: the appraisals in %s and %s differ (hashes %x and %x): both organisations must agree on the value",
			in.ID, ownerColl, buyerColl, ownerHash, buyerHash)
	}
	asset.Owner = agreement.BuyerID
	if err := putJSON(ctx, assetCollection, in.ID, asset); err != nil {
		return err
	}
	if err := ctx.GetStub().DelPrivateData(ownerColl, in.ID); err != nil {
		return err
	}
	key, err := ctx.GetStub().CreateCompositeKey(transferAgreementType, []string{in.ID})
	if err != nil {
		return err
	}
	return ctx.GetStub().DelPrivateData(assetCollection, key)
}

// deleteInput is the transient "asset_delete" of DeleteAsset.
type deleteInput struct {
	ID string `json:"assetID"`
}

// DeleteAsset removes the asset of the transient entry "asset_delete"
// ({assetID}) and its owner organisation's appraisal; only the owner may.
func (s *SmartContract) DeleteAsset(ctx contractapi.TransactionContextInterface) error {
	var in deleteInput
	if err := transientJSON(ctx, "asset_delete", &in); err != nil {
		return err
	}
	asset, err := s.ReadAsset(ctx, in.ID)
	if err != nil {
		return err
	}
	if asset == nil {
		return fmt.Errorf("asset %s does not exist", in.ID)
	}
	if err := verifyClientOrgMatchesPeerOrg(ctx); err != nil {
		return fmt.Errorf("DeleteAsset: %w", err)
	}
	if err := verifyOwner(ctx, asset); err != nil {
		return err
	}
	coll, err := ownCollection(ctx)
	if err != nil {
		return err
	}
	if err := ctx.GetStub().DelPrivateData(assetCollection, in.ID); err != nil {
		return err
	}
	return ctx.GetStub().DelPrivateData(coll, in.ID)
}

// ReadAsset returns the public part of asset id, or nil when there is none.
func (s *SmartContract) ReadAsset(ctx contractapi.TransactionContextInterface, id string) (*Asset, error) {
	var a Asset
	ok, err := getJSON(ctx, assetCollection, id, &a)
	if err != nil || !ok {
		return nil, err
	}
	return &a, nil
}

// ReadAssetPrivateDetails returns an organisation's appraisal of asset id
// from collection, or nil when there is none. The collections are
// memberOnlyRead: only clients of the collection's organisation may read it.
func (s *SmartContract) ReadAssetPrivateDetails(ctx contractapi.TransactionContextInterface, collection, id string) (*AssetPrivateDetails, error) {
	var d AssetPrivateDetails
	ok, err := getJSON(ctx, collection, id, &d)
	if err != nil || !ok {
		return nil, err
	}
	return &d, nil
}

// ReadTransferAgreement returns the buyer's agreement to take asset id, or
// nil when no buyer agreed.
func (s *SmartContract) ReadTransferAgreement(ctx contractapi.TransactionContextInterface, id string) (*TransferAgreement, error) {
	key, err := ctx.GetStub().CreateCompositeKey(transferAgreementType, []string{id})
	if err != nil {
		return nil, err
	}
	buyer, err := ctx.GetStub().GetPrivateData(assetCollection, key)
	if err != nil {
		return nil, fmt.Errorf("read the transfer agreement of %s: %w", id, err)
	}
	if buyer == nil {
		return nil, nil
	}
	return &TransferAgreement{ID: id, BuyerID: string(buyer)}, nil
}

// ownCollection is the private collection of the client's organisation.
func ownCollection(ctx contractapi.TransactionContextInterface) (string, error) {
	mspID, err := ctx.GetClientIdentity().GetMSPID()
	if err != nil {
		return "", fmt.Errorf("read the client's MSP ID: %w", err)
	}
	return mspID + "PrivateCollection", nil
}

// verifyOwner fails unless the client owns asset.
func verifyOwner(ctx contractapi.TransactionContextInterface, asset *Asset) error {
	id, err := ctx.GetClientIdentity().GetID()
	if err != nil {
		return fmt.Errorf("read the client's identity: %w", err)
	}
	if id != asset.Owner {
		return fmt.Errorf("asset %s: the client is not its owner", asset.ID)
	}
	return nil
}

// verifyClientOrgMatchesPeerOrg fails when the endorsing peer is of another
// organisation than the client: an organisation's private collection is
// written through its own peers. A chaincode service shared by the peers of
// several organisations has no peer organisation to compare
// (CORE_PEER_LOCALMSPID unset); there the collections' endorsement policies
// alone refuse a write endorsed by another organisation's peer.
func verifyClientOrgMatchesPeerOrg(ctx contractapi.TransactionContextInterface) error {
	if os.Getenv("CORE_PEER_LOCALMSPID") == "" {
		return nil
	}
	clientMSP, err := ctx.GetClientIdentity().GetMSPID()
	if err != nil {
		return fmt.Errorf("read the client's MSP ID: %w", err)
	}
	peerMSP, err := shim.GetMSPID()
	if err != nil {
		return fmt.Errorf("read the peer's MSP ID: %w", err)
	}
	if clientMSP != peerMSP {
		return fmt.Errorf("a client of %s may not use a peer of %s: submit through a peer of %s", clientMSP, peerMSP, clientMSP)
	}
	return nil
}

// transientJSON decodes the transient entry name into v.
func transientJSON(ctx contractapi.TransactionContextInterface, name string, v any) error {
	tm, err := ctx.GetStub().GetTransient()
	if err != nil {
		return fmt.Errorf("read the transient map: %w", err)
	}
	raw, ok := tm[name]
	if !ok {
		return fmt.Errorf("the transient map has no %q entry", name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("transient %q: %w", name, err)
	}
	return nil
}

func putJSON(ctx contractapi.TransactionContextInterface, coll, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := ctx.GetStub().PutPrivateData(coll, key, raw); err != nil {
		return fmt.Errorf("write %s to %s: %w", key, coll, err)
	}
	return nil
}

func getJSON(ctx contractapi.TransactionContextInterface, coll, key string, v any) (bool, error) {
	raw, err := ctx.GetStub().GetPrivateData(coll, key)
	if err != nil {
		return false, fmt.Errorf("read %s from %s: %w", key, coll, err)
	}
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%s in %s: %w", key, coll, err)
	}
	return true, nil
}
