package cli

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/protos"
)

// ordererConn is the CLI identity and a connection to the -o orderer.
type ordererConn struct {
	signer  protos.Signer
	address string
	conn    *grpc.ClientConn
}

func dialOrderer(env *Env, o *ordererFlags) (*ordererConn, error) {
	signer, err := identity(env)
	if err != nil {
		return nil, err
	}
	ep, err := o.endpoint()
	if err != nil {
		return nil, err
	}
	conn, err := client.Dial(ep)
	if err != nil {
		return nil, err
	}
	return &ordererConn{signer: signer, address: ep.Address, conn: conn}, nil
}

func (c *ordererConn) Close() { c.conn.Close() }

// seek opens a Deliver stream on channel from start to stop.
func (c *ordererConn) seek(ctx context.Context, channel string, start, stop *ab.SeekPosition, behavior ab.SeekInfo_SeekBehavior) (ab.AtomicBroadcast_DeliverClient, error) {
	req, err := protos.NewSignedEnvelope(cb.HeaderType_DELIVER_SEEK_INFO, channel, c.signer,
		&ab.SeekInfo{Start: start, Stop: stop, Behavior: behavior})
	if err != nil {
		return nil, err
	}
	stream, err := ab.NewAtomicBroadcastClient(c.conn).Deliver(ctx)
	if err != nil {
		return nil, fmt.Errorf("open deliver stream to orderer %s: %w", c.address, err)
	}
	if err := stream.Send(req); err != nil {
		return nil, fmt.Errorf("send seek request to orderer %s: %w", c.address, err)
	}
	return stream, nil
}

// nextBlock reads the next block of a Deliver stream; a status ends it with an error.
func (c *ordererConn) nextBlock(stream ab.AtomicBroadcast_DeliverClient, channel string) (*cb.Block, error) {
	resp, err := stream.Recv()
	if err != nil {
		return nil, fmt.Errorf("deliver from orderer %s: %w", c.address, err)
	}
	if b := resp.GetBlock(); b != nil {
		return b, nil
	}
	return nil, fmt.Errorf("orderer %s answered %s for channel %s (is the channel name right, is the orderer joined to it, and may %s read it?)",
		c.address, resp.GetStatus(), channel, identityName(c.signer))
}

// block fetches one block: newest, oldest or a number.
func (c *ordererConn) block(ctx context.Context, channel string, pos *ab.SeekPosition) (*cb.Block, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.seek(ctx, channel, pos, pos, ab.SeekInfo_FAIL_IF_NOT_READY)
	if err != nil {
		return nil, err
	}
	return c.nextBlock(stream, channel)
}

// configBlock fetches the channel's last config block, named by the newest
// block's metadata; it also returns the newest block's number.
func (c *ordererConn) configBlock(ctx context.Context, channel string) (cfg *cb.Block, newest uint64, err error) {
	last, err := c.block(ctx, channel, client.SeekNewest())
	if err != nil {
		return nil, 0, err
	}
	newest = last.GetHeader().GetNumber()
	idx, err := lastConfigIndex(last)
	if err != nil {
		return nil, 0, err
	}
	if idx == newest {
		return last, newest, nil
	}
	cfg, err = c.block(ctx, channel, client.SeekFrom(idx))
	return cfg, newest, err
}

// lastConfigIndex reads the number of the last config block from a block's
// SIGNATURES metadata (OrdererBlockMetadata), or the older LAST_CONFIG one.
func lastConfigIndex(b *cb.Block) (uint64, error) {
	num := b.GetHeader().GetNumber()
	if num == 0 {
		return 0, nil
	}
	md := b.GetMetadata().GetMetadata()
	if len(md) > int(cb.BlockMetadataIndex_SIGNATURES) && len(md[cb.BlockMetadataIndex_SIGNATURES]) > 0 {
		m := &cb.Metadata{}
		obm := &cb.OrdererBlockMetadata{}
		if proto.Unmarshal(md[cb.BlockMetadataIndex_SIGNATURES], m) == nil && proto.Unmarshal(m.Value, obm) == nil && obm.LastConfig != nil {
			return obm.LastConfig.Index, nil
		}
	}
	if len(md) > int(cb.BlockMetadataIndex_LAST_CONFIG) && len(md[cb.BlockMetadataIndex_LAST_CONFIG]) > 0 {
		m := &cb.Metadata{}
		lc := &cb.LastConfig{}
		if proto.Unmarshal(md[cb.BlockMetadataIndex_LAST_CONFIG], m) == nil && proto.Unmarshal(m.Value, lc) == nil {
			return lc.Index, nil
		}
	}
	return 0, fmt.Errorf("block %d carries no last-config index in its metadata", num)
}

func identityName(s protos.Signer) string {
	if id, ok := s.(fmt.Stringer); ok {
		return id.String()
	}
	return "this identity"
}

