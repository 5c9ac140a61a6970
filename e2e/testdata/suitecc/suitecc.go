package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

func main() {
	if err := serve(suite{}); err != nil {
		fmt.Fprintln(os.Stderr, "suitecc:", err)
		os.Exit(1)
	}
}

// suite is the chaincode; it keeps no state between invocations.
type suite struct{}

// page is the answer of the range and composite-key queries.
type page struct {
	Keys     []string `json:"keys"`
	Values   []string `json:"values"`
	Fetched  int32    `json:"fetched"`
	Bookmark string   `json:"bookmark"`
}

// modification is one entry of a key's history.
type modification struct {
	TxID         string `json:"txId"`
	Value        string `json:"value"`
	IsDelete     bool   `json:"isDelete"`
	HasTimestamp bool   `json:"hasTimestamp"`
}

// txInfo is what the stub tells about the invocation.
type txInfo struct {
	TxID         string   `json:"txId"`
	Channel      string   `json:"channel"`
	MSPID        string   `json:"mspId"`
	HasTimestamp bool     `json:"hasTimestamp"`
	Function     string   `json:"function"`
	Params       []string `json:"params"`
}

func (suite) Init(stub) *pb.Response { return success(nil) }

func (suite) Invoke(s stub) *pb.Response {
	fn, args := s.GetFunctionAndParameters()
	h, ok := functions[fn]
	if !ok {
		return failure(fmt.Sprintf("suitecc has no function %q; see the package documentation for the list", fn))
	}
	if len(args) < h.minArgs {
		return failure(fmt.Sprintf("suitecc %s needs at least %d argument(s), got %d", fn, h.minArgs, len(args)))
	}
	payload, err := h.run(s, args)
	if err != nil {
		return failure(err.Error())
	}
	return success(payload)
}

type function struct {
	minArgs int
	run     func(s stub, args []string) ([]byte, error)
}

var functions = map[string]function{
	"put":         {2, put},
	"get":         {1, func(s stub, a []string) ([]byte, error) { return s.GetState(a[0]) }},
	"del":         {1, func(s stub, a []string) ([]byte, error) { return nil, s.DelState(a[0]) }},
	"AssetExists": {1, assetExists},
	"range":       {2, rangeQuery},
	"cput":        {3, compositePut},
	"cquery":      {3, compositeQuery},
	"history":     {1, history},
	"event":       {2, func(s stub, a []string) ([]byte, error) { return nil, s.SetEvent(a[0], []byte(a[1])) }},
	"transient":   {1, transient},
	"setep":       {2, setEndorsementPolicy},
	"getep":       {1, getEndorsementPolicy},
	"call":        {2, call},
	"fail":        {1, func(_ stub, a []string) ([]byte, error) { return nil, fmt.Errorf("%s", a[0]) }},
	"txinfo":      {0, info},
	"shim":        {0, func(stub, []string) ([]byte, error) { return []byte(shimName), nil }},
}

func put(s stub, args []string) ([]byte, error) {
	if len(args)%2 != 0 {
		return nil, fmt.Errorf("put takes key/value pairs, got %d arguments", len(args))
	}
	for i := 0; i < len(args); i += 2 {
		if err := s.PutState(args[i], []byte(args[i+1])); err != nil {
			return nil, fmt.Errorf("put %q: %w", args[i], err)
		}
	}
	return nil, nil
}

func assetExists(s stub, args []string) ([]byte, error) {
	v, err := s.GetState(args[0])
	if err != nil {
		return nil, err
	}
	return []byte(strconv.FormatBool(v != nil)), nil
}

// pageArgs parses the optional pageSize and bookmark; paged is false when
// pageSize is absent or 0.
func pageArgs(args []string) (pageSize int32, bookmark string, paged bool, err error) {
	if len(args) == 0 {
		return 0, "", false, nil
	}
	n, err := strconv.ParseInt(args[0], 10, 32)
	if err != nil {
		return 0, "", false, fmt.Errorf("pageSize %q is not an integer", args[0])
	}
	if len(args) > 1 {
		bookmark = args[1]
	}
	return int32(n), bookmark, n != 0, nil
}

func rangeQuery(s stub, args []string) ([]byte, error) {
	size, bookmark, paged, err := pageArgs(args[2:])
	if err != nil {
		return nil, err
	}
	if !paged {
		it, err := s.GetStateByRange(args[0], args[1])
		if err != nil {
			return nil, err
		}
		return drain(s, it, nil, false)
	}
	it, md, err := s.GetStateByRangeWithPagination(args[0], args[1], size, bookmark)
	if err != nil {
		return nil, err
	}
	return drain(s, it, md, false)
}

func compositePut(s stub, args []string) ([]byte, error) {
	key, err := s.CreateCompositeKey(args[0], args[2:])
	if err != nil {
		return nil, err
	}
	return nil, s.PutState(key, []byte(args[1]))
}

func compositeQuery(s stub, args []string) ([]byte, error) {
	size, bookmark, paged, err := pageArgs(args[1:3])
	if err != nil {
		return nil, err
	}
	attrs := args[3:]
	if !paged {
		it, err := s.GetStateByPartialCompositeKey(args[0], attrs)
		if err != nil {
			return nil, err
		}
		return drain(s, it, nil, true)
	}
	it, md, err := s.GetStateByPartialCompositeKeyWithPagination(args[0], attrs, size, bookmark)
	if err != nil {
		return nil, err
	}
	return drain(s, it, md, true)
}

