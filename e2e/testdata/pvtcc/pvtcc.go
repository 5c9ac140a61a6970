package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/statebased"
	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

func main() {
	cc := pvtcc{}
	addr := os.Getenv("CHAINCODE_SERVER_ADDRESS")
	var err error
	if addr == "" {
		err = shim.Start(cc)
	} else {
		srv := &shim.ChaincodeServer{
			CCID:     os.Getenv("CHAINCODE_ID"),
			Address:  addr,
			CC:       cc,
			TLSProps: shim.TLSProperties{Disabled: true},
		}
		err = srv.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pvtcc:", err)
		os.Exit(1)
	}
}

// pvtcc is the chaincode.
type pvtcc struct{}

func (pvtcc) Init(shim.ChaincodeStubInterface) *pb.Response { return shim.Success(nil) }

func (pvtcc) Invoke(stub shim.ChaincodeStubInterface) *pb.Response {
	fn, args := stub.GetFunctionAndParameters()
	if len(args) < 2 {
		return shim.Error(fmt.Sprintf("%s needs a collection and a key, got %q", fn, args))
	}
	coll, key := args[0], args[1]
	out, err := run(stub, fn, coll, key, args[2:])
	if err != nil {
		return shim.Error(err.Error())
	}
	return shim.Success(out)
}

func run(stub shim.ChaincodeStubInterface, fn, coll, key string, rest []string) ([]byte, error) {
	switch fn {
	case "put":
		tm, err := stub.GetTransient()
		if err != nil {
			return nil, err
		}
		v, ok := tm["value"]
		if !ok {
			return nil, fmt.Errorf("put %s in %s: the transient map has no \"value\"", key, coll)
		}
		return nil, stub.PutPrivateData(coll, key, v)
	case "get":
		v, err := stub.GetPrivateData(coll, key)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, fmt.Errorf("no value of key %s in collection %s on this peer", key, coll)
		}
		return v, nil
	case "hash":
		h, err := stub.GetPrivateDataHash(coll, key)
		if err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(h)), nil
	case "del":
		return nil, stub.DelPrivateData(coll, key)
	case "purge":
		return nil, stub.PurgePrivateData(coll, key)
	case "setep":
		ep, err := statebased.NewStateEP(nil)
		if err != nil {
			return nil, err
		}
		if err := ep.AddOrgs(statebased.RoleTypePeer, rest...); err != nil {
			return nil, err
		}
		policy, err := ep.Policy()
		if err != nil {
			return nil, err
		}
		return nil, stub.SetPrivateDataValidationParameter(coll, key, policy)
	case "getep":
		policy, err := stub.GetPrivateDataValidationParameter(coll, key)
		if err != nil {
			return nil, err
		}
		orgs := []string{}
		if len(policy) > 0 {
			ep, err := statebased.NewStateEP(policy)
			if err != nil {
				return nil, err
			}
			orgs = append(orgs, ep.ListOrgs()...)
		}
		return json.Marshal(orgs)
	default:
		return nil, fmt.Errorf("unknown function %q (put, get, hash, del, purge, setep, getep)", fn)
	}
}
