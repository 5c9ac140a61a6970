package main

import (
	"encoding/json"
	"fmt"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// Asset is one asset as the sample stores it in the world state. The fields
// are declared in alphabetical order so that encoding/json writes the same
// bytes the other language variants of the sample write.
type Asset struct {
	AppraisedValue int    `json:"AppraisedValue"`
	Color          string `json:"Color"`
	ID             string `json:"ID"`
	Owner          string `json:"Owner"`
	Size           int    `json:"Size"`
}

// SmartContract manages assets; its exported methods are the transactions.
type SmartContract struct {
	contractapi.Contract
}

// seedAssets are what InitLedger writes.
func seedAssets() []Asset {
	return []Asset{
		{ID: "asset1", Color: "blue", Size: 5, Owner: "Tomoko", AppraisedValue: 300},
		{ID: "asset2", Color: "red", Size: 5, Owner: "Brad", AppraisedValue: 400},
		{ID: "asset3", Color: "green", Size: 10, Owner: "Jin Soo", AppraisedValue: 500},
		{ID: "asset4", Color: "yellow", Size: 10, Owner: "Max", AppraisedValue: 600},
		{ID: "asset5", Color: "black", Size: 15, Owner: "Adriana", AppraisedValue: 700},
		{ID: "asset6", Color: "white", Size: 15, Owner: "Michel", AppraisedValue: 800},
	}
}

// InitLedger writes the six seed assets, overwriting any with the same ID.
func (s *SmartContract) InitLedger(ctx contractapi.TransactionContextInterface) error {
	for _, a := range seedAssets() {
		if err := putAsset(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// CreateAsset writes a new asset; it fails when the ID is taken.
func (s *SmartContract) CreateAsset(ctx contractapi.TransactionContextInterface, id, color string, size int, owner string, appraisedValue int) error {
	exists, err := s.AssetExists(ctx, id)
	if err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("the asset %s already exists", id)
	}
	return putAsset(ctx, Asset{ID: id, Color: color, Size: size, Owner: owner, AppraisedValue: appraisedValue})
}

// ReadAsset returns the asset stored under id.
func (s *SmartContract) ReadAsset(ctx contractapi.TransactionContextInterface, id string) (*Asset, error) {
	raw, err := ctx.GetStub().GetState(id)
	if err != nil {
		return nil, fmt.Errorf("read asset %s from world state: %w", id, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("the asset %s does not exist", id)
	}
	var a Asset
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("decode asset %s: %w", id, err)
	}
	return &a, nil
}

// UpdateAsset replaces every field of an existing asset.
func (s *SmartContract) UpdateAsset(ctx contractapi.TransactionContextInterface, id, color string, size int, owner string, appraisedValue int) error {
	if err := mustExist(ctx, s, id); err != nil {
		return err
	}
	return putAsset(ctx, Asset{ID: id, Color: color, Size: size, Owner: owner, AppraisedValue: appraisedValue})
}

// DeleteAsset removes an existing asset.
func (s *SmartContract) DeleteAsset(ctx contractapi.TransactionContextInterface, id string) error {
	if err := mustExist(ctx, s, id); err != nil {
		return err
	}
	return ctx.GetStub().DelState(id)
}

// AssetExists reports whether an asset is stored under id.
func (s *SmartContract) AssetExists(ctx contractapi.TransactionContextInterface, id string) (bool, error) {
	raw, err := ctx.GetStub().GetState(id)
	if err != nil {
		return false, fmt.Errorf("read asset %s from world state: %w", id, err)
	}
	return raw != nil, nil
}

// TransferAsset sets a new owner and returns the previous one.
func (s *SmartContract) TransferAsset(ctx contractapi.TransactionContextInterface, id, newOwner string) (string, error) {
	a, err := s.ReadAsset(ctx, id)
	if err != nil {
		return "", err
	}
	old := a.Owner
	a.Owner = newOwner
	if err := putAsset(ctx, *a); err != nil {
		return "", err
	}
	return old, nil
}

// GetAllAssets returns every asset of the world state (an open range query).
func (s *SmartContract) GetAllAssets(ctx contractapi.TransactionContextInterface) ([]*Asset, error) {
	it, err := ctx.GetStub().GetStateByRange("", "")
	if err != nil {
		return nil, fmt.Errorf("range over world state: %w", err)
	}
	defer it.Close()
	var assets []*Asset
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("range over world state: %w", err)
		}
		var a Asset
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("decode asset %s: %w", kv.Key, err)
		}
		assets = append(assets, &a)
	}
	return assets, nil
}

func mustExist(ctx contractapi.TransactionContextInterface, s *SmartContract, id string) error {
	exists, err := s.AssetExists(ctx, id)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("the asset %s does not exist", id)
	}
	return nil
}

func putAsset(ctx contractapi.TransactionContextInterface, a Asset) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode asset %s: %w", a.ID, err)
	}
	if err := ctx.GetStub().PutState(a.ID, raw); err != nil {
		return fmt.Errorf("write asset %s: %w", a.ID, err)
	}
	return nil
}
