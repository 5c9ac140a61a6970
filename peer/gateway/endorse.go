package gateway

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weft-ledger/weft/internal/rpcrecover"
	"github.com/weft-ledger/weft/protos"
)

// endorsement is one organisation's answer to the proposal.
type endorsement struct {
	mspID    string
	address  string
	response *pb.ProposalResponse
}

// Endorse endorses the proposal on the local peer and on peers of the other
// organisations the chaincode's endorsement policy needs, and returns the
// prepared transaction for the client to sign.
func (s *Server) Endorse(ctx context.Context, req *gwpb.EndorseRequest) (*gwpb.EndorseResponse, error) {
	sp := req.GetProposedTransaction()
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "failed to unpack transaction proposal: %v", err)
	}
	channelID, cc, txID := prop.ChannelHeader.ChannelId, prop.ChaincodeName(), prop.ChannelHeader.TxId
	ch, err := s.channel(channelID)
	if err != nil {
		return nil, err
	}
	log := s.log.With("channel", channelID, "chaincode", cc, "txid", txID)

	// Query system chaincodes have no definition for discovery to plan
	// from: the local peer answers them (plan).
	if v := s.view(ch); v != nil && cc != "qscc" && cc != "cscc" {
		return s.endorseDiscovered(ctx, v, prop, sp, req.GetEndorsingOrganizations(), log)
	}
	candidates, err := s.plan(ch, channelID, cc, req.GetEndorsingOrganizations())
	if err != nil {
		return nil, err
	}

	got := map[string]*endorsement{} // successful endorsements by MSP ID
	failed := map[string]bool{}      // organisations none of whose peers endorsed
	var details []*gwpb.ErrorDetail  // every failure, for the final error
	if slices.ContainsFunc(candidates, func(l []string) bool { return slices.Contains(l, s.cfg.MSPID) }) {
		pr, err := s.cfg.Endorser.ProcessProposal(ctx, sp)
		if msg := responseFailure(pr, err); msg != "" {
			log.Warn("local endorsement failed", "reason", msg)
			failed[s.cfg.MSPID] = true
			details = append(details, &gwpb.ErrorDetail{Address: s.cfg.Endpoint, MspId: s.cfg.MSPID, Message: msg})
		} else {
			got[s.cfg.MSPID] = &endorsement{mspID: s.cfg.MSPID, address: s.cfg.Endpoint, response: pr}
		}
	}

	orgsByID := map[string]Org{}
	for _, o := range ch.Orgs {
		orgsByID[o.MSPID] = o
	}
	for _, layout := range candidates {
		if slices.ContainsFunc(layout, func(o string) bool { return failed[o] }) {
			continue
		}
		var missing []string
		for _, o := range layout {
			if got[o] == nil {
				missing = append(missing, o)
			}
		}
		for _, r := range s.endorseRemote(ctx, sp, missing, orgsByID) {
			if r.endorsement != nil {
				got[r.mspID] = r.endorsement
				continue
			}
			failed[r.mspID] = true
			details = append(details, r.details...)
		}
		if slices.ContainsFunc(layout, func(o string) bool { return failed[o] }) {
			continue
		}
		chosen := make([]*endorsement, 0, len(layout))
		for _, o := range layout {
			chosen = append(chosen, got[o])
		}
		return s.prepare(prop, chosen)
	}
	if ctx.Err() != nil {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	log.Warn("endorsement failed", "failed_orgs", strings.Join(sortedKeys(failed), ","))
	return nil, rpcError(codes.Aborted, "failed to endorse transaction, see attached details for more info", details...)
}

// plan returns the candidate sets of organisations to endorse with, in order
// of preference, from the chaincode's endorsement policy alone: the plan
// when discovery knows no peers of the channel, whose organisations are then
// reached through their anchor peers.
func (s *Server) plan(ch *Channel, channelID, cc string, requested []string) ([][]string, error) {
	if len(requested) > 0 {
		if err := s.checkMembers(ch, channelID, requested); err != nil {
			return nil, err
		}
		return [][]string{dedupe(requested)}, nil
	}
	ap, err := s.cfg.Chaincodes.EndorsementPolicy(channelID, cc)
	if err != nil && (cc == "qscc" || cc == "cscc") {
		// query system chaincodes have no definition: the local peer answers
		return [][]string{{s.cfg.MSPID}}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "no endorsement policy for chaincode %s on channel %s: %v", cc, channelID, err)
	}
	rule, err := applicationPolicyRule(ap, ch.Config)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "endorsement policy of chaincode %s on channel %s: %v", cc, channelID, err)
	}
	orgs := []string{}
	seen := map[string]bool{}
	for _, o := range append([]Org{{MSPID: s.cfg.MSPID}}, ch.Orgs...) {
		if !seen[o.MSPID] {
			seen[o.MSPID] = true
			orgs = append(orgs, o.MSPID)
		}
	}
	ls, err := layouts(rule, orgs, s.cfg.MSPID)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "chaincode %s on channel %s: %v", cc, channelID, err)
	}
	if len(ls) == 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "no combination of the organisations of channel %s (%s) can satisfy the endorsement policy of chaincode %s", channelID, strings.Join(orgs, ", "), cc)
	}
	return ls, nil
}

