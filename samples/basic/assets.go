package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	shim "github.com/weft-ledger/weft/chaincode-shim"
)

// Asset is one asset. Fields are in alphabetical order so the JSON is the
// same as the other language variants of the sample produce.
type Asset struct {
	AppraisedValue int    `json:"AppraisedValue"`
	Color          string `json:"Color"`
	ID             string `json:"ID"`
	Owner          string `json:"Owner"`
	Size           int    `json:"Size"`
}

// AssetTransfer is the chaincode. It holds no state between invocations.
type AssetTransfer struct{}

var _ shim.Chaincode = AssetTransfer{}

// contractName is the contract API's default contract name for the sample.
const contractName = "SmartContract"

// Init accepts an empty init (as the contract API does) or runs a function.
func (t AssetTransfer) Init(stub shim.ChaincodeStubInterface) *pb.Response {
	if fn, _ := stub.GetFunctionAndParameters(); fn == "" {
		return shim.Success([]byte("Default initiator successful."))
	}
	return t.Invoke(stub)
}

// Invoke dispatches on the function name.
func (t AssetTransfer) Invoke(stub shim.ChaincodeStubInterface) *pb.Response {
	fn, args := stub.GetFunctionAndParameters()
	fn = strings.TrimPrefix(fn, contractName+":")
	payload, err := t.dispatch(stub, fn, args)
	if err != nil {
		return shim.Error(err.Error())
	}
	return shim.Success(payload)
}

func (t AssetTransfer) dispatch(stub shim.ChaincodeStubInterface, fn string, args []string) ([]byte, error) {
	arity := map[string]int{
		"InitLedger": 0, "CreateAsset": 5, "ReadAsset": 1, "UpdateAsset": 5,
		"DeleteAsset": 1, "AssetExists": 1, "TransferAsset": 2, "GetAllAssets": 0,
		"TransferValue": 3,
	}
	want, ok := arity[fn]
	if !ok {
		return nil, fmt.Errorf("Function %s not found in contract %s", fn, contractName) //nolint:staticcheck // the contract API's wording
	}
	if len(args) != want {
		return nil, fmt.Errorf("incorrect number of params. Expected %d, received %d", want, len(args))
	}
	switch fn {
	case "InitLedger":
		return nil, initLedger(stub)
	case "CreateAsset", "UpdateAsset":
		a, err := assetFromArgs(args)
		if err != nil {
			return nil, err
		}
		if fn == "CreateAsset" {
			return nil, createAsset(stub, a)
		}
		return nil, updateAsset(stub, a)
	case "ReadAsset":
		a, err := readAsset(stub, args[0])
		if err != nil {
			return nil, err
		}
		return json.Marshal(a)
	case "DeleteAsset":
		return nil, deleteAsset(stub, args[0])
	case "AssetExists":
		exists, err := assetExists(stub, args[0])
		if err != nil {
			return nil, err
		}
		return []byte(strconv.FormatBool(exists)), nil
	case "TransferAsset":
		old, err := transferAsset(stub, args[0], args[1])
		if err != nil {
			return nil, err
		}
		return []byte(old), nil
	case "TransferValue":
		return nil, transferValue(stub, args[0], args[1], args[2])
	default: // GetAllAssets
		assets, err := getAllAssets(stub)
		if err != nil || assets == nil {
			// The contract API sends an empty payload for an empty list.
			return nil, err
		}
		return json.Marshal(assets)
	}
}

// assetFromArgs parses (id, color, size, owner, appraisedValue).
func assetFromArgs(args []string) (Asset, error) {
	toInt := func(i int) (int, error) {
		n, err := strconv.Atoi(args[i])
		if err != nil {
			return 0, fmt.Errorf("error managing parameter param%d. conversion error. cannot convert passed value %s to int", i, args[i])
		}
		return n, nil
	}
	size, err := toInt(2)
	if err != nil {
		return Asset{}, err
	}
	value, err := toInt(4)
	if err != nil {
		return Asset{}, err
	}
	return Asset{ID: args[0], Color: args[1], Size: size, Owner: args[3], AppraisedValue: value}, nil
}