func runChannelFetch(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "channel fetch")
	var channel string
	aliasString(fs, &channel, "channel name (required)", "c", "channelID")
	fs.Bool("bestEffort", false, "accepted for Fabric compatibility; no effect on Weft")
	o := addOrdererFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || len(pos) > 2 {
		return fmt.Errorf("usage: weft channel fetch newest|oldest|config|NUMBER [OUTPUT.block] -c CHANNEL -o ORDERER [--tls --cafile FILE]")
	}
	if channel == "" {
		return fmt.Errorf("name the channel with -c CHANNEL")
	}
	target := pos[0]
	out := channel + "_" + target + ".block"
	if len(pos) == 2 {
		out = pos[1]
	}
	var seek *ab.SeekPosition
	switch target {
	case "newest", "config":
		seek = client.SeekNewest()
	case "oldest":
		seek = &ab.SeekPosition{Type: &ab.SeekPosition_Oldest{Oldest: &ab.SeekOldest{}}}
	default:
		n, err := strconv.ParseUint(target, 10, 64)
		if err != nil {
			return fmt.Errorf("fetch target %q is not newest, oldest, config or a block number", target)
		}
		seek = client.SeekFrom(n)
	}
	oc, err := dialOrderer(env, o)
	if err != nil {
		return err
	}
	defer oc.Close()
	var b *cb.Block
	if target == "config" {
		b, _, err = oc.configBlock(ctx, channel)
	} else {
		b, err = oc.block(ctx, channel, seek)
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, protos.Marshal(b), 0o644); err != nil {
		return fmt.Errorf("write block: %w", err)
	}
	fmt.Fprintf(env.Stdout, "Received block: %d\n", b.GetHeader().GetNumber())
	return nil
}

// signConfigTx adds signer's signature to the CONFIG_UPDATE envelope raw and
// re-wraps it in an envelope signed by signer, as Fabric's CLI does. channel,
// when set, must be the envelope's channel.
func signConfigTx(raw []byte, channel string, signer protos.Signer) (*cb.Envelope, error) {
	env := &cb.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, fmt.Errorf("not a common.Envelope: %w", err)
	}
	payload := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		return nil, fmt.Errorf("envelope payload: %w", err)
	}
	ch := &cb.ChannelHeader{}
	if err := proto.Unmarshal(payload.GetHeader().GetChannelHeader(), ch); err != nil || payload.GetHeader() == nil {
		return nil, fmt.Errorf("the envelope has no channel header; wrap the common.ConfigUpdate as payload.header.channel_header {channel_id, type: 2} and payload.data.config_update")
	}
	if cb.HeaderType(ch.Type) != cb.HeaderType_CONFIG_UPDATE {
		return nil, fmt.Errorf("the envelope is of type %s, not CONFIG_UPDATE (2)", cb.HeaderType(ch.Type))
	}
	if ch.ChannelId == "" {
		return nil, fmt.Errorf("the envelope's channel header names no channel")
	}
	if channel != "" && ch.ChannelId != channel {
		return nil, fmt.Errorf("the config update is for channel %s, not %s", ch.ChannelId, channel)
	}
	cue := &cb.ConfigUpdateEnvelope{}
	if err := proto.Unmarshal(payload.Data, cue); err != nil {
		return nil, fmt.Errorf("envelope data is not a ConfigUpdateEnvelope: %w", err)
	}
	upd := &cb.ConfigUpdate{}
	if err := proto.Unmarshal(cue.ConfigUpdate, upd); err != nil || len(cue.ConfigUpdate) == 0 {
		return nil, fmt.Errorf("the envelope holds no config update")
	}
	if upd.ChannelId != ch.ChannelId {
		return nil, fmt.Errorf("the config update is for channel %q but its envelope for %q", upd.ChannelId, ch.ChannelId)
	}
	if err := client.AddConfigSignatures(cue, signer); err != nil {
		return nil, err
	}
	return client.ConfigUpdateTx(ch.ChannelId, cue, signer)
}

func runChannelSignConfigTx(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "channel signconfigtx")
	var file string
	aliasString(fs, &file, "Configuration transaction file (a CONFIG_UPDATE common.Envelope) to sign in place (required)", "f", "file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if file == "" {
		return fmt.Errorf("name the config update envelope with -f FILE")
	}
	signer, err := identity(env)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	signed, err := signConfigTx(raw, "", signer)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := os.WriteFile(file, protos.Marshal(signed), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Signed the config update in %s as %s\n", file, identityName(signer))
	return nil
}

