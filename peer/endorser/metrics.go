package endorser

import (
	"github.com/weft-ledger/weft/internal/operations"
)

// Metrics are Fabric's endorser_* families. endorser_chaincode_instantiation_failures
// is not among them: it counts legacy (lscc) instantiations, which Weft does
// not run.
type Metrics struct {
	proposalDuration    *operations.Histogram // channel, chaincode, success
	proposalsReceived   operations.CounterSeries
	successfulProposals operations.CounterSeries
	validationFailures  operations.CounterSeries
	aclFailures         *operations.Counter // channel, chaincode
	endorsementFailures *operations.Counter // channel, chaincode, chaincodeerror
	duplicateTxs        *operations.Counter // channel, chaincode
	simulationFailures  *operations.Counter // channel, chaincode
}

// NewMetrics registers the endorser_* families in r.
func NewMetrics(r *operations.Registry) *Metrics {
	cc := []string{"channel", "chaincode"}
	return &Metrics{
		proposalDuration: r.Histogram(operations.Opts{Name: "endorser_proposal_duration",
			Labels: []string{"channel", "chaincode", "success"}, Help: "The time to complete a proposal."}, nil),
		proposalsReceived: r.Counter(operations.Opts{Name: "endorser_proposals_received",
			Help: "The number of proposals received."}).With(),
		successfulProposals: r.Counter(operations.Opts{Name: "endorser_successful_proposals",
			Help: "The number of successful proposals."}).With(),
		validationFailures: r.Counter(operations.Opts{Name: "endorser_proposal_validation_failures",
			Help: "The number of proposals that have failed initial validation."}).With(),
		aclFailures: r.Counter(operations.Opts{Name: "endorser_proposal_acl_failures", Labels: cc,
			Help: "The number of proposals that failed ACL checks."}),
		endorsementFailures: r.Counter(operations.Opts{Name: "endorser_endorsement_failures",
			Labels: []string{"channel", "chaincode", "chaincodeerror"}, Help: "The number of failed endorsements."}),
		duplicateTxs: r.Counter(operations.Opts{Name: "endorser_duplicate_transaction_failures", Labels: cc,
			Help: "The number of failed proposals due to duplicate transaction ID."}),
		simulationFailures: r.Counter(operations.Opts{Name: "endorser_proposal_simulation_failures", Labels: cc,
			Help: "The number of failed proposal simulations"}),
	}
}

// track follows one proposal through ProcessProposal for the metrics.
type track struct {
	channel, chaincode string
	// checked: the proposal passed validation, the duplicate check and the
	// ACL; only those proposals have their duration recorded, as in Fabric.
	checked bool
	// answered: a channel-less proposal reached its system chaincode.
	answered bool
}
