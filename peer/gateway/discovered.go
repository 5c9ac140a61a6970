package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/rpcrecover"
	"github.com/weft-ledger/weft/protos"
)

// ask sends the proposal to one peer: this peer's endorser in process,
// another over gRPC. Each call is bounded by EndorseTimeout.
func (s *Server) ask(ctx context.Context, t *target, sp *pb.SignedProposal) (*pb.ProposalResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.EndorseTimeout)
	defer cancel()
	if t.local {
		return s.cfg.Endorser.ProcessProposal(ctx, sp)
	}
	conn, err := s.conns.get(t.address, t.roots)
	if err != nil {
		return nil, err
	}
	return pb.NewEndorserClient(conn).ProcessProposal(ctx, sp)
}

// endorseAtTarget asks t to endorse; msg is "" on success.
func (s *Server) endorseAtTarget(ctx context.Context, t *target, sp *pb.SignedProposal) (e *endorsement, msg string) {
	pr, err := s.ask(ctx, t, sp)
	if msg := responseFailure(pr, err); msg != "" {
		return nil, msg
	}
	if pr.GetEndorsement() == nil {
		return nil, "endorser returned a successful response without an endorsement"
	}
	return &endorsement{mspID: t.mspID, address: t.address, response: pr}, ""
}

func detailOf(t *target, msg string) *gwpb.ErrorDetail {
	return &gwpb.ErrorDetail{Address: t.address, MspId: t.mspID, Message: msg}
}

// endorseDiscovered is Endorse planned by service discovery (the channel's
// peers are known from gossip). Without requested organisations it follows
// Fabric's gateway: a peer of the local organisation (this one unless
// another is higher) endorses first; the chaincode interest of its response
// (chaincodes called, collections written or read, key-level policies) is
// what discovery computes layouts for; the remaining endorsements are
// collected by the plan.
func (s *Server) endorseDiscovered(ctx context.Context, v *peerView, prop *protos.Proposal, sp *pb.SignedProposal, requested []string, log *slog.Logger) (*gwpb.EndorseResponse, error) {
	var p *plan
	var err error
	if len(requested) > 0 {
		p, err = s.planForOrgs(v, prop, requested)
	} else {
		p, err = s.planFromFirst(ctx, v, prop, sp, log)
	}
	if err != nil {
		return nil, err
	}
	s.collect(ctx, p, sp, log)
	if chosen := p.completed(); chosen != nil {
		return s.prepare(prop, chosen)
	}
	if ctx.Err() != nil {
		return nil, rpcError(status.FromContextError(ctx.Err()).Code(), "endorsement timeout expired while collecting endorsements", p.errorDetails()...)
	}
	details := p.errorDetails()
	orgs := map[string]bool{}
	for _, d := range details {
		orgs[d.MspId] = true
	}
	log.Warn("endorsement failed", "failed_orgs", strings.Join(sortedKeys(orgs), ","))
	return nil, rpcError(codes.Aborted, "failed to collect enough transaction endorsements, see attached details for more info", details...)
}

// planForOrgs is the plan for endorsing organisations the client named:
// one peer of each, best first, as Fabric's gateway does.
func (s *Server) planForOrgs(v *peerView, prop *protos.Proposal, requested []string) (*plan, error) {
	channelID, cc := prop.ChannelHeader.ChannelId, prop.ChaincodeName()
	if err := s.checkMembers(v.ch, channelID, requested); err != nil {
		return nil, err
	}
	byOrg := v.byOrg(cc)
	need := map[string]int{}
	groups := map[string][]*target{}
	var missing []string
	for _, org := range dedupe(requested) {
		if len(byOrg[org]) == 0 {
			missing = append(missing, org)
			continue
		}
		need[org] = 1
		groups[org] = byOrg[org]
	}
	if len(missing) > 0 {
		return nil, status.Errorf(codes.Unavailable, "failed to find any endorsing peers for org(s): %s: no peer of theirs that gossip knows on channel %s lists chaincode %s",
			strings.Join(missing, ", "), channelID, cc)
	}
	return newPlan([]map[string]int{need}, groups), nil
}

// checkMembers refuses endorsing organisations that are not channel members.
func (s *Server) checkMembers(ch *Channel, channelID string, orgs []string) error {
	known := map[string]bool{s.cfg.MSPID: true}
	for _, o := range ch.Orgs {
		known[o.MSPID] = true
	}
	for _, o := range orgs {
		if !known[o] {
			return status.Errorf(codes.FailedPrecondition, "endorsing organisation %s is not a member of channel %s", o, channelID)
		}
	}
	return nil
}

