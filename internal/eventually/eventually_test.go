package eventually

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingTB is a testing.TB whose Fatalf records the message and returns,
// so a test can look at a failure the helpers report.
type recordingTB struct {
	testing.TB
	fatal []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = append(r.fatal, fmt.Sprintf(format, args...))
}

// recordPauses replaces sleep for the test and returns the pauses taken so far.
func recordPauses(t *testing.T) func() []time.Duration {
	var mu sync.Mutex
	var pauses []time.Duration
	sleep = func(d time.Duration) {
		mu.Lock()
		pauses = append(pauses, d)
		mu.Unlock()
		time.Sleep(d)
	}
	t.Cleanup(func() { sleep = time.Sleep })
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), pauses...)
	}
}

func TestTrueAlreadyTrueChecksOnceWithoutPausing(t *testing.T) {
	pauses := recordPauses(t)
	tb := &recordingTB{}
	calls := 0
	True(tb, time.Minute, "already", func() bool { calls++; return true })
	if len(tb.fatal) != 0 || calls != 1 || len(pauses()) != 0 {
		t.Fatalf("fatal %q, %d checks, pauses %v; want no failure, 1 check, no pause", tb.fatal, calls, pauses())
	}
}

func TestTrueBecomesTruePausesDoubling(t *testing.T) {
	pauses := recordPauses(t)
	tb := &recordingTB{}
	calls := 0
	True(tb, time.Minute, "the fourth check", func() bool { calls++; return calls == 4 })
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}
	if len(tb.fatal) != 0 || calls != 4 || fmt.Sprint(pauses()) != fmt.Sprint(want) {
		t.Fatalf("fatal %q, %d checks, pauses %v; want no failure, 4 checks, pauses %v", tb.fatal, calls, pauses(), want)
	}
}

func TestTrueNeverTrueFailsAfterTimeout(t *testing.T) {
	pauses := recordPauses(t)
	tb := &recordingTB{}
	const timeout = time.Second // far above the first five pauses (155ms), even on a loaded machine
	start := time.Now()
	True(tb, timeout, "the impossible", func() bool { return false })
	if took := time.Since(start); took < timeout {
		t.Errorf("gave up after %v, before the timeout %v", took, timeout)
	}
	if want := "the impossible: not true after 1s"; len(tb.fatal) != 1 || tb.fatal[0] != want {
		t.Errorf("fatal %q, want once %q", tb.fatal, want)
	}
	var sum time.Duration
	for i, p := range pauses() {
		sum += p
		if p > maxPause || (i < 5 && p != firstPause<<i) {
			t.Errorf("pause %d = %v in %v: want 5ms doubling, capped at %v", i, p, pauses(), maxPause)
		}
	}
	if sum > timeout {
		t.Errorf("pauses %v add up to %v, more than the timeout %v", pauses(), sum, timeout)
	}
}

func TestNoErrorReportsTheLastError(t *testing.T) {
	tb := &recordingTB{}
	calls := 0
	// A timeout far above the 15ms the first three checks take, so that a
	// loaded machine still gets to the third.
	NoError(tb, 2*time.Second, "the service", func(context.Context) error {
		if calls++; calls < 3 {
			return errors.New("starting")
		}
		return errors.New("refused")
	})
	want := "the service: still failing after 2s: refused"
	if len(tb.fatal) != 1 || tb.fatal[0] != want {
		t.Fatalf("fatal %q, want once %q", tb.fatal, want)
	}
}

func TestNoErrorSucceeds(t *testing.T) {
	tb := &recordingTB{}
	calls := 0
	NoError(tb, time.Minute, "the third call", func(context.Context) error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if len(tb.fatal) != 0 || calls != 3 {
		t.Fatalf("fatal %q after %d calls, want success on the third", tb.fatal, calls)
	}
}

// The check's context ends at the timeout; an attempt it cuts short does not
// hide the error of the attempt before.
func TestWaitContextEndsAtTheTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	start := time.Now()
	calls := 0
	err := Wait(timeout, func(ctx context.Context) error {
		calls++
		if calls == 1 {
			return errors.New("not ready")
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if took := time.Since(start); took < timeout || took > 10*time.Second {
		t.Errorf("returned after %v, want about %v", took, timeout)
	}
	if err == nil || err.Error() != "not ready" {
		t.Fatalf("Wait = %v, want the first attempt's error \"not ready\"", err)
	}
}

func TestWaitReturnsTheContextErrorWhenItIsAllThereIs(t *testing.T) {
	err := Wait(10*time.Millisecond, func(ctx context.Context) error {
		<-ctx.Done()
		return fmt.Errorf("dial: %w", ctx.Err())
	})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "dial: ") {
		t.Fatalf("Wait = %v, want the check's deadline error", err)
	}
}

// Wait, unlike True and NoError, may run on any goroutine.
func TestWaitFromAnotherGoroutine(t *testing.T) {
	var mu sync.Mutex
	ready := false
	done := make(chan error, 1)
	go func() {
		done <- Wait(time.Minute, func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if !ready {
				return errors.New("not ready")
			}
			return nil
		})
	}()
	mu.Lock()
	ready = true
	mu.Unlock()
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v, want nil", err)
	}
}