type remoteResult struct {
	mspID       string
	endorsement *endorsement
	details     []*gwpb.ErrorDetail
}

// endorseRemote asks one peer of each organisation, concurrently, trying the
// organisation's peers in turn until one endorses.
func (s *Server) endorseRemote(ctx context.Context, sp *pb.SignedProposal, mspIDs []string, orgs map[string]Org) []remoteResult {
	results := make([]remoteResult, len(mspIDs))
	var wg sync.WaitGroup
	for i, id := range mspIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A panic asking one organisation fails that organisation's
			// endorsement, named in the error details, not the peer.
			defer func() {
				if r := recover(); r != nil {
					pe := rpcrecover.Recovered(s.log, "endorsement by organisation "+id, r)
					results[i] = remoteResult{mspID: id, details: []*gwpb.ErrorDetail{{MspId: id, Message: pe.Error()}}}
				}
			}()
			if s.beforeRemote != nil {
				s.beforeRemote(id)
			}
			results[i] = s.endorseOrg(ctx, sp, id, orgs)
		}()
	}
	wg.Wait()
	return results
}

func (s *Server) endorseOrg(ctx context.Context, sp *pb.SignedProposal, mspID string, orgs map[string]Org) remoteResult {
	res := remoteResult{mspID: mspID}
	org, ok := orgs[mspID]
	if !ok || len(org.Endpoints) == 0 {
		res.details = append(res.details, &gwpb.ErrorDetail{MspId: mspID, Message: fmt.Sprintf("no peers of organisation %s are known: the channel config lists no anchor peers for it", mspID)})
		return res
	}
	for _, addr := range org.Endpoints {
		msg := s.endorseAt(ctx, sp, addr, org, &res)
		if msg == "" {
			return res
		}
		s.log.Warn("remote endorsement failed", "endorser", addr, "msp_id", mspID, "reason", msg)
		res.details = append(res.details, &gwpb.ErrorDetail{Address: addr, MspId: mspID, Message: msg})
		if ctx.Err() != nil {
			break
		}
	}
	return res
}

func (s *Server) endorseAt(ctx context.Context, sp *pb.SignedProposal, addr string, org Org, res *remoteResult) string {
	conn, err := s.conns.get(addr, org.TLSRoots)
	if err != nil {
		return err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.EndorseTimeout)
	defer cancel()
	pr, err := pb.NewEndorserClient(conn).ProcessProposal(ctx, sp)
	if msg := responseFailure(pr, err); msg != "" {
		return msg
	}
	if pr.GetEndorsement() == nil {
		return "endorser returned a successful response without an endorsement"
	}
	res.endorsement = &endorsement{mspID: org.MSPID, address: addr, response: pr}
	return ""
}

// prepare checks that every chosen endorsement endorses the same result and
// builds the unsigned transaction envelope.
func (s *Server) prepare(prop *protos.Proposal, chosen []*endorsement) (*gwpb.EndorseResponse, error) {
	first := chosen[0]
	var responses []*pb.ProposalResponse
	for _, e := range chosen {
		if !bytes.Equal(e.response.GetPayload(), first.response.GetPayload()) {
			aName := fmt.Sprintf("peer %s (%s)", first.address, first.mspID)
			bName := fmt.Sprintf("peer %s (%s)", e.address, e.mspID)
			msg := fmt.Sprintf("endorsements differ between %s and %s: %s; the chaincode may be non-deterministic or the peers' states differ",
				aName, bName, firstDifference(aName, first.response, bName, e.response))
			return nil, rpcError(codes.Aborted, msg,
				&gwpb.ErrorDetail{Address: first.address, MspId: first.mspID, Message: msg},
				&gwpb.ErrorDetail{Address: e.address, MspId: e.mspID, Message: msg})
		}
		responses = append(responses, e.response)
	}
	payload, err := protos.NewTransaction(prop, responses)
	if err != nil {
		return nil, status.Errorf(codes.Aborted, "assemble transaction %s: %v", prop.ChannelHeader.TxId, err)
	}
	return &gwpb.EndorseResponse{PreparedTransaction: &cb.Envelope{Payload: protos.Marshal(payload)}}, nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
