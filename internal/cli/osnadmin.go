package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/weft-ledger/weft/internal/client"
)

// osnFlags are osnadmin's flags.
type osnFlags struct {
	address, caFile, clientCert, clientKey, channel string
}

func addOSNFlags(fs *flag.FlagSet) *osnFlags {
	o := &osnFlags{}
	aliasString(fs, &o.address, "orderer admin endpoint host:port", "o", "orderer-address")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM file of the orderer admin endpoint's TLS CA")
	fs.StringVar(&o.clientCert, "client-cert", "", "PEM TLS client certificate for mutual TLS")
	fs.StringVar(&o.clientKey, "client-key", "", "PEM TLS client key for mutual TLS")
	aliasString(fs, &o.channel, "channel name", "channelID", "c")
	return o
}

// parse parses args with fs (which holds o's flags) and returns the admin client.
func (o *osnFlags) parse(fs *flag.FlagSet, args []string) (client.OSNAdmin, error) {
	if err := fs.Parse(args); err != nil {
		return client.OSNAdmin{}, err
	}
	return o.admin()
}

func (o *osnFlags) admin() (client.OSNAdmin, error) {
	if o.address == "" {
		return client.OSNAdmin{}, fmt.Errorf("name the orderer's admin endpoint with -o host:port")
	}
	return client.OSNAdmin{Endpoint: client.Endpoint{
		Address: o.address, TLS: o.caFile != "", RootCertFile: o.caFile,
		ClientCertFile: o.clientCert, ClientKeyFile: o.clientKey,
	}}, nil
}

func printJSON(env *Env, v any) error {
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, string(b))
	return nil
}

func runOSNJoin(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "osnadmin channel join")
	o := addOSNFlags(fs)
	var block string
	aliasString(fs, &block, "the channel's genesis block, or its latest config block to join a running channel (required)", "config-block", "b")
	a, err := o.parse(fs, args)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(block)
	if err != nil {
		return fmt.Errorf("read config block: %w", err)
	}
	info, err := a.Join(ctx, raw)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "Status: 201")
	return printJSON(env, info)
}

func runOSNList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "osnadmin channel list")
	o := addOSNFlags(fs)
	a, err := o.parse(fs, args)
	if err != nil {
		return err
	}
	if o.channel != "" {
		info, err := a.Info(ctx, o.channel)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, "Status: 200")
		return printJSON(env, info)
	}
	list, err := a.List(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "Status: 200")
	return printJSON(env, map[string]any{"systemChannel": nil, "channels": list})
}

func runOSNRemove(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "osnadmin channel remove")
	o := addOSNFlags(fs)
	a, err := o.parse(fs, args)
	if err != nil {
		return err
	}
	if o.channel == "" {
		return fmt.Errorf("name the channel with --channelID")
	}
	if err := a.Remove(ctx, o.channel); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "Status: 204")
	return nil
}
