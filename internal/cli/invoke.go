package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/weft-ledger/weft/internal/client"
)

// ctorArgs parses Fabric's -c '{"function":"f","Args":["a"]}' or '{"Args":["f","a"]}'.
func ctorArgs(raw string) ([][]byte, error) {
	var c struct {
		Function string   `json:"function"`
		Args     []string `json:"Args"`
	}
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, fmt.Errorf("-c must be JSON like {\"function\":\"ReadAsset\",\"Args\":[\"asset1\"]}: %w", err)
	}
	var out [][]byte
	if c.Function != "" {
		out = append(out, []byte(c.Function))
	}
	for _, a := range c.Args {
		out = append(out, []byte(a))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-c names no function")
	}
	return out, nil
}

// transientMap parses Fabric's --transient: a JSON object whose values are
// base64 (e.g. {"asset_properties":"eyJvYmplY3RUeXBlIjoi..."}).
func transientMap(raw string) (map[string][]byte, error) {
	if raw == "" {
		return nil, nil
	}
	var m map[string][]byte
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("--transient must be a JSON object of base64 values, e.g. {\"secret\":\"aGVsbG8=\"}: %w", err)
	}
	return m, nil
}

func runCCInvoke(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode invoke")
	c := addConnFlags(fset)
	cf := addCCFlags(fset, true)
	var isInit bool
	var transient string
	fset.BoolVar(&isInit, "isInit", false, "Is this invocation for init (useful for chaincode definitions with --init-required)")
	fset.BoolVar(&isInit, "I", false, "short for --isInit")
	fset.StringVar(&transient, "transient", "", "Transient map of arguments in JSON encoding (values in base64)")
	w := addWaitFlags(fset, false)
	if err := fset.Parse(args); err != nil {
		return err
	}
	inv, err := cf.invocation(transient, isInit)
	if err != nil {
		return err
	}
	oe, peers, err := targets(env, c.orderer, c.peers)
	if err != nil {
		return err
	}
	res, err := submit(ctx, env, inv, peers, oe, *w)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Chaincode invoke successful. result: status:200 payload:%q txid:%s\n", res.Payload, res.TxID)
	return nil
}

func runCCQuery(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode query")
	c := addConnFlags(fset)
	cf := addCCFlags(fset, true)
	var raw, hex bool
	var transient string
	fset.BoolVar(&raw, "raw", false, "If true, output the query value as raw bytes, otherwise format as a printable string")
	fset.BoolVar(&raw, "r", false, "short for --raw")
	fset.BoolVar(&hex, "hex", false, "If true, output the query value byte array in hexadecimal. Incompatible with --raw")
	fset.BoolVar(&hex, "x", false, "short for --hex")
	fset.StringVar(&transient, "transient", "", "Transient map of arguments in JSON encoding (values in base64)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if raw && hex {
		return fmt.Errorf("options --raw (-r) and --hex (-x) are not compatible")
	}
	inv, err := cf.invocation(transient, false)
	if err != nil {
		return err
	}
	signer, peers, err := signerAndPeers(env, c.peers)
	if err != nil {
		return err
	}
	out, err := queryEndpoint(ctx, signer, peers[0], inv)
	if err != nil {
		return err
	}
	switch {
	case raw:
		_, err = env.Stdout.Write(out)
	case hex:
		_, err = fmt.Fprintf(env.Stdout, "%x\n", out)
	default:
		_, err = fmt.Fprintln(env.Stdout, string(out))
	}
	return err
}

// invocation is the chaincode call named by -C, -n and -c, with the
// --transient map (JSON) and --isInit.
func (cf *ccFlags) invocation(transient string, isInit bool) (client.Invocation, error) {
	args, err := ctorArgs(cf.ctor)
	if err != nil {
		return client.Invocation{}, err
	}
	tm, err := transientMap(transient)
	if err != nil {
		return client.Invocation{}, err
	}
	return client.Invocation{Channel: cf.channel, Chaincode: cf.name, Args: args, Transient: tm, IsInit: isInit}, nil
}