func runChannelUpdate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "channel update")
	var channel, file string
	aliasString(fs, &channel, "channel name (required)", "c", "channelID")
	aliasString(fs, &file, "Configuration transaction file (a CONFIG_UPDATE common.Envelope) to sign and submit (required)", "f", "file")
	o := addOrdererFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if channel == "" || file == "" {
		return fmt.Errorf("usage: weft channel update -c CHANNEL -f UPDATE.pb -o ORDERER [--tls --cafile FILE]")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	oc, err := dialOrderer(env, o)
	if err != nil {
		return err
	}
	defer oc.Close()
	signed, err := signConfigTx(raw, channel, oc.signer)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := client.Broadcast(ctx, oc.conn, signed); err != nil {
		return fmt.Errorf("channel %s update at orderer %s: %w", channel, oc.address, err)
	}
	fmt.Fprintln(env.Stdout, "Successfully submitted channel update")
	return nil
}

// consenterFlags are the flags of `weft channel consenter add|remove`.
type consenterFlags struct {
	orderer                *ordererFlags
	channel, host          string
	port                   uint
	clientCert, serverCert string
	timeout                time.Duration
}

func addConsenterFlags(fs *flag.FlagSet, add bool) *consenterFlags {
	c := &consenterFlags{orderer: addOrdererFlags(fs)}
	aliasString(fs, &c.channel, "channel name (required)", "c", "channelID")
	fs.StringVar(&c.host, "host", "", "the consenter's host, as in the channel's etcdraft Consenters (required)")
	fs.UintVar(&c.port, "port", 0, "the consenter's cluster port (required)")
	if add {
		fs.StringVar(&c.clientCert, "client-tls-cert", "", "PEM file of the new orderer's TLS client certificate (required)")
		fs.StringVar(&c.serverCert, "server-tls-cert", "", "PEM file of the new orderer's TLS server certificate (default: --client-tls-cert)")
	}
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "how long to wait for the config block that carries the change")
	return c
}

func (c *consenterFlags) check(add bool) error {
	if c.channel == "" || c.host == "" || c.port == 0 || c.port > 65535 {
		return fmt.Errorf("-c CHANNEL, --host and --port (1-65535) are required")
	}
	if add && c.clientCert == "" {
		return fmt.Errorf("--client-tls-cert is required: the new orderer's TLS certificate (e.g. .../orderers/orderer4.example.com/tls/server.crt)")
	}
	return nil
}

func (c *consenterFlags) addr() string { return net.JoinHostPort(c.host, strconv.Itoa(int(c.port))) }

func readCertPEM(flagName, path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	b, _ := pem.Decode(raw)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s %s holds no PEM certificate", flagName, path)
	}
	if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		return nil, fmt.Errorf("%s %s: %w", flagName, path, err)
	}
	return raw, nil
}

func consenterAddr(c *etcdraft.Consenter) string {
	return net.JoinHostPort(c.GetHost(), strconv.Itoa(int(c.GetPort())))
}

// editConsenters returns a copy of cfg whose etcdraft consenters are edit's result.
func editConsenters(cfg *cb.Config, edit func([]*etcdraft.Consenter) ([]*etcdraft.Consenter, error)) (*cb.Config, error) {
	updated := proto.Clone(cfg).(*cb.Config)
	og := updated.GetChannelGroup().GetGroups()[channelconfig.OrdererGroupKey]
	v := og.GetValues()["ConsensusType"]
	if v == nil {
		return nil, fmt.Errorf("the channel config has no /Channel/Orderer/ConsensusType value")
	}
	ct := &ab.ConsensusType{}
	if err := proto.Unmarshal(v.Value, ct); err != nil {
		return nil, fmt.Errorf("decode /Channel/Orderer/ConsensusType: %w", err)
	}
	if ct.Type != "etcdraft" {
		return nil, fmt.Errorf("the channel's consensus type is %q; consenters can be changed only for etcdraft", ct.Type)
	}
	md := &etcdraft.ConfigMetadata{}
	if err := proto.Unmarshal(ct.Metadata, md); err != nil {
		return nil, fmt.Errorf("decode the etcdraft metadata of /Channel/Orderer/ConsensusType: %w", err)
	}
	cs, err := edit(md.Consenters)
	if err != nil {
		return nil, err
	}
	md.Consenters = cs
	ct.Metadata = protos.Marshal(md)
	v.Value = protos.Marshal(ct)
	return updated, nil
}

func runConsenterAdd(ctx context.Context, env *Env, args []string) error {
	return runConsenterChange(ctx, env, args, true)
}

func runConsenterRemove(ctx context.Context, env *Env, args []string) error {
	return runConsenterChange(ctx, env, args, false)
}

