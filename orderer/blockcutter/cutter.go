package blockcutter

import (
	"errors"
	"fmt"
	"time"
)

// ErrMessageTooLarge is returned by Add for a message above AbsoluteMaxBytes.
var ErrMessageTooLarge = errors.New("blockcutter: message larger than AbsoluteMaxBytes")

// Config holds a channel's Orderer BatchSize and BatchTimeout values.
type Config struct {
	MaxMessageCount   uint32
	AbsoluteMaxBytes  uint32
	PreferredMaxBytes uint32
	BatchTimeout      time.Duration
}

// Validate reports the first value that cannot drive a cutter.
func (c Config) Validate() error {
	switch {
	case c.MaxMessageCount == 0:
		return errors.New("BatchSize.MaxMessageCount must be greater than 0")
	case c.AbsoluteMaxBytes == 0:
		return errors.New("BatchSize.AbsoluteMaxBytes must be greater than 0")
	case c.PreferredMaxBytes == 0:
		return errors.New("BatchSize.PreferredMaxBytes must be greater than 0")
	case c.PreferredMaxBytes > c.AbsoluteMaxBytes:
		return fmt.Errorf("BatchSize.PreferredMaxBytes (%d) must not exceed AbsoluteMaxBytes (%d)", c.PreferredMaxBytes, c.AbsoluteMaxBytes)
	case c.BatchTimeout <= 0:
		return errors.New("BatchTimeout must be positive")
	}
	return nil
}

// Batch is the ordered list of messages of one block.
type Batch [][]byte

// Cutter holds the messages received since the last cut. It is not safe for
// concurrent use: one chain loop owns it.
type Cutter struct {
	cfg          Config
	pending      [][]byte
	pendingBytes uint32
	firstAt      time.Time // arrival of pending[0]
}

// New returns an empty cutter for cfg.
func New(cfg Config) (*Cutter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Cutter{cfg: cfg}, nil
}

// Config returns the rules this cutter applies.
func (c *Cutter) Config() Config { return c.cfg }

// Add queues msg arriving at now and returns the batches it caused to be cut,
// oldest first (zero, one or two).
func (c *Cutter) Add(now time.Time, msg []byte) ([]Batch, error) {
	size := uint32(len(msg))
	if len(msg) > int(c.cfg.AbsoluteMaxBytes) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(msg), c.cfg.AbsoluteMaxBytes)
	}
	var out []Batch
	if size > c.cfg.PreferredMaxBytes {
		if b := c.Cut(); b != nil {
			out = append(out, b)
		}
		return append(out, Batch{msg}), nil
	}
	if c.pendingBytes+size > c.cfg.PreferredMaxBytes {
		if b := c.Cut(); b != nil {
			out = append(out, b)
		}
	}
	if len(c.pending) == 0 {
		c.firstAt = now
	}
	c.pending = append(c.pending, msg)
	c.pendingBytes += size
	if uint32(len(c.pending)) >= c.cfg.MaxMessageCount {
		out = append(out, c.Cut())
	}
	return out, nil
}

// Tick cuts the pending batch when its first message has waited BatchTimeout
// at now; it returns nil otherwise.
func (c *Cutter) Tick(now time.Time) Batch {
	if len(c.pending) == 0 || now.Sub(c.firstAt) < c.cfg.BatchTimeout {
		return nil
	}
	return c.Cut()
}

// Cut returns the pending messages as a batch (nil when none) and empties the queue.
func (c *Cutter) Cut() Batch {
	if len(c.pending) == 0 {
		return nil
	}
	b := Batch(c.pending)
	c.pending, c.pendingBytes, c.firstAt = nil, 0, time.Time{}
	return b
}

// Pending returns how many messages wait for a cut.
func (c *Cutter) Pending() int { return len(c.pending) }

// Deadline returns when Tick will cut the pending batch; ok is false when
// nothing is pending.
func (c *Cutter) Deadline() (time.Time, bool) {
	if len(c.pending) == 0 {
		return time.Time{}, false
	}
	return c.firstAt.Add(c.cfg.BatchTimeout), true
}