// planFromFirst endorses on a first peer and returns the plan discovery
// gives for the interest of its response, that endorsement recorded.
func (s *Server) planFromFirst(ctx context.Context, v *peerView, prop *protos.Proposal, sp *pb.SignedProposal, log *slog.Logger) (*plan, error) {
	channelID, cc := prop.ChannelHeader.ChannelId, prop.ChaincodeName()
	transient := len(prop.Payload.GetTransientMap()) > 0
	defaultInterest := &pb.ChaincodeInterest{Chaincodes: []*pb.ChaincodeCall{{Name: cc}}}

	var first *plan
	if local := v.byOrg(cc)[s.cfg.MSPID]; len(local) > 0 {
		first = newPlan([]map[string]int{{s.cfg.MSPID: 1}}, map[string][]*target{s.cfg.MSPID: local})
	} else if transient {
		return nil, status.Errorf(codes.FailedPrecondition, "no peer of the gateway's organisation %s lists chaincode %s on channel %s; retry specifying endorsing organization(s) to protect transient data", s.cfg.MSPID, cc, channelID)
	} else {
		desc, err := v.endorsers(defaultInterest)
		if err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "no combination of peers can be derived which satisfy the endorsement policy of chaincode %s on channel %s: %v", cc, channelID, err)
		}
		first, _ = v.planFromDescriptor(desc, nil)
	}
	ts := first.targets()
	if len(ts) == 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "no reachable peer can endorse chaincode %s on channel %s", cc, channelID)
	}
	t := ts[0]
	var got *endorsement
	for t != nil && got == nil {
		e, msg := s.endorseAtTarget(ctx, t, sp)
		if msg != "" {
			log.Warn("endorsement failed", "endorser", t.address, "msp_id", t.mspID, "reason", msg)
			first.fail(detailOf(t, msg))
			if ctx.Err() != nil {
				break
			}
			t = first.retry(t)
			continue
		}
		got = e
	}
	if got == nil {
		if ctx.Err() != nil {
			return nil, rpcError(status.FromContextError(ctx.Err()).Code(), "endorsement timeout expired while collecting first endorsement", first.errorDetails()...)
		}
		return nil, rpcError(codes.Aborted, "failed to endorse transaction, see attached details for more info", first.errorDetails()...)
	}

	// The interest is absent for chaincode that neither reads nor writes,
	// and from older peers: then the chaincode's own policy applies.
	interest := got.response.GetInterest()
	if len(interest.GetChaincodes()) == 0 {
		interest = defaultInterest
	}
	original := interest
	var protected []string
	if transient {
		// Transient data may go only to peers that hold the collections it
		// is for: ask discovery as if every collection were read privately.
		interest = proto.Clone(interest).(*pb.ChaincodeInterest)
		for _, c := range interest.Chaincodes {
			if c.NoPrivateReads {
				c.NoPrivateReads = false
				protected = append(protected, c.CollectionNames...)
			}
		}
	}
	desc, err := v.endorsers(interest)
	if err != nil {
		if len(protected) > 0 {
			if _, err2 := v.endorsers(original); err2 == nil {
				return nil, status.Errorf(codes.FailedPrecondition, "requires endorsement from organisation(s) that are not in the distribution policy of the private data collection(s): %s; retry specifying trusted endorsing organizations to protect transient data", strings.Join(protected, ", "))
			}
		}
		return nil, status.Errorf(codes.FailedPrecondition, "no combination of peers can be derived which satisfy the endorsement policy of chaincode %s on channel %s for this transaction (%s): %v", cc, channelID, interestText(interest), err)
	}
	p, unreachable := v.planFromDescriptor(desc, t)
	p.details = append(p.details, first.errorDetails()...)
	p.record(t, got)
	if p.empty() {
		return nil, status.Errorf(codes.FailedPrecondition, "failed to select a set of endorsers that satisfy the endorsement policy of chaincode %s on channel %s: %d endorsers discovery offers have no endpoint", cc, channelID, len(unreachable))
	}
	return p, nil
}

