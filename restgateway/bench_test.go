package restgateway

import (
	"net/http"
	"strings"
	"testing"
)

// BenchmarkRESTEvaluate measures what the REST gateway adds to one evaluate:
// HTTP and JSON over loopback with a bearer token, the proposal built and signed with the wallet
// identity (one ECDSA signature), and the Gateway Evaluate call to a peer
// over gRPC on loopback (a fake that answers at once). Parallel requests, as
// a web back-end sends them.
func BenchmarkRESTEvaluate(b *testing.B) {
	ts, _ := newTestServer(b)
	url := ts.URL + "/v1/channels/mychannel/chaincodes/basic/evaluate"
	client := ts.Client()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(`{"function":"Echo","args":["x"]}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("evaluate: HTTP %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
