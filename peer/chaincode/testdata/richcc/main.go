// Command richcc is a chaincode built on the official Fabric Go shim that
// runs rich queries, used by the peer/chaincode rich query tests.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

type cc struct{}

func (cc) Init(shim.ChaincodeStubInterface) *pb.Response { return shim.Success(nil) }

// results drains it into "namespace|key=value" strings.
func results(it shim.StateQueryIteratorInterface) ([]string, error) {
	defer it.Close()
	out := []string{}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, err
		}
		out = append(out, kv.Namespace+"|"+kv.Key+"="+string(kv.Value))
	}
	return out, nil
}

func (cc) Invoke(stub shim.ChaincodeStubInterface) *pb.Response {
	fn, args := stub.GetFunctionAndParameters()
	var out any
	switch fn {
	case "query": // query selector
		it, err := stub.GetQueryResult(args[0])
		if err != nil {
			return shim.Error(err.Error())
		}
		if out, err = results(it); err != nil {
			return shim.Error(err.Error())
		}
	case "page": // page selector pageSize bookmark
		size, _ := strconv.Atoi(args[1])
		it, md, err := stub.GetQueryResultWithPagination(args[0], int32(size), args[2])
		if err != nil {
			return shim.Error(err.Error())
		}
		keys, err := results(it)
		if err != nil {
			return shim.Error(err.Error())
		}
		out = map[string]any{"keys": keys, "count": md.GetFetchedRecordsCount(), "bookmark": md.GetBookmark()}
	case "privquery": // privquery collection selector
		it, err := stub.GetPrivateDataQueryResult(args[0], args[1])
		if err != nil {
			return shim.Error(err.Error())
		}
		if out, err = results(it); err != nil {
			return shim.Error(err.Error())
		}
	case "putthenpage": // putthenpage key selector
		if err := stub.PutState(args[0], []byte(`{"owner":"x"}`)); err != nil {
			return shim.Error(err.Error())
		}
		it, _, err := stub.GetQueryResultWithPagination(args[1], 2, "")
		if err != nil {
			return shim.Error(err.Error())
		}
		it.Close()
	case "querythenput": // querythenput selector key: a plain query allows writes
		it, err := stub.GetQueryResult(args[0])
		if err != nil {
			return shim.Error(err.Error())
		}
		keys, err := results(it)
		if err != nil {
			return shim.Error(err.Error())
		}
		if err := stub.PutState(args[1], []byte(strconv.Itoa(len(keys)))); err != nil {
			return shim.Error(err.Error())
		}
		out = keys
	case "put":
		if err := stub.PutState(args[0], []byte(args[1])); err != nil {
			return shim.Error(err.Error())
		}
	default:
		return shim.Error(fmt.Sprintf("unknown function %q", fn))
	}
	b, _ := json.Marshal(out)
	return shim.Success(b)
}

func main() {
	if err := shim.Start(cc{}); err != nil {
		fmt.Fprintln(os.Stderr, "richcc:", err)
		os.Exit(1)
	}
}
