package eventually

import (
	"context"
	"errors"
	"testing"
	"time"
)

const (
	firstPause = 5 * time.Millisecond
	maxPause   = 100 * time.Millisecond
)

// sleep is time.Sleep; the package's tests record the pauses through it.
var sleep = time.Sleep

var errFalse = errors.New("condition false")

// True checks cond until it returns true. When timeout passes first it
// fails the test with "<what>: not true after <timeout>". Call it from the
// test's goroutine only.
func True(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	err := Wait(timeout, func(context.Context) error {
		if cond() {
			return nil
		}
		return errFalse
	})
	if err != nil {
		tb.Fatalf("%s: not true after %v", what, timeout)
	}
}

// NoError calls check until it returns nil. When timeout passes first it
// fails the test with "<what>: still failing after <timeout>: <error>",
// naming the last error check returned (see Wait). Call it from the test's
// goroutine only.
func NoError(tb testing.TB, timeout time.Duration, what string, check func(ctx context.Context) error) {
	tb.Helper()
	if err := Wait(timeout, check); err != nil {
		tb.Fatalf("%s: still failing after %v: %v", what, timeout, err)
	}
}

// Wait calls check until it returns nil, and then returns nil; when timeout
// passes first it returns check's last error. No check starts after the
// timeout has passed, and a failure caused by the timeout cutting a check
// short (its context done when it returns) does not replace the error of an
// earlier attempt, which says more.
func Wait(timeout time.Duration, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var last error
	for pause := firstPause; ; pause = min(2*pause, maxPause) {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if last == nil || ctx.Err() == nil {
			last = err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return last
		}
		sleep(min(pause, left))
		if !time.Now().Before(deadline) {
			return last
		}
	}
}