func runConsenterChange(ctx context.Context, env *Env, args []string, add bool) error {
	verb := map[bool]string{true: "add", false: "remove"}[add]
	fs := newFlags(env, "channel consenter "+verb)
	c := addConsenterFlags(fs, add)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("weft channel consenter %s takes only flags (unexpected %q)", verb, fs.Args())
	}
	if err := c.check(add); err != nil {
		return err
	}
	var newConsenter *etcdraft.Consenter
	if add {
		clientPEM, err := readCertPEM("--client-tls-cert", c.clientCert)
		if err != nil {
			return err
		}
		serverPEM := clientPEM
		if c.serverCert != "" {
			if serverPEM, err = readCertPEM("--server-tls-cert", c.serverCert); err != nil {
				return err
			}
		}
		newConsenter = &etcdraft.Consenter{Host: c.host, Port: uint32(c.port), ClientTlsCert: clientPEM, ServerTlsCert: serverPEM}
	}

	oc, err := dialOrderer(env, c.orderer)
	if err != nil {
		return err
	}
	defer oc.Close()
	cfgBlock, newest, err := oc.configBlock(ctx, c.channel)
	if err != nil {
		return err
	}
	cfg, chID, err := channelconfig.ConfigFromBlock(cfgBlock)
	if err != nil {
		return fmt.Errorf("config block %d of channel %s: %w", cfgBlock.GetHeader().GetNumber(), c.channel, err)
	}
	if chID != c.channel {
		return fmt.Errorf("orderer %s returned a config block of channel %q for %s", oc.address, chID, c.channel)
	}
	addr := c.addr()
	updated, err := editConsenters(cfg, func(cs []*etcdraft.Consenter) ([]*etcdraft.Consenter, error) {
		var out []*etcdraft.Consenter
		found := false
		for _, x := range cs {
			if consenterAddr(x) == addr {
				found = true
				if !add {
					continue
				}
			}
			out = append(out, x)
		}
		switch {
		case add && found:
			return nil, fmt.Errorf("%s is already a consenter of channel %s (consenters: %s)", addr, c.channel, consenterList(cs))
		case !add && !found:
			return nil, fmt.Errorf("%s is not a consenter of channel %s (consenters: %s)", addr, c.channel, consenterList(cs))
		case add:
			out = append(out, newConsenter)
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	update, err := client.ComputeUpdate(c.channel, cfg, updated)
	if err != nil {
		return err
	}
	tx, err := client.NewConfigUpdateTx(c.channel, update, oc.signer)
	if err != nil {
		return err
	}
	if err := client.Broadcast(ctx, oc.conn, tx); err != nil {
		return fmt.Errorf("%s consenter %s on channel %s at orderer %s: %w", verb, addr, c.channel, oc.address, err)
	}
	fmt.Fprintf(env.Stdout, "Submitted the config update to %s consenter %s on channel %s\n", verb, addr, c.channel)

	// Wait for the config block that carries the change.
	wctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	stream, err := oc.seek(wctx, c.channel, client.SeekFrom(newest+1), client.SeekFrom(^uint64(0)), ab.SeekInfo_BLOCK_UNTIL_READY)
	if err != nil {
		return err
	}
	for {
		b, err := oc.nextBlock(stream, c.channel)
		if err != nil {
			if wctx.Err() != nil {
				return fmt.Errorf("no config block carrying the change within %s (the orderer accepted it; check again with weft channel fetch config)", c.timeout)
			}
			return err
		}
		bcfg, _, err := channelconfig.ConfigFromBlock(b)
		if err != nil {
			continue // not a config block
		}
		bundle, err := channelconfig.NewBundle(c.channel, bcfg)
		if err != nil {
			return fmt.Errorf("config block %d: %w", b.GetHeader().GetNumber(), err)
		}
		cs := bundle.Orderer().Consenters
		has := false
		for _, x := range cs {
			has = has || consenterAddr(x) == addr
		}
		if has != add {
			continue // another config update came first
		}
		fmt.Fprintf(env.Stdout, "Config block %d: consenters of channel %s are now %s\n", b.GetHeader().GetNumber(), c.channel, consenterList(cs))
		listed := false
		for _, e := range bundle.Orderer().Endpoints {
			listed = listed || e == addr
		}
		switch {
		case add:
			fmt.Fprintf(env.Stdout, "Next: join the new orderer with weft osnadmin channel join --channelID %s --config-block BLOCK, where BLOCK is block %d (weft channel fetch %d), then add %s to its organization's orderer endpoints once it is active.\n",
				c.channel, b.GetHeader().GetNumber(), b.GetHeader().GetNumber(), addr)
		case listed:
			fmt.Fprintf(env.Stdout, "Note: %s is still listed among the channel's orderer endpoints; remove it there with a config update so that clients stop using it.\n", addr)
		}
		return nil
	}
}

func consenterList(cs []*etcdraft.Consenter) string {
	if len(cs) == 0 {
		return "(none)"
	}
	s := ""
	for i, x := range cs {
		if i > 0 {
			s += ", "
		}
		s += consenterAddr(x)
	}
	return s
}
