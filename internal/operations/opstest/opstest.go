// Package opstest checks a node's Prometheus exposition against Fabric v2.5's
// metrics reference (testdata/fabric-2.5-metrics.txt): the same family
// names, types, help strings, label names and histogram buckets, so that
// dashboards and alerts built for Fabric read Weft's /metrics unchanged.
// It is for tests only.
package opstest

import (
	_ "embed"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

//go:embed testdata/fabric-2.5-metrics.txt
var referenceText string

// Family is one metric family of the reference.
type Family struct {
	Name, Type, Help string
	Labels           []string  // label names, in Fabric's order
	Nodes            []string  // "peer", "orderer"
	Buckets          []float64 // histograms: upper bounds without +Inf
}

// DefaultBuckets are Prometheus' default histogram buckets.
var DefaultBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Reference returns the reference families by name.
func Reference() map[string]Family {
	out := map[string]Family{}
	for i, line := range strings.Split(referenceText, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			panic(fmt.Sprintf("opstest: reference line %d has %d columns, want 6", i+1, len(f)))
		}
		fam := Family{Name: f[0], Type: f[1], Nodes: strings.Split(f[3], ","), Help: f[5]}
		if f[2] != "-" {
			fam.Labels = strings.Split(f[2], ",")
		}
		switch f[4] {
		case "-":
		case "default":
			fam.Buckets = DefaultBuckets
		default:
			for _, b := range strings.Split(f[4], ",") {
				v, err := strconv.ParseFloat(b, 64)
				if err != nil {
					panic(fmt.Sprintf("opstest: reference line %d: bucket %q: %v", i+1, b, err))
				}
				fam.Buckets = append(fam.Buckets, v)
			}
		}
		out[fam.Name] = fam
	}
	return out
}

// Sample is one line of an exposition.
type Sample struct {
	Name   string // with _bucket, _sum or _count for histograms
	Labels map[string]string
	Value  float64
}

// Scraped is one family read from an exposition.
type Scraped struct {
	Name, Type, Help string
	Samples          []Sample
}

// Parse reads the Prometheus text format 0.0.4 as Weft writes it (HELP and
// TYPE before the samples of each family).
func Parse(text string) (map[string]*Scraped, error) {
	fams := map[string]*Scraped{}
	get := func(name string) *Scraped {
		f := fams[name]
		if f == nil {
			f = &Scraped{Name: name}
			fams[name] = f
		}
		return f
	}
	var cur *Scraped
	for i, line := range strings.Split(text, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "# HELP "):
			name, help, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			cur = get(name)
			cur.Help = strings.NewReplacer(`\\`, `\`, `\n`, "\n").Replace(help)
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			cur = get(name)
			cur.Type = typ
		case strings.HasPrefix(line, "#"):
		default:
			s, err := parseSample(line)
			if err != nil {
				return nil, fmt.Errorf("line %d %q: %w", i+1, line, err)
			}
			base := s.Name
			if cur != nil && cur.Type == "histogram" {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if strings.HasSuffix(base, suf) && strings.TrimSuffix(base, suf) == cur.Name {
						base = cur.Name
					}
				}
			}
			if cur == nil || base != cur.Name {
				return nil, fmt.Errorf("line %d: sample %s outside its family's HELP/TYPE block", i+1, s.Name)
			}
			cur.Samples = append(cur.Samples, s)
		}
	}
	return fams, nil
}

func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	rest := line
	if i := strings.IndexAny(rest, "{ "); i < 0 {
		return s, fmt.Errorf("no value")
	} else {
		s.Name, rest = rest[:i], rest[i:]
	}
	if strings.HasPrefix(rest, "{") {
		rest = rest[1:]
		for !strings.HasPrefix(rest, "}") {
			name, after, ok := strings.Cut(rest, `="`)
			if !ok {
				return s, fmt.Errorf("bad label list")
			}
			var val strings.Builder
			j := 0
			for ; j < len(after) && after[j] != '"'; j++ {
				if after[j] == '\\' && j+1 < len(after) {
					j++
					switch after[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(after[j])
					}
					continue
				}
				val.WriteByte(after[j])
			}
			if j == len(after) {
				return s, fmt.Errorf("unterminated label value")
			}
			s.Labels[name] = val.String()
			rest = strings.TrimPrefix(after[j+1:], ",")
		}
		rest = rest[1:]
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
	if err != nil && strings.TrimSpace(rest) != "+Inf" {
		return s, err
	}
	if err != nil {
		v = math.Inf(1)
	}
	s.Value = v
	return s, nil
}

// Series returns the samples of a family (for histograms: the _count
// samples) whose labels include every pair of match.
func (f *Scraped) Series(match map[string]string) []Sample {
	var out []Sample
	for _, s := range f.Samples {
		if f.Type == "histogram" && !strings.HasSuffix(s.Name, "_count") {
			continue
		}
		ok := true
		for k, v := range match {
			if s.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// Compare checks every family of an exposition that the reference knows
// against it (type, help, each sample's label names, histogram buckets) and
// every other family against own, the families Weft serves on its own. It
// returns one line per difference.
func Compare(fams map[string]*Scraped, own []string) []string {
	ref := Reference()
	var errs []string
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		got := fams[n]
		want, ok := ref[n]
		if !ok {
			if !slices.Contains(own, n) {
				errs = append(errs, fmt.Sprintf("%s: not a Fabric v2.5 family, and not listed as Weft's own", n))
			}
			continue
		}
		if got.Type != want.Type {
			errs = append(errs, fmt.Sprintf("%s: TYPE %s, Fabric's is %s", n, got.Type, want.Type))
		}
		if got.Help != want.Help {
			errs = append(errs, fmt.Sprintf("%s: HELP %q, Fabric's is %q", n, got.Help, want.Help))
		}
		wantLabels := slices.Sorted(slices.Values(want.Labels))
		buckets := map[string][]float64{}
		for _, s := range got.Samples {
			var have []string
			for k := range s.Labels {
				if k == "le" && strings.HasSuffix(s.Name, "_bucket") {
					continue
				}
				have = append(have, k)
			}
			sort.Strings(have)
			if !slices.Equal(have, wantLabels) {
				errs = append(errs, fmt.Sprintf("%s: sample %s has labels %v, Fabric's are %v", n, s.Name, have, want.Labels))
				break
			}
			if strings.HasSuffix(s.Name, "_bucket") {
				le, err := strconv.ParseFloat(s.Labels["le"], 64)
				if err != nil && s.Labels["le"] != "+Inf" {
					errs = append(errs, fmt.Sprintf("%s: bucket bound %q", n, s.Labels["le"]))
					break
				}
				if !math.IsInf(le, 1) && err == nil {
					key := seriesKey(s.Labels)
					buckets[key] = append(buckets[key], le)
				}
			}
		}
		for _, b := range buckets {
			if !slices.Equal(b, want.Buckets) {
				errs = append(errs, fmt.Sprintf("%s: buckets %v, Fabric's are %v", n, b, want.Buckets))
				break
			}
		}
	}
	return errs
}

func seriesKey(labels map[string]string) string {
	var parts []string
	for k, v := range labels {
		if k != "le" {
			parts = append(parts, k+"="+v)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
