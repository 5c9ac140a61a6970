package operations

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// DefaultBuckets are the histogram buckets (seconds) used when none are
// given: Prometheus' defaults, which Fabric uses too.
var DefaultBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// ContentType is the media type of the Prometheus text format served.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Opts names a metric family.
type Opts struct {
	Name   string   // Prometheus name, e.g. ledger_transaction_count
	Help   string   // one line describing it
	Labels []string // label names; values are passed in this order
}

// Registry holds metric families and writes them in the Prometheus text
// exposition format 0.0.4. The zero value is not usable: call NewRegistry.
type Registry struct {
	mu       sync.Mutex // guards families and scrapers
	families map[string]*family
	scrapers []func()
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]*family{}} }

// Counter is a family of counters, one per combination of label values.
type Counter struct{ f *family }

// Gauge is a family of gauges.
type Gauge struct{ f *family }

// Histogram is a family of histograms with fixed buckets.
type Histogram struct{ f *family }

// Counter registers (or returns the identical, already registered) counter
// family. It panics on an invalid name or a clash with another family of the
// same name: both are programming errors.
func (r *Registry) Counter(o Opts) *Counter { return &Counter{r.register(o, "counter", nil)} }

// Gauge registers a gauge family, as Counter does.
func (r *Registry) Gauge(o Opts) *Gauge { return &Gauge{r.register(o, "gauge", nil)} }

// Histogram registers a histogram family with the given upper bounds
// (ascending; nil means DefaultBuckets). The +Inf bucket is implicit.
func (r *Registry) Histogram(o Opts, buckets []float64) *Histogram {
	if buckets == nil {
		buckets = DefaultBuckets
	}
	if !slices.IsSorted(buckets) {
		panic(fmt.Sprintf("operations: histogram %s: buckets %v are not ascending", o.Name, buckets))
	}
	return &Histogram{r.register(o, "histogram", slices.Clone(buckets))}
}

