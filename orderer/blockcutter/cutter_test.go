package blockcutter

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/scripttest"
)

// TestScripts replays testdata/*.txt. Each case is a command line, a "----"
// line and the expected output, cases separated by blank lines:
//
//	config count=N absolute=N preferred=N timeout=D
//	add at=D name:size [name:size ...]   (one Add per message, same instant)
//	tick at=D
//	cut
//
// Output lists each cut batch as "cut name name ...", refusals as
// "refused name: too large", then "pending N".
func TestScripts(t *testing.T) {
	for _, f := range scripttest.Files(t, "testdata/*.txt") {
		t.Run(filepath.Base(f), func(t *testing.T) { runScript(t, f) })
	}
}

func runScript(t *testing.T, path string) {
	var c *Cutter
	epoch := time.Unix(1_700_000_000, 0)
	for _, tc := range scripttest.Read(t, path) {
		fields := strings.Fields(tc.Cmd)
		args := map[string]string{}
		var msgs []string
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				args[k] = v
			} else {
				msgs = append(msgs, f)
			}
		}
		at := epoch
		if v, ok := args["at"]; ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, tc.Line, err)
			}
			at = epoch.Add(d)
		}
		var out strings.Builder
		printBatch := func(b Batch) {
			names := make([]string, len(b))
			for i, m := range b {
				names[i] = strings.TrimRight(string(m), ".")
			}
			fmt.Fprintf(&out, "cut %s\n", strings.Join(names, " "))
		}
		switch fields[0] {
		case "config":
			cfg := Config{
				MaxMessageCount:   uint32(atoi(t, args["count"])),
				AbsoluteMaxBytes:  uint32(atoi(t, args["absolute"])),
				PreferredMaxBytes: uint32(atoi(t, args["preferred"])),
			}
			cfg.BatchTimeout, _ = time.ParseDuration(args["timeout"])
			var err error
			c, err = New(cfg)
			if err != nil {
				fmt.Fprintf(&out, "error %v\n", err)
			}
		case "add":
			for _, m := range msgs {
				name, size, _ := strings.Cut(m, ":")
				n := atoi(t, size)
				if n < len(name) {
					t.Fatalf("%s:%d: size of %s below its name length", path, tc.Line, name)
				}
				batches, err := c.Add(at, []byte(name+strings.Repeat(".", n-len(name))))
				if errors.Is(err, ErrMessageTooLarge) {
					fmt.Fprintf(&out, "refused %s: too large\n", name)
				} else if err != nil {
					t.Fatalf("%s:%d: %v", path, tc.Line, err)
				}
				for _, b := range batches {
					printBatch(b)
				}
			}
		case "tick":
			if b := c.Tick(at); b != nil {
				printBatch(b)
			}
		case "cut":
			if b := c.Cut(); b != nil {
				printBatch(b)
			}
		default:
			t.Fatalf("%s:%d: unknown command %q", path, tc.Line, fields[0])
		}
		if c != nil {
			fmt.Fprintf(&out, "pending %d\n", c.Pending())
		}
		if out.String() != tc.Expected {
			t.Errorf("%s:%d: %s\n got:\n%s want:\n%s", path, tc.Line, tc.Cmd, out.String(), tc.Expected)
		}
	}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("bad number %q", s)
	}
	return n
}