// initialAssets are the six assets InitLedger writes.
var initialAssets = []Asset{
	{ID: "asset1", Color: "blue", Size: 5, Owner: "Tomoko", AppraisedValue: 300},
	{ID: "asset2", Color: "red", Size: 5, Owner: "Brad", AppraisedValue: 400},
	{ID: "asset3", Color: "green", Size: 10, Owner: "Jin Soo", AppraisedValue: 500},
	{ID: "asset4", Color: "yellow", Size: 10, Owner: "Max", AppraisedValue: 600},
	{ID: "asset5", Color: "black", Size: 15, Owner: "Adriana", AppraisedValue: 700},
	{ID: "asset6", Color: "white", Size: 15, Owner: "Michel", AppraisedValue: 800},
}

func initLedger(stub shim.ChaincodeStubInterface) error {
	for _, a := range initialAssets {
		if err := putAsset(stub, a); err != nil {
			return fmt.Errorf("failed to put to world state. %v", err)
		}
	}
	return nil
}

func putAsset(stub shim.ChaincodeStubInterface, a Asset) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return stub.PutState(a.ID, b)
}

func createAsset(stub shim.ChaincodeStubInterface, a Asset) error {
	exists, err := assetExists(stub, a.ID)
	if err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("the asset %s already exists", a.ID)
	}
	return putAsset(stub, a)
}

func readAsset(stub shim.ChaincodeStubInterface, id string) (*Asset, error) {
	b, err := stub.GetState(id)
	if err != nil {
		return nil, fmt.Errorf("failed to read from world state: %v", err)
	}
	if b == nil {
		return nil, fmt.Errorf("the asset %s does not exist", id)
	}
	var a Asset
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("asset %s holds invalid JSON: %v", id, err)
	}
	return &a, nil
}

func updateAsset(stub shim.ChaincodeStubInterface, a Asset) error {
	exists, err := assetExists(stub, a.ID)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("the asset %s does not exist", a.ID)
	}
	return putAsset(stub, a)
}

func deleteAsset(stub shim.ChaincodeStubInterface, id string) error {
	exists, err := assetExists(stub, id)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("the asset %s does not exist", id)
	}
	return stub.DelState(id)
}

func assetExists(stub shim.ChaincodeStubInterface, id string) (bool, error) {
	b, err := stub.GetState(id)
	if err != nil {
		return false, fmt.Errorf("failed to read from world state: %v", err)
	}
	return b != nil, nil
}

// transferAsset sets a new owner and returns the old one.
func transferAsset(stub shim.ChaincodeStubInterface, id, newOwner string) (string, error) {
	a, err := readAsset(stub, id)
	if err != nil {
		return "", err
	}
	old := a.Owner
	a.Owner = newOwner
	if err := putAsset(stub, *a); err != nil {
		return "", err
	}
	return old, nil
}

// transferValue moves amount of AppraisedValue from one asset to another: it
// reads and writes both keys, which makes it the hot-key workload of
// `weft bench --keys N --zipf S`. It is a Weft addition; the fabric-samples
// chaincode has no such function.
func transferValue(stub shim.ChaincodeStubInterface, fromID, toID, rawAmount string) error {
	amount, err := strconv.Atoi(rawAmount)
	if err != nil || amount <= 0 {
		return fmt.Errorf("the amount to transfer must be a positive integer, got %q", rawAmount)
	}
	if fromID == toID {
		return fmt.Errorf("cannot transfer value from asset %s to itself", fromID)
	}
	from, err := readAsset(stub, fromID)
	if err != nil {
		return err
	}
	to, err := readAsset(stub, toID)
	if err != nil {
		return err
	}
	if from.AppraisedValue < amount {
		return fmt.Errorf("asset %s has an appraised value of %d, less than the %d to transfer", fromID, from.AppraisedValue, amount)
	}
	from.AppraisedValue -= amount
	to.AppraisedValue += amount
	if err := putAsset(stub, *from); err != nil {
		return err
	}
	return putAsset(stub, *to)
}

// getAllAssets reads every asset with an open-ended range query.
func getAllAssets(stub shim.ChaincodeStubInterface) ([]*Asset, error) {
	it, err := stub.GetStateByRange("", "")
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var assets []*Asset
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, err
		}
		var a Asset
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("asset %s holds invalid JSON: %v", kv.Key, err)
		}
		assets = append(assets, &a)
	}
	return assets, nil
}
