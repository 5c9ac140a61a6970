// Package eventually is test support: it polls a condition that has no
// change signal (a process's state, a remote node's answer, a counter behind
// a lock) until it holds, and fails the test when it does not hold in time.
//
// Use it only where nothing can be awaited; a channel, a WaitGroup or an
// event stream is always the better wait.
//
// Guarantees: the condition is checked at once, so a wait for a condition
// that already holds does not sleep; after that the pause between checks
// starts at 5ms and doubles up to 100ms, and never runs past the timeout.
// The condition runs on the caller's goroutine, one check at a time, and no
// check starts after the timeout has passed.
//
// True and NoError fail the test with tb.Fatalf, so (like Fatalf itself)
// they must be called from the goroutine running the test, never from a
// goroutine it started; for the same reason the condition may itself call
// tb.Fatalf to give up early on an error that no retry can cure. Wait
// returns the error instead and may be called from any goroutine.
//
// The context handed to a check is done when the timeout passes, so a check
// that honours it cannot outlast the timeout. It does not derive from
// tb.Context(), which is already cancelled while Cleanup functions run, so
// waits in a Cleanup work too.
package eventually