// drain reads a query's results into a page; composite keys are reported as
// their attributes joined by "/".
func drain(s stub, it stateIterator, md *pb.QueryResponseMetadata, composite bool) ([]byte, error) {
	defer it.Close()
	p := page{Keys: []string{}, Values: []string{}}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, err
		}
		key := kv.Key
		if composite {
			_, attrs, err := s.SplitCompositeKey(kv.Key)
			if err != nil {
				return nil, err
			}
			key = strings.Join(attrs, "/")
		}
		p.Keys = append(p.Keys, key)
		p.Values = append(p.Values, string(kv.Value))
	}
	p.Fetched = int32(len(p.Keys))
	if md != nil {
		p.Fetched, p.Bookmark = md.FetchedRecordsCount, md.Bookmark
	}
	return json.Marshal(p)
}

func history(s stub, args []string) ([]byte, error) {
	it, err := s.GetHistoryForKey(args[0])
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := []modification{}
	for it.HasNext() {
		m, err := it.Next()
		if err != nil {
			return nil, err
		}
		out = append(out, modification{TxID: m.TxId, Value: string(m.Value), IsDelete: m.IsDelete, HasTimestamp: m.Timestamp != nil})
	}
	return json.Marshal(out)
}

func transient(s stub, args []string) ([]byte, error) {
	tm, err := s.GetTransient()
	if err != nil {
		return nil, err
	}
	v, ok := tm[args[0]]
	if !ok {
		return nil, fmt.Errorf("the transient map has no entry %q; pass it with the proposal's transient data", args[0])
	}
	if err := s.PutState(args[0], v); err != nil {
		return nil, err
	}
	return v, nil
}

// setEndorsementPolicy makes the key's endorsement policy "a signature of a
// peer of any of these MSPs", built as a SignaturePolicyEnvelope by hand so
// that both shims use the same bytes.
func setEndorsementPolicy(s stub, args []string) ([]byte, error) {
	env := &cb.SignaturePolicyEnvelope{Version: 0}
	var rules []*cb.SignaturePolicy
	for i, mspID := range args[1:] {
		role, err := proto.Marshal(&mspproto.MSPRole{MspIdentifier: mspID, Role: mspproto.MSPRole_PEER})
		if err != nil {
			return nil, err
		}
		env.Identities = append(env.Identities, &mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_ROLE, Principal: role})
		rules = append(rules, &cb.SignaturePolicy{Type: &cb.SignaturePolicy_SignedBy{SignedBy: int32(i)}})
	}
	env.Rule = &cb.SignaturePolicy{Type: &cb.SignaturePolicy_NOutOf_{NOutOf: &cb.SignaturePolicy_NOutOf{N: 1, Rules: rules}}}
	raw, err := proto.Marshal(env)
	if err != nil {
		return nil, err
	}
	return nil, s.SetStateValidationParameter(args[0], raw)
}

// getEndorsementPolicy answers the MSP IDs named by the key's key-level policy.
func getEndorsementPolicy(s stub, args []string) ([]byte, error) {
	raw, err := s.GetStateValidationParameter(args[0])
	if err != nil {
		return nil, err
	}
	msps := []string{}
	if len(raw) > 0 {
		env := &cb.SignaturePolicyEnvelope{}
		if err := proto.Unmarshal(raw, env); err != nil {
			return nil, fmt.Errorf("key-level policy of %q is not a SignaturePolicyEnvelope: %w", args[0], err)
		}
		for _, id := range env.Identities {
			role := &mspproto.MSPRole{}
			if err := proto.Unmarshal(id.Principal, role); err != nil {
				return nil, fmt.Errorf("key-level policy of %q holds a principal that is not an MSPRole: %w", args[0], err)
			}
			msps = append(msps, role.MspIdentifier)
		}
	}
	return json.Marshal(msps)
}

func call(s stub, args []string) ([]byte, error) {
	callArgs := make([][]byte, 0, len(args)-1)
	for _, a := range args[1:] {
		callArgs = append(callArgs, []byte(a))
	}
	resp := s.InvokeChaincode(args[0], callArgs, "")
	if resp.Status >= 400 {
		return nil, fmt.Errorf("calling %s of chaincode %s failed with status %d: %s", args[1], args[0], resp.Status, resp.Message)
	}
	last, err := json.Marshal(map[string]string{"chaincode": args[0], "function": args[1], "payload": string(resp.Payload)})
	if err != nil {
		return nil, err
	}
	if err := s.PutState("lastcall", last); err != nil {
		return nil, err
	}
	return resp.Payload, nil
}

func info(s stub, _ []string) ([]byte, error) {
	fn, params := s.GetFunctionAndParameters()
	creator, err := s.GetCreator()
	if err != nil {
		return nil, err
	}
	id := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(creator, id); err != nil {
		return nil, fmt.Errorf("creator is not a SerializedIdentity: %w", err)
	}
	ts, err := s.GetTxTimestamp()
	if err != nil {
		return nil, err
	}
	if params == nil {
		params = []string{}
	}
	return json.Marshal(txInfo{TxID: s.GetTxID(), Channel: s.GetChannelID(), MSPID: id.Mspid, HasTimestamp: ts != nil && ts.Seconds > 0, Function: fn, Params: params})
}
