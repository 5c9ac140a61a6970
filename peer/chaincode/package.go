package chaincode

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
)

// Package is an installed chaincode package: a tar.gz holding metadata.json
// ({"type", "label", "path"}) and code.tar.gz.
type Package struct {
	Type  string // "golang", "ccaas", ...
	Label string
	Path  string
	Code  []byte // code.tar.gz

	limits ccpackage.Limits // what reading Code may cost
}

// ParsePackage decodes an installed chaincode package within
// ccpackage.DefaultLimits.
func ParsePackage(raw []byte) (*Package, error) {
	return ParsePackageWithin(ccpackage.DefaultLimits, raw)
}

// ParsePackageWithin decodes an installed chaincode package within limits.
func ParsePackageWithin(limits ccpackage.Limits, raw []byte) (*Package, error) {
	meta, code, err := limits.Split(raw)
	if err != nil {
		return nil, fmt.Errorf("read chaincode package: %w", err)
	}
	var md struct {
		Type  string `json:"type"`
		Label string `json:"label"`
		Path  string `json:"path"`
	}
	if err := json.Unmarshal(meta, &md); err != nil {
		return nil, fmt.Errorf("decode chaincode package metadata.json: %w", err)
	}
	if md.Type == "" {
		return nil, errors.New("chaincode package metadata.json has no type")
	}
	return &Package{Type: strings.ToLower(md.Type), Label: md.Label, Path: md.Path, Code: code, limits: limits}, nil
}

// ConnectionInfo is connection.json of a chaincode-as-a-service package, as
// Fabric's ccaas builder defines it.
type ConnectionInfo struct {
	Address            string `json:"address"`
	DialTimeout        string `json:"dial_timeout"`
	TLSRequired        bool   `json:"tls_required"`
	ClientAuthRequired bool   `json:"client_auth_required"`
	ClientKey          string `json:"client_key"`  // PEM
	ClientCert         string `json:"client_cert"` // PEM
	RootCert           string `json:"root_cert"`   // PEM
	// Domain, when set, is the name the server's certificate must carry
	// (instead of the host of Address).
	Domain string `json:"domain"`
}

// Timeout returns the dial timeout (default 10s).
func (c *ConnectionInfo) Timeout() (time.Duration, error) {
	if c.DialTimeout == "" {
		return 10 * time.Second, nil
	}
	d, err := time.ParseDuration(c.DialTimeout)
	if err != nil {
		return 0, fmt.Errorf("connection.json dial_timeout %q: %w", c.DialTimeout, err)
	}
	return d, nil
}

// Connection reads connection.json from the package's code.tar.gz.
func (p *Package) Connection() (*ConnectionInfo, error) {
	files, err := p.limits.ReadFiles(p.Code, "connection.json")
	if err != nil {
		return nil, fmt.Errorf("read code.tar.gz: %w", err)
	}
	raw, ok := files["connection.json"]
	if !ok {
		return nil, errors.New("ccaas package has no connection.json in code.tar.gz")
	}
	ci := &ConnectionInfo{}
	if err := json.Unmarshal(raw, ci); err != nil {
		return nil, fmt.Errorf("decode connection.json: %w", err)
	}
	if ci.Address == "" {
		return nil, errors.New("connection.json has no address")
	}
	return ci, nil
}
