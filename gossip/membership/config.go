package membership

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/weft-ledger/weft/gossip/pull"
)

// Fabric's defaults (sampleconfig/core.yaml, peer.gossip.*, and
// gossip/discovery/discovery_impl.go for the keys core.yaml does not list).
const (
	DefaultAliveTimeInterval      = 5 * time.Second
	DefaultAliveExpirationTimeout = 5 * DefaultAliveTimeInterval
	DefaultReconnectInterval      = DefaultAliveExpirationTimeout
	DefaultMsgExpirationFactor    = 20
	DefaultMaxConnectionAttempts  = 120
	DefaultPropagatePeerNum       = 3
	DefaultPublishCertPeriod      = 10 * time.Second
	DefaultDialTimeout            = 3 * time.Second
	// membershipAckWait is how long a membership request to a bootstrap or
	// anchor peer waits for its response before it is sent again (Fabric's
	// sendUntilAcked: five seconds, then reconnectInterval).
	membershipAckWait = 5 * time.Second
)

// Config is the peer.gossip section that membership reads. Zero values
// take Fabric's defaults.
type Config struct {
	// Endpoint is peer.gossip.endpoint: the address peers of this
	// organisation reach this peer at (Fabric defaults it to
	// peer.address). Required.
	Endpoint string
	// ExternalEndpoint is peer.gossip.externalEndpoint: the address other
	// organisations reach this peer at. Empty: other organisations neither
	// learn of this peer nor talk to it.
	ExternalEndpoint string
	// Bootstrap is peer.gossip.bootstrap: endpoints of peers of this
	// organisation to join through.
	Bootstrap []string

	AliveTimeInterval            time.Duration // peer.gossip.aliveTimeInterval
	AliveExpirationTimeout       time.Duration // peer.gossip.aliveExpirationTimeout
	AliveExpirationCheckInterval time.Duration // Fabric: AliveExpirationTimeout / 10
	ReconnectInterval            time.Duration // peer.gossip.reconnectInterval
	MsgExpirationFactor          int           // peer.gossip.msgExpirationFactor
	MaxConnectionAttempts        int           // peer.gossip.maxConnectionAttempts
	PropagatePeerNum             int           // peer.gossip.propagatePeerNum
	PublishCertPeriod            time.Duration // peer.gossip.publishCertPeriod
	DialTimeout                  time.Duration // peer.gossip.dialTimeout: bounds a handshake or probe

	// PullInterval and PullPeerNum (peer.gossip.pullInterval, pullPeerNum)
	// pace both the membership sync and the identity pull; the wait times
	// are peer.gossip.digestWaitTime, requestWaitTime, responseWaitTime.
	PullInterval     time.Duration
	PullPeerNum      int
	DigestWaitTime   time.Duration
	RequestWaitTime  time.Duration
	ResponseWaitTime time.Duration

	// MembershipTrackerInterval (peer.gossip.membershipTrackerInterval):
	// when positive, changes of the alive set are logged at most this often.
	MembershipTrackerInterval time.Duration

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.AliveTimeInterval, DefaultAliveTimeInterval)
	def(&c.AliveExpirationTimeout, 5*c.AliveTimeInterval)
	def(&c.AliveExpirationCheckInterval, c.AliveExpirationTimeout/10)
	def(&c.ReconnectInterval, c.AliveExpirationTimeout)
	def(&c.PublishCertPeriod, DefaultPublishCertPeriod)
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.PullInterval, pull.DefaultInterval)
	def(&c.DigestWaitTime, pull.DefaultDigestWait)
	def(&c.RequestWaitTime, pull.DefaultRequestWait)
	def(&c.ResponseWaitTime, pull.DefaultResponseWait)
	if c.MsgExpirationFactor <= 0 {
		c.MsgExpirationFactor = DefaultMsgExpirationFactor
	}
	if c.MaxConnectionAttempts <= 0 {
		c.MaxConnectionAttempts = DefaultMaxConnectionAttempts
	}
	if c.PropagatePeerNum <= 0 {
		c.PropagatePeerNum = DefaultPropagatePeerNum
	}
	if c.PullPeerNum <= 0 {
		c.PullPeerNum = pull.DefaultPeerCount
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	if c.Endpoint == "" {
		return errors.New("membership config: peer.gossip.endpoint is empty; set it to this peer's host:port")
	}
	if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		return fmt.Errorf("membership config: peer.gossip.endpoint %q is not host:port: %v", c.Endpoint, err)
	}
	if c.ExternalEndpoint != "" {
		if _, _, err := net.SplitHostPort(c.ExternalEndpoint); err != nil {
			return fmt.Errorf("membership config: peer.gossip.externalEndpoint %q is not host:port: %v", c.ExternalEndpoint, err)
		}
	}
	return nil
}
