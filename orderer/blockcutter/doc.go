// Package blockcutter decides where one block ends and the next begins.
//
// A Cutter is a pure state machine: it owns the queue of messages not yet cut
// and applies Fabric's four BatchSize/BatchTimeout rules. It never reads the
// clock, starts goroutines or touches the network; callers pass the current
// time in, so tests replay scripts (testdata/*.txt) deterministically.
//
// Rules, in the order they apply to an added message of size s:
//   - s > AbsoluteMaxBytes: refused with ErrMessageTooLarge, queue untouched.
//   - s > PreferredMaxBytes: the pending queue (if any) is cut, then the
//     message is cut alone.
//   - pending bytes + s > PreferredMaxBytes: the pending queue is cut, then
//     the message starts a new one.
//   - the queue reaching MaxMessageCount messages is cut.
//   - a non-empty queue whose first message waited BatchTimeout is cut by Tick.
package blockcutter
