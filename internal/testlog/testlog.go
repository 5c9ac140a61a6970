package testlog

import (
	"bytes"
	"sync"
)

// Buffer collects written bytes; it is safe for concurrent use. Pass it to
// slog.NewTextHandler (or any io.Writer consumer) and read it with String.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
