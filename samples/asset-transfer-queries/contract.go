package main

import (
	"encoding/json"
	"fmt"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// docType marks asset documents, so that queries select assets only.
const docType = "asset"

// Asset is one asset as stored in the world state.
type Asset struct {
	DocType        string `json:"docType"`
	ID             string `json:"assetID"`
	Color          string `json:"color"`
	Size           int    `json:"size"`
	Owner          string `json:"owner"`
	AppraisedValue int    `json:"appraisedValue"`
}

// QueryPage is one page of a paginated query.
type QueryPage struct {
	Records             []*Asset `json:"records"`
	FetchedRecordsCount int32    `json:"fetchedRecordsCount"`
	Bookmark            string   `json:"bookmark"`
}

// SmartContract manages assets; its exported methods are the transactions.
type SmartContract struct {
	contractapi.Contract
}

// CreateAsset writes a new asset; it fails when the ID is taken.
func (s *SmartContract) CreateAsset(ctx contractapi.TransactionContextInterface, id, color string, size int, owner string, appraisedValue int) error {
	raw, err := ctx.GetStub().GetState(id)
	if err != nil {
		return fmt.Errorf("read asset %s from world state: %w", id, err)
	}
	if raw != nil {
		return fmt.Errorf("the asset %s already exists", id)
	}
	return putAsset(ctx, &Asset{DocType: docType, ID: id, Color: color, Size: size, Owner: owner, AppraisedValue: appraisedValue})
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

// TransferAsset gives an asset to a new owner.
func (s *SmartContract) TransferAsset(ctx contractapi.TransactionContextInterface, id, newOwner string) error {
	a, err := s.ReadAsset(ctx, id)
	if err != nil {
		return err
	}
	a.Owner = newOwner
	return putAsset(ctx, a)
}

// DeleteAsset removes an asset.
func (s *SmartContract) DeleteAsset(ctx contractapi.TransactionContextInterface, id string) error {
	if _, err := s.ReadAsset(ctx, id); err != nil {
		return err
	}
	return ctx.GetStub().DelState(id)
}

// QueryAssetsByOwner returns the assets of owner, using the packaged index
// on docType and owner.
func (s *SmartContract) QueryAssetsByOwner(ctx contractapi.TransactionContextInterface, owner string) ([]*Asset, error) {
	query, err := json.Marshal(map[string]any{
		"selector":  map[string]any{"docType": docType, "owner": owner},
		"use_index": []string{"_design/indexOwnerDoc", "indexOwner"},
	})
	if err != nil {
		return nil, err
	}
	return s.QueryAssets(ctx, string(query))
}

// QueryAssets runs any rich query (a CouchDB Mango query as JSON) and
// returns the assets it selects.
func (s *SmartContract) QueryAssets(ctx contractapi.TransactionContextInterface, query string) ([]*Asset, error) {
	it, err := ctx.GetStub().GetQueryResult(query)
	if err != nil {
		return nil, fmt.Errorf("run query %s: %w", query, err)
	}
	defer it.Close()
	assets := []*Asset{}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("read results of query %s: %w", query, err)
		}
		var a Asset
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("decode asset %s: %w", kv.Key, err)
		}
		assets = append(assets, &a)
	}
	return assets, nil
}

// QueryAssetsWithPagination runs a rich query one page at a time: pass the
// bookmark of the previous page ("" for the first) to get the next.
func (s *SmartContract) QueryAssetsWithPagination(ctx contractapi.TransactionContextInterface, query string, pageSize int32, bookmark string) (*QueryPage, error) {
	it, meta, err := ctx.GetStub().GetQueryResultWithPagination(query, pageSize, bookmark)
	if err != nil {
		return nil, fmt.Errorf("run query %s: %w", query, err)
	}
	defer it.Close()
	page := &QueryPage{Records: []*Asset{}}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("read results of query %s: %w", query, err)
		}
		var a Asset
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("decode asset %s: %w", kv.Key, err)
		}
		page.Records = append(page.Records, &a)
	}
	page.FetchedRecordsCount = meta.GetFetchedRecordsCount()
	page.Bookmark = meta.GetBookmark()
	return page, nil
}

func putAsset(ctx contractapi.TransactionContextInterface, a *Asset) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode asset %s: %w", a.ID, err)
	}
	if err := ctx.GetStub().PutState(a.ID, raw); err != nil {
		return fmt.Errorf("write asset %s: %w", a.ID, err)
	}
	return nil
}
