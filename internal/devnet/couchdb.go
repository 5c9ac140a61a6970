package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/weft-ledger/weft/sampleconfig"
)

// CouchDBEnv is the environment variable `weft up` reads when --couchdb is
// not given: the same comma-separated list of CouchDB URLs.
const CouchDBEnv = "WEFT_COUCHDB"

// ParseCouchDBList splits a --couchdb value ("url" or "url1,url2") into
// URLs, dropping blanks.
func ParseCouchDBList(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// CheckCouchDB checks a list of CouchDB URLs for a network of peers peers
// (in all): one shared by every peer, or one per peer in PeerNodes order;
// each an http(s) URL (credentials may be given in it) or host:port.
func CheckCouchDB(urls []string, peers int) error {
	if len(urls) > 1 && len(urls) != peers {
		return fmt.Errorf("%d CouchDB URLs for %d peers: give one, which every peer shares with a database prefix of its own, or one per peer in order%s",
			len(urls), peers, peerOrder(peers))
	}
	for _, u := range urls {
		if _, err := parseCouchURL(u); err != nil {
			return err
		}
	}
	return nil
}

// peerOrder lists, for a message, the short names of a network's peers in
// PeerNodes order (" (peer0.org1, peer0.org2)"), or "" for a count no
// network has.
func peerOrder(peers int) string {
	orgs := len(Config{}.Orgs())
	if peers%orgs != 0 || CheckPeers(peers/orgs) != nil {
		return ""
	}
	var names []string
	for _, o := range (Config{Peers: peers / orgs}).PeerNodes() {
		names = append(names, strings.TrimSuffix(o.Peer, ".example.com"))
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// couchTarget is where one peer keeps its state in CouchDB.
type couchTarget struct {
	url                string // scheme://host:port, without credentials
	username, password string
	prefix             string // database name prefix, e.g. peer0org1_
}

// parseCouchURL splits a CouchDB URL into the address and credentials.
func parseCouchURL(raw string) (couchTarget, error) {
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return couchTarget{}, fmt.Errorf("CouchDB %q is not an http(s) URL such as http://admin:adminpw@127.0.0.1:5984, or host:port", redact(raw))
	}
	t := couchTarget{url: u.Scheme + "://" + u.Host}
	if u.User != nil {
		t.username = u.User.Username()
		t.password, _ = u.User.Password()
	}
	return t, nil
}

// redact hides the password of a URL, for messages.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// peerPrefix is a peer's database prefix on a shared server:
// peer0.org1.example.com → peer0org1_.
func peerPrefix(o Org) string {
	host := strings.TrimSuffix(o.Peer, ".example.com")
	return strings.ToLower(strings.ReplaceAll(host, ".", "")) + "_"
}

// couchTargets returns where each peer (in PeerNodes order) keeps its state, or
// nil when cfg.CouchDB is empty. Every peer gets a database prefix of its
// own, after cfg.DatabasePrefix, even with a server of its own: the prefix
// is what a fresh network clears (dropStaleDatabases).
func (c Config) couchTargets() ([]couchTarget, error) {
	if len(c.CouchDB) == 0 {
		return nil, nil
	}
	orgs := c.PeerNodes()
	if err := CheckCouchDB(c.CouchDB, len(orgs)); err != nil {
		return nil, err
	}
	out := make([]couchTarget, len(orgs))
	for i, o := range orgs {
		raw := c.CouchDB[0]
		if len(c.CouchDB) > 1 {
			raw = c.CouchDB[i]
		}
		t, _ := parseCouchURL(raw)
		t.prefix = c.DatabasePrefix + peerPrefix(o)
		out[i] = t
	}
	return out, nil
}

// PeerConfigDir is the folder of a peer's own core.yaml (its
// FABRIC_CFG_PATH): sampleconfig's, with the ledger section weft up
// writes; addresses, paths and TLS come from the environment the network
// starts the peer with.
func (c Config) PeerConfigDir(o Org) string { return c.Path("config", o.Peer) }

// PeerState says where a peer of the network keeps its world state.
type PeerState struct {
	Peer     string
	Database string // "goleveldb" or "CouchDB", as ledger.state.stateDatabase
	Address  string // the CouchDB server (no credentials); "" on goleveldb
	Prefix   string // its database name prefix on CouchDB
}

// PeerStates reads each peer's core.yaml, in PeerNodes order.
func (c Config) PeerStates() ([]PeerState, error) {
	var out []PeerState
	for _, o := range c.PeerNodes() {
		raw, err := os.ReadFile(c.PeerConfigDir(o) + "/core.yaml")
		if err != nil {
			return nil, err
		}
		var doc struct {
			Ledger struct {
				State struct {
					StateDatabase string `yaml:"stateDatabase"`
					CouchDBConfig struct {
						Address string `yaml:"couchDBAddress"`
						Prefix  string `yaml:"databasePrefix"`
					} `yaml:"couchDBConfig"`
				} `yaml:"state"`
			} `yaml:"ledger"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("%s/core.yaml: %w", c.PeerConfigDir(o), err)
		}
		s := PeerState{Peer: o.Peer, Database: doc.Ledger.State.StateDatabase}
		if s.Database == "" {
			s.Database = "goleveldb"
		}
		if s.Database == "CouchDB" {
			s.Address, s.Prefix = doc.Ledger.State.CouchDBConfig.Address, doc.Ledger.State.CouchDBConfig.Prefix
		}
		out = append(out, s)
	}
	return out, nil
}

// writePeerConfigs gives every peer its own core.yaml (created from the
// network's config/core.yaml, or sampleconfig's for a folder without one)
// and, when cfg.CouchDB is set, points its ledger section at its CouchDB.
// Without cfg.CouchDB a peer keeps the state database its core.yaml names,
// so a restart without --couchdb stays where the network was.
func writePeerConfigs(cfg Config) error {
	targets, err := cfg.couchTargets()
	if err != nil {
		return err
	}
	for i, o := range cfg.PeerNodes() {
		dir := cfg.PeerConfigDir(o)
		path := dir + "/core.yaml"
		raw, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			if raw, err = os.ReadFile(cfg.Path("config", "core.yaml")); errors.Is(err, os.ErrNotExist) {
				raw, err = sampleconfig.Files.ReadFile("core.yaml")
			}
		}
		if err != nil {
			return err
		}
		if targets != nil {
			t := targets[i]
			if raw, err = setYAML(raw, map[string]string{
				"ledger.state.stateDatabase":                "CouchDB",
				"ledger.state.couchDBConfig.couchDBAddress": t.url,
				"ledger.state.couchDBConfig.username":       t.username,
				"ledger.state.couchDBConfig.password":       t.password,
				"ledger.state.couchDBConfig.databasePrefix": t.prefix,
			}); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		// 0600: it may hold the CouchDB password.
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// setYAML sets scalar values (by dotted path, creating missing mappings) in
// a YAML document, keeping its comments.
func setYAML(raw []byte, values map[string]string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a YAML mapping")
	}
	for path, val := range values {
		node := doc.Content[0]
		keys := strings.Split(path, ".")
		for j, k := range keys {
			var next *yaml.Node
			for m := 0; m+1 < len(node.Content); m += 2 {
				if node.Content[m].Value == k {
					next = node.Content[m+1]
					break
				}
			}
			if next == nil {
				next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				if j == len(keys)-1 {
					next = &yaml.Node{Kind: yaml.ScalarNode}
				}
				node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, next)
			}
			if j < len(keys)-1 && next.Kind != yaml.MappingNode {
				if next.Tag != "!!null" {
					return nil, fmt.Errorf("%s is not a mapping", strings.Join(keys[:j+1], "."))
				}
				next.Kind, next.Tag, next.Value = yaml.MappingNode, "!!map", ""
			}
			node = next
		}
		node.Kind, node.Style, node.Value = yaml.ScalarNode, 0, val
		node.Tag = "!!str"
		if val == "" {
			node.Tag = "!!null"
		}
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// couchClient talks to CouchDB for the network itself: whether it
// answers, and clearing what a removed network left behind.
var couchClient = &http.Client{Timeout: 10 * time.Second}

func couchRequest(ctx context.Context, t couchTarget, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.url+path, nil)
	if err != nil {
		return nil, err
	}
	if t.username != "" {
		req.SetBasicAuth(t.username, t.password)
	}
	return couchClient.Do(req)
}

// checkCouchDB makes sure every peer's CouchDB answers before the peers
// start, so that a missing server is named at once rather than after the
// peers' startup retries.
func checkCouchDB(ctx context.Context, cfg Config) error {
	targets, err := cfg.couchTargets()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, t := range targets {
		if seen[t.url] {
			continue
		}
		seen[t.url] = true
		resp, err := couchRequest(ctx, t, http.MethodGet, "/_all_dbs")
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) || strings.Contains(err.Error(), "connection refused") {
				return fmt.Errorf("CouchDB at %s does not answer (%v): start it first (README.md, section CouchDB, shows how)", t.url, err)
			}
			return fmt.Errorf("CouchDB at %s: %w", t.url, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("CouchDB at %s refuses the credentials given (%s): give an admin's, as http://USER:PASSWORD@host:port", t.url, resp.Status)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("CouchDB at %s answered %s: %s", t.url, resp.Status, bytes.TrimSpace(body))
		}
	}
	return nil
}

// dropStaleDatabases deletes, on a fresh network, the databases a removed
// network left on CouchDB under the peers' prefixes (make clean removes
// the folder, not CouchDB's databases): a new peer's ledger refuses a
// state that is ahead of its blocks.
func dropStaleDatabases(ctx context.Context, cfg Config) error {
	return dropDatabases(ctx, cfg, "left by an earlier development network of")
}

// DropDatabases deletes every database under the prefixes of cfg's peers on
// their CouchDB, for a network that is thrown away once stopped (a
// benchmark's, a test's); it does nothing on LevelDB. Stop the network
// first: a running peer would recreate what it uses.
func DropDatabases(ctx context.Context, cfg Config) error {
	return dropDatabases(ctx, cfg, "the state of")
}

// dropDatabases deletes the databases under each peer's prefix, logging
// how many with whose they are (why, followed by the peer's name).
func dropDatabases(ctx context.Context, cfg Config, why string) error {
	targets, err := cfg.couchTargets()
	if err != nil {
		return err
	}
	for i, t := range targets {
		resp, err := couchRequest(ctx, t, http.MethodGet, "/_all_dbs")
		if err != nil {
			return fmt.Errorf("CouchDB at %s: %w", t.url, err)
		}
		var all []string
		err = json.NewDecoder(resp.Body).Decode(&all)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("CouchDB at %s: list databases: %w", t.url, err)
		}
		var stale []string
		for _, db := range all {
			if strings.HasPrefix(db, t.prefix) {
				stale = append(stale, db)
			}
		}
		if len(stale) == 0 {
			continue
		}
		cfg.logf("removing %d database(s) with prefix %s from CouchDB at %s, %s %s",
			len(stale), t.prefix, t.url, why, cfg.PeerNodes()[i].Peer)
		for _, db := range stale {
			resp, err := couchRequest(ctx, t, http.MethodDelete, "/"+url.PathEscape(db))
			if err != nil {
				return fmt.Errorf("CouchDB at %s: delete database %s: %w", t.url, db, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNotFound {
				return fmt.Errorf("CouchDB at %s: delete database %s: %s", t.url, db, resp.Status)
			}
		}
	}
	return nil
}
