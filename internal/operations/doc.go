// Package operations is the operations service every Weft node runs (peer,
// orderer, REST gateway): an HTTP listener for operators, apart from the
// network services, with the endpoints Fabric users know and one more.
//
//	GET /healthz   liveness: 200 {"status":"OK","time":...}, or 503 with
//	               "failed_checks":[{"component":..,"reason":..}] (Fabric's shape)
//	GET /readyz    readiness (Weft's own): the same shape over the readiness checks
//	GET /metrics   Prometheus text exposition format 0.0.4
//	GET /logspec   {"spec":"info"}; PUT {"spec":"warn:peer.gateway=debug"} changes
//	               log levels at run time (204), a bad spec gets 400 naming the bad part
//	GET /version   {"Version":..,"CommitSHA":..} from the binary's build information
//
// The pieces are usable alone: Registry is a small metrics registry
// (counters, gauges, histograms with labels) written without a Prometheus
// client library; Logging is a slog.Handler whose levels follow a Fabric
// logging spec that can change while the process runs; Server mounts them and
// the health checks on one listener, with optional TLS as Fabric's
// operations.tls.
//
// Guarantees: every type here is safe for concurrent use; metric output is
// sorted (families by name, series by label values), so it is stable for
// tests and diffs. The package never logs secrets, never calls os.Exit, and
// keeps no global state: each node builds its own Registry and Logging.
package operations
