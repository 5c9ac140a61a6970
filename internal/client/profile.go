package client

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// ConnectionProfile is the part of a Fabric common connection profile
// (connection-org1.json) that names peers and how to reach them.
type ConnectionProfile struct {
	Name   string `json:"name"`
	Client struct {
		Organization string `json:"organization"`
	} `json:"client"`
	Organizations map[string]struct {
		MSPID string   `json:"mspid"`
		Peers []string `json:"peers"`
	} `json:"organizations"`
	Peers map[string]struct {
		URL        string `json:"url"`
		TLSCACerts struct {
			PEM  string `json:"pem"`
			Path string `json:"path"`
		} `json:"tlsCACerts"`
		GRPCOptions map[string]any `json:"grpcOptions"`
	} `json:"peers"`
}

// LoadConnectionProfile reads a JSON connection profile.
func LoadConnectionProfile(path string) (*ConnectionProfile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := &ConnectionProfile{}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, fmt.Errorf("connection profile %s is not JSON of the common connection profile form: %w", path, err)
	}
	if len(p.Peers) == 0 {
		return nil, fmt.Errorf("connection profile %s names no peers", path)
	}
	return p, nil
}

// PeerEndpoints returns the profile's peers, sorted by name.
func (p *ConnectionProfile) PeerEndpoints() ([]Endpoint, error) {
	names := make([]string, 0, len(p.Peers))
	for n := range p.Peers {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Endpoint
	for _, n := range names {
		pe := p.Peers[n]
		addr, tls := strings.CutPrefix(pe.URL, "grpcs://")
		if !tls {
			addr = strings.TrimPrefix(pe.URL, "grpc://")
		}
		e := Endpoint{Address: addr, TLS: tls, RootCertPEM: []byte(pe.TLSCACerts.PEM), RootCertFile: pe.TLSCACerts.Path}
		if o, ok := pe.GRPCOptions["ssl-target-name-override"].(string); ok {
			e.HostOverride = o
		}
		out = append(out, e)
	}
	return out, nil
}
