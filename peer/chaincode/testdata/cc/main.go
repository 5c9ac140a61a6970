// Command testcc is a chaincode built on the official Fabric Go shim, used by
// the peer/chaincode tests. It runs peer-launched (shim.Start, the default) or
// as a service when CHAINCODE_SERVER_ADDRESS is set.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

type cc struct{}

func (cc) Init(stub shim.ChaincodeStubInterface) *pb.Response {
	fn, args := stub.GetFunctionAndParameters()
	switch fn {
	case "failinit":
		return shim.Error("init refused")
	case "initpriv":
		// initpriv coll key: private data in Init, which the peer refuses.
		if err := stub.PutPrivateData(args[0], args[1], []byte("v")); err != nil {
			return shim.Error(err.Error())
		}
	}
	if err := stub.PutState("initialised", []byte("yes")); err != nil {
		return shim.Error(err.Error())
	}
	return shim.Success(nil)
}

func (cc) Invoke(stub shim.ChaincodeStubInterface) *pb.Response {
	fn, args := stub.GetFunctionAndParameters()
	switch fn {
	case "put":
		if err := stub.PutState(args[0], []byte(args[1])); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	case "get":
		v, err := stub.GetState(args[0])
		if err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(v)
	case "del":
		if err := stub.DelState(args[0]); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	case "range":
		it, err := stub.GetStateByRange(args[0], args[1])
		if err != nil {
			return shim.Error(err.Error())
		}
		defer it.Close()
		var out []string
		for it.HasNext() {
			kv, err := it.Next()
			if err != nil {
				return shim.Error(err.Error())
			}
			out = append(out, kv.Key+"="+string(kv.Value))
		}
		b, _ := json.Marshal(out)
		return shim.Success(b)
	case "event":
		if err := stub.SetEvent(args[0], []byte(args[1])); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success([]byte("event set"))
	case "status":
		code, _ := strconv.Atoi(args[0])
		return &pb.Response{Status: int32(code), Message: args[1]}
	case "fail":
		return shim.Error(args[0])
	case "txinfo":
		creator, err := stub.GetCreator()
		if err != nil {
			return shim.Error(err.Error())
		}
		tm, err := stub.GetTransient()
		if err != nil {
			return shim.Error(err.Error())
		}
		b, _ := json.Marshal(map[string]string{
			"txid": stub.GetTxID(), "channel": stub.GetChannelID(),
			"creator_len": strconv.Itoa(len(creator)), "transient": string(tm["secret"]),
		})
		return shim.Success(b)
	case "history":
		it, err := stub.GetHistoryForKey(args[0])
		if err != nil {
			return shim.Error(err.Error())
		}
		defer it.Close()
		var out []map[string]any
		for it.HasNext() {
			km, err := it.Next()
			if err != nil {
				return shim.Error(err.Error())
			}
			out = append(out, map[string]any{"txid": km.TxId, "value": string(km.Value), "delete": km.IsDelete, "seconds": km.Timestamp.GetSeconds()})
		}
		b, _ := json.Marshal(out)
		return shim.Success(b)
	case "pagerange", "pagecomposite":
		// pagerange start end pageSize bookmark | pagecomposite objectType attr pageSize bookmark
		size, _ := strconv.Atoi(args[2])
		var it shim.StateQueryIteratorInterface
		var md *pb.QueryResponseMetadata
		var err error
		if fn == "pagerange" {
			it, md, err = stub.GetStateByRangeWithPagination(args[0], args[1], int32(size), args[3])
		} else {
			it, md, err = stub.GetStateByPartialCompositeKeyWithPagination(args[0], []string{args[1]}, int32(size), args[3])
		}
		if err != nil {
			return shim.Error(err.Error())
		}
		defer it.Close()
		keys := []string{}
		for it.HasNext() {
			kv, err := it.Next()
			if err != nil {
				return shim.Error(err.Error())
			}
			keys = append(keys, kv.Key+"="+string(kv.Value))
		}
		b, _ := json.Marshal(map[string]any{"keys": keys, "count": md.GetFetchedRecordsCount(), "bookmark": md.GetBookmark()})
		return shim.Success(b)
	case "putthenpage":
		if err := stub.PutState(args[0], []byte("v")); err != nil {
			return shim.Error(err.Error())
		}
		it, _, err := stub.GetStateByRangeWithPagination("", "", 10, "")
		if err != nil {
			return shim.Error(err.Error())
		}
		it.Close()
		return shim.Success(nil)
	case "pagethenput":
		it, _, err := stub.GetStateByRangeWithPagination("", "", 10, "")
		if err != nil {
			return shim.Error(err.Error())
		}
		it.Close()
		if err := stub.PutState(args[0], []byte("v")); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	case "call":
		// call name channel args...: the callee's response, as JSON.
		var cargs [][]byte
		for _, a := range args[2:] {
			cargs = append(cargs, []byte(a))
		}
		res := stub.InvokeChaincode(args[0], cargs, args[1])
		b, _ := json.Marshal(map[string]any{"status": res.Status, "message": res.Message, "payload": string(res.Payload)})
		return shim.Success(b)
	case "privhash":
		h, err := stub.GetPrivateDataHash(args[0], args[1])
		if err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(h)
	case "putpriv":
		if err := stub.PutPrivateData(args[0], args[1], []byte(args[2])); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	case "meta":
		m, err := stub.GetStateValidationParameter(args[0])
		if err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(m)
	case "setep":
		if err := stub.SetStateValidationParameter(args[0], []byte(args[1])); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	case "getpriv":
		v, err := stub.GetPrivateData(args[0], args[1])
		if err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(v)
	case "privquery":
		it, err := stub.GetPrivateDataQueryResult(args[0], args[1])
		if err != nil {
			return shim.Error(err.Error())
		}
		it.Close()
		return shim.Success(nil)
	case "getprivep":
		ep, err := stub.GetPrivateDataValidationParameter(args[0], args[1])
		if err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(ep)
	case "setprivep":
		if err := stub.SetPrivateDataValidationParameter(args[0], args[1], []byte(args[2])); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	case "delpriv":
		if err := stub.DelPrivateData(args[0], args[1]); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	case "privrange", "privcomposite":
		// privrange coll start end | privcomposite coll objectType attrs...
		var it shim.StateQueryIteratorInterface
		var err error
		if fn == "privrange" {
			it, err = stub.GetPrivateDataByRange(args[0], args[1], args[2])
		} else {
			it, err = stub.GetPrivateDataByPartialCompositeKey(args[0], args[1], args[2:])
		}
		if err != nil {
			return shim.Error(err.Error())
		}
		defer it.Close()
		out := []string{}
		for it.HasNext() {
			kv, err := it.Next()
			if err != nil {
				return shim.Error(err.Error())
			}
			out = append(out, kv.Namespace+"|"+kv.Key+"="+string(kv.Value))
		}
		b, _ := json.Marshal(out)
		return shim.Success(b)
	case "putthenprivrange":
		if err := stub.PutState(args[0], []byte("v")); err != nil {
			return shim.Error(err.Error())
		}
		it, err := stub.GetPrivateDataByRange(args[1], "", "")
		if err != nil {
			return shim.Error(err.Error())
		}
		it.Close()
		return shim.Success(nil)
	case "privrangethenput":
		it, err := stub.GetPrivateDataByRange(args[0], "", "")
		if err != nil {
			return shim.Error(err.Error())
		}
		it.Close()
		if err := stub.PutState(args[1], []byte("v")); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	case "purgepriv":
		if err := stub.PurgePrivateData(args[0], args[1]); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	case "rangecount":
		// rangecount start end: how many keys GetStateByRange returned, and the last.
		it, err := stub.GetStateByRange(args[0], args[1])
		if err != nil {
			return shim.Error(err.Error())
		}
		defer it.Close()
		n, last := 0, ""
		for it.HasNext() {
			kv, err := it.Next()
			if err != nil {
				return shim.Error(err.Error())
			}
			n, last = n+1, kv.Key
		}
		b, _ := json.Marshal(map[string]any{"count": n, "last": last})
		return shim.Success(b)
	case "sleep":
		ms, _ := strconv.Atoi(args[0])
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return shim.Success([]byte("slept"))
	case "crash":
		// A write first, so the peer has the transaction in flight while the process dies.
		_ = stub.PutState("crash", []byte("x"))
		os.Exit(3)
	}
	return shim.Error(fmt.Sprintf("unknown function %q", fn))
}

func main() {
	var err error
	if addr := os.Getenv("CHAINCODE_SERVER_ADDRESS"); addr != "" {
		tlsProps := shim.TLSProperties{Disabled: true}
		if certFile := os.Getenv("CHAINCODE_TLS_CERT_FILE"); certFile != "" {
			tlsProps.Disabled = false
			tlsProps.Cert, err = os.ReadFile(certFile)
			if err == nil {
				tlsProps.Key, err = os.ReadFile(os.Getenv("CHAINCODE_TLS_KEY_FILE"))
			}
			if ca := os.Getenv("CHAINCODE_TLS_CLIENT_CA_FILE"); err == nil && ca != "" {
				tlsProps.ClientCACerts, err = os.ReadFile(ca)
			}
		}
		if err == nil {
			srv := &shim.ChaincodeServer{CCID: os.Getenv("CHAINCODE_ID"), Address: addr, CC: cc{}, TLSProps: tlsProps}
			err = srv.Start()
		}
	} else {
		err = shim.Start(cc{})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testcc:", err)
		os.Exit(1)
	}
}