// interestText names the calls of an interest for error messages, e.g.
// "basic, basic collections coll1, callee".
func interestText(in *pb.ChaincodeInterest) string {
	var parts []string
	for _, c := range in.GetChaincodes() {
		s := c.Name
		if len(c.CollectionNames) > 0 {
			s += " collections " + strings.Join(c.CollectionNames, ",")
		}
		if len(c.KeyPolicies) > 0 {
			s += fmt.Sprintf(" with %d key-level policies", len(c.KeyPolicies))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// collect asks the peers of the plan's layouts, one layout at a time, until
// one is complete or none is left.
func (s *Server) collect(ctx context.Context, p *plan, sp *pb.SignedProposal, log *slog.Logger) {
	for p.completed() == nil && ctx.Err() == nil {
		ts := p.targets()
		if ts == nil {
			return
		}
		var wg sync.WaitGroup
		for _, t := range ts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A panic asking one peer fails that peer, named in the
				// error details, not the gateway.
				defer func() {
					if r := recover(); r != nil {
						pe := rpcrecover.Recovered(s.log, "endorsement by "+t.String(), r)
						p.fail(detailOf(t, pe.Error()))
					}
				}()
				if s.beforeRemote != nil && !t.local {
					s.beforeRemote(t.mspID)
				}
				for t != nil {
					e, msg := s.endorseAtTarget(ctx, t, sp)
					if msg == "" && p.record(t, e) {
						return
					}
					if msg != "" {
						log.Warn("endorsement failed", "endorser", t.address, "msp_id", t.mspID, "reason", msg)
						p.fail(detailOf(t, msg))
					}
					if ctx.Err() != nil {
						return
					}
					t = p.retry(t)
				}
			}()
		}
		wg.Wait()
	}
}

// evaluateDiscovered is Evaluate when gossip knows the channel's peers:
// as Fabric's gateway, the peers of the local organisation (or of the
// target organisations the client named) that list the chaincode are tried
// best first, then those of the other organisations by decreasing ledger
// height; a peer that cannot answer (unreachable, or failing before the
// chaincode answered) is replaced by the next, an error the chaincode
// returned is final. This peer is tried last when its state info does not
// list the chaincode yet.
func (s *Server) evaluateDiscovered(ctx context.Context, v *peerView, prop *protos.Proposal, sp *pb.SignedProposal, targetOrgs []string, log *slog.Logger) (*gwpb.EvaluateResponse, error) {
	channelID, cc := prop.ChannelHeader.ChannelId, prop.ChaincodeName()
	protected := false
	if len(targetOrgs) == 0 && len(prop.Payload.GetTransientMap()) > 0 {
		targetOrgs, protected = []string{s.cfg.MSPID}, true
	}
	byOrg := v.byOrg(cc)
	if len(targetOrgs) == 0 {
		targetOrgs = sortedMapKeys(byOrg)
		if !slices.Contains(targetOrgs, s.cfg.MSPID) {
			targetOrgs = append(targetOrgs, s.cfg.MSPID)
		}
	}
	var local, others []*target
	for _, org := range dedupe(targetOrgs) {
		if org == s.cfg.MSPID {
			local = byOrg[org]
		} else {
			others = append(others, byOrg[org]...)
		}
	}
	byHeight(others)
	candidates := append(local, others...)
	if slices.Contains(targetOrgs, s.cfg.MSPID) && !slices.ContainsFunc(candidates, func(t *target) bool { return t.local }) {
		for _, t := range v.targets {
			if t.local {
				candidates = append(candidates, t)
			}
		}
	}
	if len(candidates) == 0 {
		if protected {
			return nil, status.Errorf(codes.FailedPrecondition, "no endorsers found in the gateway's organization %s for chaincode %s on channel %s; retry specifying target organization(s) to protect transient data", s.cfg.MSPID, cc, channelID)
		}
		return nil, status.Errorf(codes.FailedPrecondition, "no peers available to evaluate chaincode %s in channel %s (organisations %s)", cc, channelID, strings.Join(targetOrgs, ", "))
	}
	var details []*gwpb.ErrorDetail
	for _, t := range candidates {
		pr, err := s.ask(ctx, t, sp)
		msg := responseFailure(pr, err)
		if msg == "" {
			return &gwpb.EvaluateResponse{Result: proposalResult(pr)}, nil
		}
		log.Debug("evaluate failed", "endorser", t.address, "msp_id", t.mspID, "reason", msg)
		details = append(details, detailOf(t, msg))
		if !retryable(pr, err) {
			return nil, rpcError(codes.Aborted, "evaluate call to endorser returned error: "+msg, details...)
		}
		if ctx.Err() != nil {
			return nil, rpcError(status.FromContextError(ctx.Err()).Code(), "evaluate timeout expired", details...)
		}
	}
	return nil, rpcError(codes.Aborted, "failed to evaluate transaction, see attached details for more info", details...)
}

// retryable says another peer may answer where this one failed, by
// Fabric's gateway rules: the peer could not be reached, or it failed
// before the chaincode answered (status 500 without a response payload).
// An error the chaincode returned would be the same elsewhere.
func retryable(pr *pb.ProposalResponse, err error) bool {
	if err != nil {
		return pr == nil
	}
	return pr.GetResponse().GetStatus() == 500 && len(pr.GetPayload()) == 0
}