// OnScrape adds fn, called before every exposition: a place to set gauges
// read from elsewhere (ledger heights, Raft state) only when asked.
func (r *Registry) OnScrape(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scrapers = append(r.scrapers, fn)
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

func (r *Registry) register(o Opts, typ string, buckets []float64) *family {
	if !metricName.MatchString(o.Name) {
		panic(fmt.Sprintf("operations: invalid metric name %q", o.Name))
	}
	for _, l := range o.Labels {
		if !labelName.MatchString(l) || strings.HasPrefix(l, "__") || (typ == "histogram" && l == "le") {
			panic(fmt.Sprintf("operations: metric %s: invalid label name %q", o.Name, l))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.families[o.Name]; ok {
		if f.typ != typ || !slices.Equal(f.labels, o.Labels) || !slices.Equal(f.buckets, buckets) {
			panic(fmt.Sprintf("operations: metric %s registered twice with different types, labels or buckets", o.Name))
		}
		return f
	}
	f := &family{name: o.Name, help: o.Help, typ: typ, labels: slices.Clone(o.Labels), buckets: buckets, series: map[string]*series{}}
	r.families[o.Name] = f
	return f
}

// family is one metric name with its series.
type family struct {
	name, help, typ string
	labels          []string
	buckets         []float64 // histograms only

	mu     sync.Mutex // guards series and their values
	series map[string]*series
}

type series struct {
	values []string
	value  float64  // counter, gauge
	counts []uint64 // histogram: observations per bucket (not cumulative), +Inf last
	sum    float64
	count  uint64
}

// get returns the series for label values, creating it; f.mu must be held.
// Looking up an existing series does not allocate (the key is built in a
// stack buffer and the map is indexed with it without a copy).
func (f *family) get(values []string) *series {
	if len(values) != len(f.labels) {
		panic("operations: metric " + f.name + " takes labels [" + strings.Join(f.labels, ",") +
			"], got " + strconv.Itoa(len(values)) + " values [" + strings.Join(values, ",") + "]")
	}
	var buf [128]byte
	key := buf[:0]
	for i, v := range values {
		if i > 0 {
			key = append(key, 0xff)
		}
		key = append(key, v...)
	}
	if s, ok := f.series[string(key)]; ok {
		return s
	}
	s := &series{values: slices.Clone(values)}
	if f.typ == "histogram" {
		s.counts = make([]uint64, len(f.buckets)+1)
	}
	f.series[string(key)] = s
	return s
}

// Add adds delta (>= 0) to the counter with these label values.
func (c *Counter) Add(delta float64, labelValues ...string) {
	if delta < 0 {
		panic("operations: counter " + c.f.name + " cannot decrease")
	}
	c.f.mu.Lock()
	c.f.get(labelValues).value += delta
	c.f.mu.Unlock()
}

// Inc adds 1.
func (c *Counter) Inc(labelValues ...string) { c.Add(1, labelValues...) }

// With returns the counter with these label values, created now if new: a
// handle to keep where the same series is counted often. A counter's series
// live as long as the registry.
func (c *Counter) With(labelValues ...string) CounterSeries {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return CounterSeries{c.f, c.f.get(labelValues)}
}

// CounterSeries is one series of a Counter (see Counter.With).
type CounterSeries struct {
	f *family
	s *series
}

// Add adds delta (>= 0).
func (c CounterSeries) Add(delta float64) {
	if delta < 0 {
		panic("operations: counter " + c.f.name + " cannot decrease")
	}
	c.f.mu.Lock()
	c.s.value += delta
	c.f.mu.Unlock()
}

// Inc adds 1.
func (c CounterSeries) Inc() { c.Add(1) }

// Set sets the gauge with these label values.
func (g *Gauge) Set(v float64, labelValues ...string) {
	g.f.mu.Lock()
	g.f.get(labelValues).value = v
	g.f.mu.Unlock()
}

// Add adds delta (possibly negative) to the gauge.
func (g *Gauge) Add(delta float64, labelValues ...string) {
	g.f.mu.Lock()
	g.f.get(labelValues).value += delta
	g.f.mu.Unlock()
}

// Reset drops every series of the gauge, e.g. before a scrape hook sets the
// gauges of the channels that exist now.
func (g *Gauge) Reset() {
	g.f.mu.Lock()
	clear(g.f.series)
	g.f.mu.Unlock()
}

// Observe records one value (seconds, for durations).
func (h *Histogram) Observe(v float64, labelValues ...string) {
	h.f.mu.Lock()
	h.f.get(labelValues).observe(h.f.buckets, v)
	h.f.mu.Unlock()
}

// With returns the histogram with these label values, as Counter.With.
func (h *Histogram) With(labelValues ...string) HistogramSeries {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return HistogramSeries{h.f, h.f.get(labelValues)}
}

// HistogramSeries is one series of a Histogram (see Histogram.With).
type HistogramSeries struct {
	f *family
	s *series
}

// Observe records one value.
func (h HistogramSeries) Observe(v float64) {
	h.f.mu.Lock()
	h.s.observe(h.f.buckets, v)
	h.f.mu.Unlock()
}

// observe adds v to a histogram series; its family's lock must be held.
func (s *series) observe(buckets []float64, v float64) {
	s.counts[sort.SearchFloat64s(buckets, v)]++ // first bound >= v: bounds are inclusive
	s.sum += v
	s.count++
}

// WriteText writes every family in the Prometheus text format, families
// sorted by name and series by label values. Families without series are
// written with their HELP and TYPE lines only.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	scrapers := slices.Clone(r.scrapers)
	r.mu.Unlock()
	for _, fn := range scrapers {
		fn()
	}
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	// Rendered in memory first: a slow reader must not hold the families'
	// locks, which the instrumented code paths take.
	var buf bytes.Buffer
	for _, f := range fams {
		f.write(&buf)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func (f *family) write(w *bytes.Buffer) {
	if f.help != "" {
		fmt.Fprintf(w, "# HELP %s %s\n", f.name, helpEscaper.Replace(f.help))
	}
	fmt.Fprintf(w, "# TYPE %s %s\n", f.name, f.typ)
	f.mu.Lock()
	defer f.mu.Unlock()
	list := make([]*series, 0, len(f.series))
	for _, s := range f.series {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return slices.Compare(list[i].values, list[j].values) < 0 })
	for _, s := range list {
		if f.typ != "histogram" {
			fmt.Fprintf(w, "%s%s %s\n", f.name, f.labelText(s.values, ""), formatFloat(s.value))
			continue
		}
		var cum uint64
		for i, c := range s.counts {
			cum += c
			le := math.Inf(1)
			if i < len(f.buckets) {
				le = f.buckets[i]
			}
			fmt.Fprintf(w, "%s_bucket%s %d\n", f.name, f.labelText(s.values, formatFloat(le)), cum)
		}
		fmt.Fprintf(w, "%s_sum%s %s\n", f.name, f.labelText(s.values, ""), formatFloat(s.sum))
		fmt.Fprintf(w, "%s_count%s %d\n", f.name, f.labelText(s.values, ""), s.count)
	}
}

// labelText renders {a="x",b="y"} (with le last when given), or "" without labels.
func (f *family) labelText(values []string, le string) string {
	if len(values) == 0 && le == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(f.labels[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(v))
		b.WriteByte('"')
	}
	if le != "" {
		if len(values) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`le="`)
		b.WriteString(le)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// ServeHTTP serves the exposition (GET or HEAD).
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: req.Method + " is not supported on /metrics; use GET"})
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_ = r.WriteText(w)
}
