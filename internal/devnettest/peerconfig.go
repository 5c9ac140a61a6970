package devnettest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/weft-ledger/weft/internal/devnet"
)

// SetPeerConfig sets key, a dotted path of the peer's own core.yaml such as
// peer.gossip.pvtData.reconcileSleepInterval, to the string value, adding
// the mappings it lacks. The peer reads it when it next starts (StartPeer,
// RestartPeer); devnet keeps the file across restarts.
func SetPeerConfig(n *devnet.Network, peer devnet.Org, key, value string) error {
	path := filepath.Join(n.Config().PeerConfigDir(peer), "core.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := setNode(&doc, strings.Split(key, "."), scalar(value)); err != nil {
		return fmt.Errorf("%s: %s: %w", path, key, err)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}
