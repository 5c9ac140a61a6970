// Package gossip holds end-to-end tests of gossip and service discovery on a development network of two peers per organisation, run as real processes on loopback.
package gossip
