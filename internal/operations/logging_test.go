package operations

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestLoggingSpec(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h, err := NewHandler(&buf, "json")
	if err != nil {
		t.Fatal(err)
	}
	lg, err := NewLogging(h, "")
	if err != nil {
		t.Fatal(err)
	}
	if lg.Spec() != "info" {
		t.Fatalf("default spec = %q, want info", lg.Spec())
	}
	root := lg.Logger().With("peer", "peer0")
	gw := root.With("component", "peer.gateway")
	gwConn := gw.With("component", "peer.gateway.conn")
	endorser := root.With("component", "endorser")
	grouped := root.WithGroup("g").With("component", "endorser") // not the logger's component

	logAll := func() []string {
		buf.Reset()
		for _, l := range []struct {
			name string
			log  interface{ Debug(string, ...any) }
		}{{"root", root}, {"gw", gw}, {"gwconn", gwConn}, {"endorser", endorser}, {"grouped", grouped}} {
			l.log.Debug(l.name)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("not a JSON line: %q", line)
			}
			got = append(got, rec["msg"].(string))
		}
		return got
	}
	tests := []struct {
		spec string
		want string
	}{
		{"info", ""},
		{"debug", "root,gw,gwconn,endorser,grouped"},
		{"info:peer.gateway=debug", "gw,gwconn"},
		{"debug:peer.gateway=info:peer.gateway.conn=debug", "root,gwconn,endorser,grouped"},
		{"warn:endorser,peer.gateway.conn=DEBUG", "gwconn,endorser"},
		{"peer=debug", "gw,gwconn"}, // names match components and their children; the "peer" attribute is no component
	}
	for _, tt := range tests {
		if err := lg.SetSpec(tt.spec); err != nil {
			t.Fatalf("SetSpec(%q): %v", tt.spec, err)
		}
		if got := strings.Join(logAll(), ","); got != tt.want {
			t.Errorf("spec %q: debug records from [%s], want [%s]", tt.spec, got, tt.want)
		}
		if lg.Spec() != tt.spec {
			t.Errorf("Spec() = %q after SetSpec(%q)", lg.Spec(), tt.spec)
		}
	}
	buf.Reset()
	lg.SetSpec("fatal")
	root.Error("hidden")
	if buf.Len() != 0 {
		t.Errorf("spec fatal let an error through: %s", buf.String())
	}
}

func TestLoggingBadSpecs(t *testing.T) {
	t.Parallel()
	lg, err := NewLogging(slog.DiscardHandler, "warn")
	if err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]string{
		"loud":                  `term "loud": unknown level "loud"`,
		"info:peer.gateway=bad": `term "peer.gateway=bad": unknown level "bad"`,
		"info::debug":           `term "": empty term`,
		"info:peer..x=debug":    `invalid logger name "peer..x"`,
		"info:=debug":           `invalid logger name ""`,
	} {
		err := lg.SetSpec(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SetSpec(%q) = %v, want an error containing %q", spec, err, want)
		}
		if ValidateSpec(spec) == nil {
			t.Errorf("ValidateSpec(%q) accepted it", spec)
		}
	}
	if lg.Spec() != "warn" {
		t.Fatalf("a refused spec changed the spec to %q", lg.Spec())
	}
	if _, err := NewHandler(&bytes.Buffer{}, "xml"); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Fatalf("NewHandler(xml) = %v", err)
	}
}
