package chaincode

import (
	"strconv"
	"time"

	"github.com/weft-ledger/weft/internal/operations"
)

// Metrics are Fabric's chaincode_* families. Their chaincode label is the
// package ID (Fabric's chaincode ID, "basic_1.0:4ec1...") as in Fabric. A nil
// *Metrics counts nothing.
type Metrics struct {
	launchDuration  *operations.Histogram // chaincode, success
	launchFailures  *operations.Counter   // chaincode
	launchTimeouts  *operations.Counter   // chaincode
	shimReceived    *operations.Counter   // type, channel, chaincode
	shimCompleted   *operations.Counter   // type, channel, chaincode, success
	shimDuration    *operations.Histogram // type, channel, chaincode, success
	executeTimeouts *operations.Counter   // chaincode
}

// NewMetrics registers the chaincode_* families in r.
func NewMetrics(r *operations.Registry) *Metrics {
	cc := []string{"chaincode"}
	tcc := []string{"type", "channel", "chaincode"}
	tccs := []string{"type", "channel", "chaincode", "success"}
	return &Metrics{
		launchDuration: r.Histogram(operations.Opts{Name: "chaincode_launch_duration", Labels: []string{"chaincode", "success"},
			Help: "The time to launch a chaincode."}, nil),
		launchFailures: r.Counter(operations.Opts{Name: "chaincode_launch_failures", Labels: cc,
			Help: "The number of chaincode launches that have failed."}),
		launchTimeouts: r.Counter(operations.Opts{Name: "chaincode_launch_timeouts", Labels: cc,
			Help: "The number of chaincode launches that have timed out."}),
		shimReceived: r.Counter(operations.Opts{Name: "chaincode_shim_requests_received", Labels: tcc,
			Help: "The number of chaincode shim requests received."}),
		shimCompleted: r.Counter(operations.Opts{Name: "chaincode_shim_requests_completed", Labels: tccs,
			Help: "The number of chaincode shim requests completed."}),
		shimDuration: r.Histogram(operations.Opts{Name: "chaincode_shim_request_duration", Labels: tccs,
			Help: "The time to complete chaincode shim requests."}, nil),
		executeTimeouts: r.Counter(operations.Opts{Name: "chaincode_execute_timeouts", Labels: cc,
			Help: "The number of chaincode executions (Init or Invoke) that have timed out."}),
	}
}

// launched records a launch's end: ok, failed, or timed out (the chaincode
// did not register in time).
func (m *Metrics) launched(packageID string, start time.Time, failed, timedOut bool) {
	if m == nil {
		return
	}
	switch {
	case timedOut:
		m.launchTimeouts.Inc(packageID)
	case failed:
		m.launchFailures.Inc(packageID)
	}
	m.launchDuration.Observe(time.Since(start).Seconds(), packageID, strconv.FormatBool(!failed && !timedOut))
}

// shimRequest counts a request from the chaincode.
func (m *Metrics) shimRequest(typ, channel, packageID string) {
	if m != nil {
		m.shimReceived.Inc(typ, channel, packageID)
	}
}

// shimDone records a request answered; success: not with ERROR.
func (m *Metrics) shimDone(typ, channel, packageID string, start time.Time, success bool) {
	if m == nil {
		return
	}
	s := strconv.FormatBool(success)
	m.shimCompleted.Inc(typ, channel, packageID, s)
	m.shimDuration.Observe(time.Since(start).Seconds(), typ, channel, packageID, s)
}

func (m *Metrics) executeTimedOut(packageID string) {
	if m != nil {
		m.executeTimeouts.Inc(packageID)
	}
}
