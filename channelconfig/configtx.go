package channelconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ConfigTx is a parsed configtx.yaml in Fabric's configtxgen schema. Paths
// (MSPDir, consenter certificates) are already absolute: relative ones were
// resolved against the folder holding the yaml file.
type ConfigTx struct {
	Organizations []*Organization            `yaml:"Organizations"`
	Capabilities  map[string]map[string]bool `yaml:"Capabilities"`
	Application   *Application               `yaml:"Application"`
	Orderer       *Orderer                   `yaml:"Orderer"`
	Channel       *Profile                   `yaml:"Channel"`
	Profiles      map[string]*Profile        `yaml:"Profiles"`
	Resources     map[string]any             `yaml:"Resources"`
	path          string
}

// Profile is one entry of Profiles (or the Channel defaults section).
type Profile struct {
	Consortium   string                 `yaml:"Consortium"`
	Consortiums  map[string]any         `yaml:"Consortiums"`
	Application  *Application           `yaml:"Application"`
	Orderer      *Orderer               `yaml:"Orderer"`
	Capabilities map[string]bool        `yaml:"Capabilities"`
	Policies     map[string]*PolicySpec `yaml:"Policies"`
}

// PolicySpec is a policy as written in configtx.yaml.
type PolicySpec struct {
	Type string `yaml:"Type"` // "Signature" or "ImplicitMeta"
	Rule string `yaml:"Rule"`
}

// Organization is an MSP-backed member of a channel.
type Organization struct {
	Name             string                 `yaml:"Name"`
	ID               string                 `yaml:"ID"`
	MSPDir           string                 `yaml:"MSPDir"`
	MSPType          string                 `yaml:"MSPType"`
	Policies         map[string]*PolicySpec `yaml:"Policies"`
	AnchorPeers      []*AnchorPeer          `yaml:"AnchorPeers"`
	OrdererEndpoints []string               `yaml:"OrdererEndpoints"`
	AdminPrincipal   string                 `yaml:"AdminPrincipal"`
	SkipAsForeign    bool                   `yaml:"SkipAsForeign"`
}

// AnchorPeer is a gossip anchor peer of an application organization.
type AnchorPeer struct {
	Host string `yaml:"Host"`
	Port int    `yaml:"Port"`
}

// Application is the application section of a channel.
type Application struct {
	Organizations []*Organization        `yaml:"Organizations"`
	Capabilities  map[string]bool        `yaml:"Capabilities"`
	Policies      map[string]*PolicySpec `yaml:"Policies"`
	ACLs          map[string]string      `yaml:"ACLs"`
	Resources     map[string]any         `yaml:"Resources"`
}

// Orderer is the ordering-service section of a channel.
type Orderer struct {
	OrdererType   string                 `yaml:"OrdererType"`
	Addresses     []string               `yaml:"Addresses"`
	BatchTimeout  Duration               `yaml:"BatchTimeout"`
	BatchSize     BatchSize              `yaml:"BatchSize"`
	EtcdRaft      *EtcdRaft              `yaml:"EtcdRaft"`
	Organizations []*Organization        `yaml:"Organizations"`
	MaxChannels   uint64                 `yaml:"MaxChannels"`
	Capabilities  map[string]bool        `yaml:"Capabilities"`
	Policies      map[string]*PolicySpec `yaml:"Policies"`
	Kafka         map[string]any         `yaml:"Kafka"`
}

// BatchSize bounds the blocks the orderer cuts. Byte sizes accept Fabric's
// units: "99 MB", "512 KB", "1 GB" (powers of 1024) or a plain integer.
type BatchSize struct {
	MaxMessageCount   uint32   `yaml:"MaxMessageCount"`
	AbsoluteMaxBytes  ByteSize `yaml:"AbsoluteMaxBytes"`
	PreferredMaxBytes ByteSize `yaml:"PreferredMaxBytes"`
}

// EtcdRaft is the etcdraft consensus section.
type EtcdRaft struct {
	Consenters []*Consenter `yaml:"Consenters"`
	Options    *RaftOptions `yaml:"Options"`
}

// Consenter is one Raft node; the certificate fields are file paths.
type Consenter struct {
	Host          string `yaml:"Host"`
	Port          uint32 `yaml:"Port"`
	ClientTLSCert string `yaml:"ClientTLSCert"`
	ServerTLSCert string `yaml:"ServerTLSCert"`
}

