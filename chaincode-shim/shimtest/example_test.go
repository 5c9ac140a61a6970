package shimtest_test

import (
	"fmt"
	"strconv"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	shim "github.com/weft-ledger/weft/chaincode-shim"
	"github.com/weft-ledger/weft/chaincode-shim/shimtest"
)

// counter keeps one number per key: "add key n" adds n to it, "get key"
// returns it.
type counter struct{}

func (counter) Init(stub shim.ChaincodeStubInterface) *pb.Response { return shim.Success(nil) }

func (counter) Invoke(stub shim.ChaincodeStubInterface) *pb.Response {
	fn, args := stub.GetFunctionAndParameters()
	if len(args) == 0 {
		return shim.Error("expected a key")
	}
	cur, err := stub.GetState(args[0])
	if err != nil {
		return shim.Error(err.Error())
	}
	n, _ := strconv.Atoi(string(cur))
	switch fn {
	case "get":
		return shim.Success([]byte(strconv.Itoa(n)))
	case "add":
		d, err := strconv.Atoi(args[1])
		if err != nil || n+d < 0 {
			return shim.Error(fmt.Sprintf("cannot add %q to %d", args[1], n))
		}
		if err := stub.PutState(args[0], []byte(strconv.Itoa(n+d))); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	}
	return shim.Error("unknown function " + fn)
}

func ExampleNewMockStub() {
	stub := shimtest.NewMockStub("counter", counter{})
	args := func(s ...string) [][]byte {
		out := make([][]byte, len(s))
		for i, a := range s {
			out[i] = []byte(a)
		}
		return out
	}

	stub.MockInvoke("tx1", args("add", "apples", "5"))
	res := stub.MockInvoke("tx2", args("add", "apples", "-7")) // fails: the write is rolled back
	fmt.Println(res.Status, res.Message)
	res = stub.MockInvoke("tx3", args("get", "apples"))
	fmt.Println(res.Status, string(res.Payload))

	// History lists committed writes, newest first.
	stub.MockInvoke("tx4", args("add", "apples", "1"))
	stub.MockTransactionStart("inspect")
	it, _ := stub.GetHistoryForKey("apples")
	for it.HasNext() {
		m, _ := it.Next()
		fmt.Println(m.TxId, string(m.Value))
	}
	stub.MockTransactionEnd("inspect")
	// Output:
	// 500 cannot add "-7" to 5
	// 200 5
	// tx4 6
	// tx1 5
}
