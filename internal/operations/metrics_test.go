package operations

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestExpositionFormat(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	txs := r.Counter(Opts{Name: "ledger_transaction_count", Help: "Number of transactions processed.", Labels: []string{"channel", "validation_code"}})
	height := r.Gauge(Opts{Name: "ledger_blockchain_height", Help: "Height of the chain in blocks.", Labels: []string{"channel"}})
	dur := r.Histogram(Opts{Name: "ledger_block_processing_time", Help: "Time taken in seconds for ledger block processing.", Labels: []string{"channel"}}, []float64{0.1, 1})
	r.Counter(Opts{Name: "endorser_proposals_received", Help: "The number of proposals received."})
	odd := r.Gauge(Opts{Name: "odd", Help: "back\\slash\nnewline", Labels: []string{"v"}})

	txs.Inc("mychannel", "VALID")
	txs.Add(2, "mychannel", "VALID")
	txs.Inc("mychannel", "MVCC_READ_CONFLICT")
	txs.Inc("another", "VALID")
	height.Set(7, "mychannel")
	dur.Observe(0.05, "mychannel")
	dur.Observe(0.1, "mychannel") // a bound is inclusive
	dur.Observe(3, "mychannel")
	odd.Set(-1.5, "a\"b\\c\nd")
	scrapes := 0
	r.OnScrape(func() { scrapes++; height.Set(float64(7+scrapes), "other") })

	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP endorser_proposals_received The number of proposals received.
# TYPE endorser_proposals_received counter
# HELP ledger_block_processing_time Time taken in seconds for ledger block processing.
# TYPE ledger_block_processing_time histogram
ledger_block_processing_time_bucket{channel="mychannel",le="0.1"} 2
ledger_block_processing_time_bucket{channel="mychannel",le="1"} 2
ledger_block_processing_time_bucket{channel="mychannel",le="+Inf"} 3
ledger_block_processing_time_sum{channel="mychannel"} 3.15
ledger_block_processing_time_count{channel="mychannel"} 3
# HELP ledger_blockchain_height Height of the chain in blocks.
# TYPE ledger_blockchain_height gauge
ledger_blockchain_height{channel="mychannel"} 7
ledger_blockchain_height{channel="other"} 8
# HELP ledger_transaction_count Number of transactions processed.
# TYPE ledger_transaction_count counter
ledger_transaction_count{channel="another",validation_code="VALID"} 1
ledger_transaction_count{channel="mychannel",validation_code="MVCC_READ_CONFLICT"} 1
ledger_transaction_count{channel="mychannel",validation_code="VALID"} 3
# HELP odd back\\slash\nnewline
# TYPE odd gauge
odd{v="a\"b\\c\nd"} -1.5
`
	if got := b.String(); got != want {
		t.Fatalf("exposition:\n%s\nwant:\n%s", got, want)
	}
	if scrapes != 1 {
		t.Fatalf("OnScrape hook ran %d times for one exposition", scrapes)
	}

	height.Reset()
	b.Reset()
	r.WriteText(&b)
	if strings.Contains(b.String(), `ledger_blockchain_height{channel="mychannel"}`) {
		t.Fatal("Reset kept a gauge series that no scrape hook set again")
	}
}

func TestRegistryMisuse(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	c := r.Counter(Opts{Name: "a_total", Labels: []string{"x"}})
	if again := r.Counter(Opts{Name: "a_total", Labels: []string{"x"}}); again.f != c.f {
		t.Fatal("registering an identical counter twice gave a second family")
	}
	for name, fn := range map[string]func(){
		"clash of types":       func() { r.Gauge(Opts{Name: "a_total", Labels: []string{"x"}}) },
		"bad metric name":      func() { r.Counter(Opts{Name: "a-b"}) },
		"le on a histogram":    func() { r.Histogram(Opts{Name: "h", Labels: []string{"le"}}, nil) },
		"unsorted buckets":     func() { r.Histogram(Opts{Name: "h2"}, []float64{2, 1}) },
		"wrong label count":    func() { c.Inc() },
		"decreasing a counter": func() { c.Add(-1, "v") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			fn()
		})
	}
}

func TestMetricsConcurrentAndHTTP(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	c := r.Counter(Opts{Name: "hits", Labels: []string{"k"}})
	h := r.Histogram(Opts{Name: "lat"}, nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				c.Inc("a")
				h.Observe(0.001)
				r.WriteText(io.Discard)
			}
		}()
	}
	wg.Wait()
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type = %q, want %q", ct, ContentType)
	}
	for _, want := range []string{`hits{k="a"} 800`, `lat_count 800`, `lat_bucket{le="0.005"} 800`} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

// TestSeriesLookupDoesNotAllocate: counting a series that exists costs no
// allocation, so the commit path can count every transaction.
func TestSeriesLookupDoesNotAllocate(t *testing.T) {
	r := NewRegistry()
	c := r.Counter(Opts{Name: "c", Labels: []string{"channel", "transaction_type", "chaincode", "validation_code"}})
	h := r.Histogram(Opts{Name: "h", Labels: []string{"channel"}}, nil)
	c.Inc("mychannel", "ENDORSER_TRANSACTION", "basic:1.0", "VALID")
	h.Observe(1, "mychannel")
	bound := c.With("mychannel", "CONFIG", "unknown", "VALID")
	hs := h.With("other")
	if n := testing.AllocsPerRun(100, func() {
		c.Inc("mychannel", "ENDORSER_TRANSACTION", "basic:1.0", "VALID")
		h.Observe(0.5, "mychannel")
		bound.Inc()
		hs.Observe(2)
	}); n != 0 {
		t.Fatalf("%v allocations per lookup of existing series, want 0", n)
	}
	var b strings.Builder
	r.WriteText(&b)
	for _, want := range []string{
		`c{channel="mychannel",transaction_type="ENDORSER_TRANSACTION",chaincode="basic:1.0",validation_code="VALID"} 102`,
		`c{channel="mychannel",transaction_type="CONFIG",chaincode="unknown",validation_code="VALID"} 101`,
		`h_count{channel="mychannel"} 102`,
		`h_count{channel="other"} 101`,
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("exposition lacks %s:\n%s", want, b.String())
		}
	}
}