// RaftOptions are the etcdraft tuning options.
type RaftOptions struct {
	TickInterval         string   `yaml:"TickInterval"`
	ElectionTick         uint32   `yaml:"ElectionTick"`
	HeartbeatTick        uint32   `yaml:"HeartbeatTick"`
	MaxInflightBlocks    uint32   `yaml:"MaxInflightBlocks"`
	SnapshotIntervalSize ByteSize `yaml:"SnapshotIntervalSize"`
}

// Duration is a time.Duration written as "2s", "200ms".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as \"2s\"", n.Line)
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return fmt.Errorf("line %d: bad duration %q: %w", n.Line, n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a byte count written as an integer or with a K/M/G unit.
type ByteSize uint32

var byteSizeRe = regexp.MustCompile(`^([0-9]+)\s*(?i:([kmg])b?)?$`)

// ParseByteSize parses "99 MB", "512KB", "2 m", "1048576" (units are powers of 1024).
func ParseByteSize(s string) (uint32, error) {
	m := byteSizeRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("bad byte size %q (want e.g. \"99 MB\", \"512 KB\" or a number)", s)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad byte size %q: %w", s, err)
	}
	switch strings.ToLower(m[2]) {
	case "k":
		n <<= 10
	case "m":
		n <<= 20
	case "g":
		n <<= 30
	}
	if n > math.MaxUint32 {
		return 0, fmt.Errorf("byte size %q exceeds 4 GiB", s)
	}
	return uint32(n), nil
}

// UnmarshalYAML parses a byte size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a byte size such as \"99 MB\"", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = ByteSize(v)
	return nil
}

// LoadConfigTx reads a configtx.yaml. Unknown keys are errors (they are
// usually typos); relative MSPDir and certificate paths are made absolute
// against the yaml file's folder.
func LoadConfigTx(path string) (*ConfigTx, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configtx: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("configtx path %s: %w", path, err)
	}
	ctx, err := ParseConfigTx(raw, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("configtx %s: %w", path, err)
	}
	ctx.path = abs
	return ctx, nil
}

// ParseConfigTx parses configtx.yaml content; relative paths are resolved
// against dir.
func ParseConfigTx(raw []byte, dir string) (*ConfigTx, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	ctx := &ConfigTx{}
	if err := dec.Decode(ctx); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("file is empty")
		}
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	ctx.resolvePaths(dir)
	return ctx, nil
}

// ProfileNames lists the profiles, sorted.
func (c *ConfigTx) ProfileNames() []string {
	names := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Profile returns the named profile.
func (c *ConfigTx) Profile(name string) (*Profile, error) {
	p, ok := c.Profiles[name]
	if !ok || p == nil {
		return nil, fmt.Errorf("profile %q not found in %s (profiles: %s)", name, c.where(), strings.Join(c.ProfileNames(), ", "))
	}
	return p, nil
}

func (c *ConfigTx) where() string {
	if c.path == "" {
		return "configtx"
	}
	return c.path
}

func (c *ConfigTx) resolvePaths(dir string) {
	orgs := append([]*Organization(nil), c.Organizations...)
	addApp := func(a *Application) {
		if a != nil {
			orgs = append(orgs, a.Organizations...)
		}
	}
	var consenters []*Consenter
	addOrd := func(o *Orderer) {
		if o == nil {
			return
		}
		orgs = append(orgs, o.Organizations...)
		if o.EtcdRaft != nil {
			consenters = append(consenters, o.EtcdRaft.Consenters...)
		}
	}
	addApp(c.Application)
	addOrd(c.Orderer)
	if c.Channel != nil {
		addApp(c.Channel.Application)
		addOrd(c.Channel.Orderer)
	}
	for _, p := range c.Profiles {
		if p != nil {
			addApp(p.Application)
			addOrd(p.Orderer)
		}
	}
	for _, o := range orgs {
		if o != nil {
			o.MSPDir = resolve(dir, o.MSPDir)
		}
	}
	for _, cs := range consenters {
		if cs != nil {
			cs.ClientTLSCert = resolve(dir, cs.ClientTLSCert)
			cs.ServerTLSCert = resolve(dir, cs.ServerTLSCert)
		}
	}
}

func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
