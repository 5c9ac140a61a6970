package channel

import "time"

// Clock is the time that drives the channel's protocol: publication and
// request intervals, elections, state transfer timeouts. Tests pass a clock
// they advance by hand.
type Clock interface {
	Now() time.Time
	// After delivers the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
