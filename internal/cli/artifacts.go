package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

func runCryptoGenerate(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "crypto generate")
	config := fs.String("config", "crypto-config.yaml", "cryptogen configuration file")
	output := fs.String("output", "crypto-config", "folder to write the material into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cc, err := msp.LoadCryptoConfig(*config)
	if err != nil {
		return err
	}
	if err := msp.GenerateCrypto(cc, *output); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote crypto material to %s\n", *output)
	return nil
}

func runGenesis(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "genesis")
	config := fs.String("config", "configtx.yaml", "configtxgen configuration file")
	profile := fs.String("profile", "", "profile of configtx.yaml to use (required)")
	channel := fs.String("channel", "", "channel name (required)")
	output := fs.String("output", "", "file to write the genesis block to (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *profile == "" || *channel == "" || *output == "" {
		return fmt.Errorf("--profile, --channel and --output are required")
	}
	ctx, err := channelconfig.LoadConfigTx(*config)
	if err != nil {
		return err
	}
	block, err := channelconfig.GenesisBlock(ctx, *profile, *channel)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*output, protos.Marshal(block), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote genesis block of channel %s to %s\n", *channel, *output)
	return nil
}
