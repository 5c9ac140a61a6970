// Package sampleconfig holds Weft's default configuration files — core.yaml,
// orderer.yaml, restgateway.yaml, configtx.yaml and crypto-config.yaml — and
// embeds them so that `weft up` can lay out a development network without the
// source tree.
package sampleconfig

import "embed"

// Files are the YAML files of this folder.
//
//go:embed *.yaml
var Files embed.FS
