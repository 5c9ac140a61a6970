package operations

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
)

// Log formats accepted by NewHandler.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// NewHandler returns a slog handler writing to w in format "text" (also
// chosen by "" and by a Fabric FABRIC_LOGGING_FORMAT pattern such as
// "%{color}%{time}...") or "json". It passes every level: Logging decides
// which records get through.
func NewHandler(w io.Writer, format string) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	f := strings.ToLower(strings.TrimSpace(format))
	switch {
	case f == "" || f == FormatText || strings.Contains(f, "%{"):
		return slog.NewTextHandler(w, opts), nil
	case f == FormatJSON:
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("unknown log format %q: use %q or %q", format, FormatText, FormatJSON)
}

// Logging filters the records of a slog handler by a Fabric logging spec,
// which SetSpec (the /logspec endpoint) changes while the process runs.
//
// A spec is terms separated by ":"; a term is a level ("info"), which sets
// the default, or "name[,name...]=level", which sets the level of loggers
// whose "component" attribute (added with Logger.With) is name or starts
// with name + ".". The longest matching name wins. Levels: debug, info,
// warn (warning), error; fatal, panic and dpanic silence even errors.
// Example: "info:peer.gateway,endorser=debug".
type Logging struct {
	spec *atomic.Pointer[logSpec] // shared by every handler derived from root
	root *levelHandler
}

// NewLogging wraps h with levels from spec ("" means "info").
func NewLogging(h slog.Handler, spec string) (*Logging, error) {
	s, err := parseSpec(spec)
	if err != nil {
		return nil, err
	}
	p := &atomic.Pointer[logSpec]{}
	p.Store(s)
	return &Logging{spec: p, root: &levelHandler{inner: h, spec: p}}, nil
}

// Logger returns a logger writing through the level filter.
func (l *Logging) Logger() *slog.Logger { return slog.New(l.root) }

// Handler returns the filtering handler.
func (l *Logging) Handler() slog.Handler { return l.root }

// Spec returns the spec in force, as it was set.
func (l *Logging) Spec() string { return l.spec.Load().text }

// SetSpec replaces the spec; a bad spec changes nothing and the error names
// the bad term.
func (l *Logging) SetSpec(spec string) error {
	s, err := parseSpec(spec)
	if err != nil {
		return err
	}
	l.spec.Store(s)
	return nil
}

// ValidateSpec reports whether spec is a valid logging spec, for config checks.
func ValidateSpec(spec string) error {
	_, err := parseSpec(spec)
	return err
}

// logSpec is a parsed spec; it is never modified once stored.
type logSpec struct {
	text      string
	def       slog.Level
	overrides []override // longest name first
}

type override struct {
	name  string
	level slog.Level
}

// level is the threshold for a logger with this component ("" for none).
func (s *logSpec) level(component string) slog.Level {
	for _, o := range s.overrides {
		if component == o.name || strings.HasPrefix(component, o.name+".") {
			return o.level
		}
	}
	return s.def
}

// silent is above every level the code logs at.
const silent = slog.LevelError + 4

var loggerName = regexp.MustCompile(`^[[:alnum:]_#-]+(\.[[:alnum:]_#-]+)*$`)

func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	case "dpanic", "panic", "fatal":
		return silent, true
	}
	return 0, false
}

func parseSpec(spec string) (*logSpec, error) {
	text := strings.TrimSpace(spec)
	if text == "" {
		text = "info"
	}
	s := &logSpec{text: text, def: slog.LevelInfo}
	byName := map[string]slog.Level{}
	for _, term := range strings.Split(text, ":") {
		term = strings.TrimSpace(term)
		bad := func(why string) error {
			return fmt.Errorf("invalid logging spec %q: term %q: %s; the form is level[:name[,name]=level...], e.g. info:peer.gateway=debug", text, term, why)
		}
		if term == "" {
			return nil, bad("empty term")
		}
		names, lvl, hasNames := strings.Cut(term, "=")
		if !hasNames {
			lvl = term
		}
		level, ok := parseLevel(lvl)
		if !ok {
			return nil, bad(fmt.Sprintf("unknown level %q (use debug, info, warn, error, fatal)", strings.TrimSpace(lvl)))
		}
		if !hasNames {
			s.def = level
			continue
		}
		for _, n := range strings.Split(names, ",") {
			n = strings.TrimSpace(n)
			if !loggerName.MatchString(n) {
				return nil, bad(fmt.Sprintf("invalid logger name %q", n))
			}
			byName[n] = level
		}
	}
	for n, l := range byName {
		s.overrides = append(s.overrides, override{n, l})
	}
	sort.Slice(s.overrides, func(i, j int) bool {
		a, b := s.overrides[i].name, s.overrides[j].name
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a < b
	})
	return s, nil
}

// levelHandler is the filtering slog.Handler; component is the "component"
// attribute given to its logger with With.
type levelHandler struct {
	inner     slog.Handler
	spec      *atomic.Pointer[logSpec]
	component string
	grouped   bool // attributes added from now on sit in a group
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.spec.Load().level(h.component) && h.inner.Enabled(ctx, l)
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.inner.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(attrs)
	if !h.grouped {
		for _, a := range attrs {
			if a.Key == "component" {
				c.component = a.Value.String()
			}
		}
	}
	return &c
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	c.grouped = c.grouped || name != ""
	return &c
}
