package rpcrecover

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// PanicError is a panic recovered in a goroutine that a request or a block
// started: what was running, the value it panicked with and its stack.
type PanicError struct {
	What  string // e.g. "validate transaction 3 of block 7 on channel mychannel"
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("%s: internal error (panic: %v); the node logged the stack", e.What, e.Value)
}

// Recover, deferred directly by a goroutine (defer rpcrecover.Recover(log,
// what, &err)), turns a panic of that goroutine into a *PanicError stored in
// *errp and logs it at error level with the stack. Without a panic it does
// nothing. log may be nil (slog.Default).
func Recover(log *slog.Logger, what string, errp *error) {
	r := recover()
	if r == nil {
		return
	}
	pe := Recovered(log, what, r)
	if errp != nil {
		*errp = pe
	}
}

// Recovered is for a deferred function that called recover itself and has
// more to do: it logs the panic value r with the current stack, as Recover
// does, and returns it as a *PanicError. Call it from that deferred function,
// while the stack still shows where the panic happened.
func Recovered(log *slog.Logger, what string, r any) *PanicError {
	pe := &PanicError{What: what, Value: r, Stack: debug.Stack()}
	if log == nil {
		log = slog.Default()
	}
	log.Error("recovered from a panic; only this request failed, the node keeps running",
		"in", what, "panic", fmt.Sprint(r), "stack", string(pe.Stack))
	return pe
}

// Call runs fn and returns its error, or a *PanicError (logged with the
// stack, as Recover does) when fn panics.
func Call(log *slog.Logger, what string, fn func() error) (err error) {
	defer Recover(log, what, &err)
	return fn()
}
