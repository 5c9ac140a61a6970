package endorser

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/acl"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

// Fabric's default channel policies of the ACLs the endorser applies.
const (
	WritersPolicy = acl.ChannelWriters
	ReadersPolicy = acl.ChannelReaders
)

// SystemChaincodeVersion is the version endorsements of system chaincodes carry.
const SystemChaincodeVersion = "syscc"

// LocalMSP checks the creators of channel-less proposals; *msp.MSP satisfies it.
type LocalMSP interface {
	DeserializeIdentity(serialized []byte) (*msp.Identity, error)
	Validate(id *msp.Identity) error
}

// ChannelConfig is the part of a channel's configuration the endorser needs;
// *channelconfig.Bundle satisfies it.
type ChannelConfig interface {
	MSPs() *msp.Manager
	Policy(path string) (channelconfig.Policy, error)
	// Application is the application section (capabilities); nil when the
	// channel has none.
	Application() *channelconfig.ApplicationConfig
	// ACLPolicyRef is the policy the channel's ACLs assign to a resource
	// (peer/Propose, peer/ChaincodeToChaincode), false when they assign none.
	ACLPolicyRef(resource string) (string, bool)
}

// appCapabilities lists a channel's application capabilities (V2_5 gates
// PurgePrivateData).
func appCapabilities(c ChannelConfig) []string {
	if app := c.Application(); app != nil {
		return app.Capabilities
	}
	return nil
}

// Simulator is a transaction simulator; *ledger.Simulator satisfies it.
type Simulator interface {
	chaincode.TxSimulator
	Results() (*rwset.TxReadWriteSet, *rwset.TxPvtReadWriteSet, error)
	Done()
}

// CommittedState reads committed public and private state without recording
// reads; lifecycle.DBState satisfies it.
type CommittedState interface {
	GetState(ns, key string) ([]byte, error)
	GetPrivateData(ns, coll, key string) ([]byte, error)
}

// Ledger is the part of a channel ledger the endorser needs; NewLedger adapts
// a *ledger.Ledger.
type Ledger interface {
	TxExists(txID string) (bool, error)
	NewSimulator(txID string) Simulator
	CommittedState() CommittedState
}

// Channel is one channel this peer has joined.
type Channel struct {
	Config ChannelConfig
	Ledger Ledger
	// Definitions, when set, caches the channel's committed chaincode
	// definitions; its owner invalidates it when a block writes `_lifecycle`.
	Definitions *lifecycle.DefinitionCache
}

// Channels finds the channels this peer has joined.
type Channels interface {
	// Channel returns the channel, or an error when the peer has not joined it.
	Channel(channelID string) (*Channel, error)
}

// Definitions resolves user chaincode; *lifecycle.Lifecycle satisfies it.
type Definitions interface {
	ChaincodeDefinition(channel string, state lifecycle.StateReader, name string) (*lifecycle.Definition, error)
	ApprovedPackageID(channel string, state lifecycle.PrivateStateReader, name string, sequence int64) (string, error)
}

// Executor runs user chaincode; *chaincode.Runtime satisfies it.
type Executor interface {
	Execute(ctx context.Context, packageID string, txc *chaincode.TxContext, input *pb.ChaincodeInput) (*pb.Response, *pb.ChaincodeEvent, error)
}

// TransientStore keeps private write sets until their transaction commits,
// and hands them to the other peers that must hold them (the peer pushes
// each collection to its member peers). Put is given the channel so that the
// store can record the channel's ledger height and purge by it; an error
// fails the endorsement, which would otherwise promise private data this
// peer does not hold, or that fewer peers than a collection's
// requiredPeerCount hold.
type TransientStore interface {
	Put(channelID, txID string, pvt *rwset.TxPvtReadWriteSet) error
}

// Config holds the dependencies of an Endorser.
type Config struct {
	Signer      protos.Signer // the peer's signing identity
	LocalMSP    LocalMSP
	Channels    Channels
	System      []chaincode.SystemChaincode
	Runtime     Executor
	Definitions Definitions
	Transient   TransientStore
	Logger      *slog.Logger
	// Metrics receives the endorser_* metrics; nil: a registry of its own
	// that nobody reads.
	Metrics *Metrics
}

// Endorser serves protos.Endorser/ProcessProposal.
type Endorser struct {
	pb.UnimplementedEndorserServer

	signer      protos.Signer
	endorser    []byte // serialized peer identity
	localMSP    LocalMSP
	channels    Channels
	system      map[string]chaincode.SystemChaincode
	runtime     Executor
	definitions Definitions
	transient   TransientStore
	log         *slog.Logger
	metrics     *Metrics
}

// New returns an Endorser; Signer, Channels and LocalMSP are required.
func New(cfg Config) (*Endorser, error) {
	if cfg.Signer == nil || cfg.Channels == nil || cfg.LocalMSP == nil {
		return nil, errors.New("endorser: Config needs Signer, Channels and LocalMSP")
	}
	ser, err := cfg.Signer.Serialize()
	if err != nil {
		return nil, fmt.Errorf("endorser: serialize the peer identity: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Endorser{
		signer: cfg.Signer, endorser: ser, localMSP: cfg.LocalMSP, channels: cfg.Channels,
		system: map[string]chaincode.SystemChaincode{}, runtime: cfg.Runtime, definitions: cfg.Definitions,
		transient: cfg.Transient, log: log.With("component", "endorser"), metrics: cfg.Metrics,
	}
	if e.metrics == nil {
		e.metrics = NewMetrics(operations.NewRegistry())
	}
	for _, scc := range cfg.System {
		e.system[scc.Name()] = scc
	}
	return e, nil
}

// failure answers a refused proposal with status 500 and a message naming the cause.
func failure(format string, args ...any) (*pb.ProposalResponse, error) {
	return &pb.ProposalResponse{Response: &pb.Response{Status: 500, Message: fmt.Sprintf(format, args...)}}, nil
}

// ProcessProposal checks, simulates and endorses one signed proposal.
func (e *Endorser) ProcessProposal(ctx context.Context, sp *pb.SignedProposal) (*pb.ProposalResponse, error) {
	start := time.Now()
	e.metrics.proposalsReceived.Inc()
	var tr track
	pr, err := e.process(ctx, sp, &tr)
	if tr.checked {
		// Fabric's success: endorsed, or a channel-less proposal answered.
		success := err == nil && (pr.GetEndorsement() != nil || (tr.channel == "" && tr.answered))
		if success {
			e.metrics.successfulProposals.Inc()
		}
		e.metrics.proposalDuration.Observe(time.Since(start).Seconds(), tr.channel, tr.chaincode, strconv.FormatBool(success))
	}
	return pr, err
}

// process is ProcessProposal; tr follows the proposal for the metrics.
func (e *Endorser) process(ctx context.Context, sp *pb.SignedProposal, tr *track) (*pb.ProposalResponse, error) {
	p, err := protos.ParseProposal(sp)
	if err != nil {
		e.metrics.validationFailures.Inc()
		return failure("malformed proposal: %v", err)
	}
	chdr, shdr := p.ChannelHeader, p.SignatureHeader
	if err := checkProposalHeader(chdr, shdr); err != nil {
		e.metrics.validationFailures.Inc()
		return failure("%v", err)
	}
	if !txIDMatches(chdr.TxId, shdr.Nonce, shdr.Creator) {
		e.metrics.validationFailures.Inc()
		return failure("invalid txid: got %q, but nonce and creator give %q", chdr.TxId, protos.ComputeTxID(shdr.Nonce, shdr.Creator))
	}
	ccName := p.ChaincodeName()
	tr.channel, tr.chaincode = chdr.ChannelId, ccName
	// The request's logger is made only when something is logged: With
	// formats its attributes at once, a cost every proposal paid before.
	log := func() *slog.Logger {
		return e.log.With("txid", chdr.TxId, "channel", chdr.ChannelId, "chaincode", ccName)
	}

	if chdr.ChannelId == "" {
		fn := ""
		if args := p.Args(); len(args) > 0 {
			fn = string(args[0])
		}
		return e.processChannelless(ctx, p, ccName, fn, log, tr)
	}
	ch, err := e.channels.Channel(chdr.ChannelId)
	if err != nil {
		return failure("channel %s: %v", chdr.ChannelId, err)
	}
	creator, err := ch.Config.MSPs().DeserializeIdentity(shdr.Creator)
	if err != nil {
		e.metrics.validationFailures.Inc()
		return failure("access denied: creator of proposal %s is not a valid identity on channel %s: %v", chdr.TxId, chdr.ChannelId, err)
	}
	if err := creator.CheckExpiry(time.Now()); err != nil {
		e.metrics.validationFailures.Inc()
		return failure("access denied: creator of proposal %s on channel %s: %v", chdr.TxId, chdr.ChannelId, err)
	}
	if err := creator.Verify(sp.ProposalBytes, sp.Signature); err != nil {
		e.metrics.validationFailures.Inc()
		return failure("access denied: proposal signature of %s does not verify: %v", creator, err)
	}
	// As in Fabric, a proposal to user chaincode must satisfy the channel's
	// peer/Propose ACL; a system chaincode checks the ACL of the function
	// called itself (qscc/<function>, cscc/<function>, _lifecycle/<function>).
	if _, isSystem := e.system[ccName]; !isSystem {
		// The signature was just verified by the creator's identity: the ACL
		// checks who signed, without verifying the same signature again.
		set := channelconfig.NewSignatureSet([]protos.SignedData{p.SignedData()})
		set.MarkVerified(0)
		if err := acl.Check(ch.Config, chdr.ChannelId, acl.PeerPropose, set, shdr.Creator); err != nil {
			e.metrics.aclFailures.Inc(chdr.ChannelId, ccName)
			return failure("%v (proposal %s to chaincode %s)", err, chdr.TxId, ccName)
		}
	}
	if dup, err := ch.Ledger.TxExists(chdr.TxId); err != nil {
		return failure("check txid %s on channel %s: %v", chdr.TxId, chdr.ChannelId, err)
	} else if dup {
		e.metrics.duplicateTxs.Inc(chdr.ChannelId, ccName)
		return failure("duplicate transaction found [%s]: it is already on channel %s; send a new proposal (fresh nonce)", chdr.TxId, chdr.ChannelId)
	}

	tr.checked = true
	sim := ch.Ledger.NewSimulator(chdr.TxId)
	defer sim.Done()
	txc := &chaincode.TxContext{
		ChannelID: chdr.ChannelId, TxID: chdr.TxId, SignedProposal: sp, Proposal: p, Creator: creator,
		Simulator: sim, Transient: p.Payload.GetTransientMap(), Namespace: ccName,
		History: historyOf(ch.Ledger), Invoker: e, ApplicationCapabilities: appCapabilities(ch.Config),
		Collection: collectionAccess(sim),
	}
	input := p.Invocation.GetChaincodeSpec().GetInput()
	if input == nil {
		input = &pb.ChaincodeInput{}
	}

	var (
		resp    *pb.Response
		event   *pb.ChaincodeEvent
		version string
	)
	if scc, ok := e.system[ccName]; ok {
		version = SystemChaincodeVersion
		resp, event = scc.Invoke(ctx, txc, input)
	} else {
		pkgID, def, err := e.resolve(chdr.ChannelId, ccName, ch.Definitions, ch.Ledger.CommittedState(), sim)
		if err != nil {
			return failure("%v", err)
		}
		version = def.Version
		if err := checkInit(ccName, def, sim, input); err != nil {
			return failure("error in simulation: failed to execute transaction %s: invalid invocation: %v", chdr.TxId, err)
		}
		if e.runtime == nil {
			return failure("this peer runs no user chaincode (no chaincode runtime configured)")
		}
		resp, event, err = e.runtime.Execute(ctx, pkgID, txc, input)
		if err != nil {
			e.metrics.simulationFailures.Inc(chdr.ChannelId, ccName)
			log().Info("chaincode execution failed", "err", err)
			return failure("error in simulation: %v", err)
		}
	}
	if resp == nil {
		return failure("chaincode %s returned no response", ccName)
	}
	if resp.Status >= 400 && resp.Status < 500 {
		// Fabric counts a chaincode error status from 400 to 499 as a
		// failed endorsement, answered with the response alone.
		e.metrics.endorsementFailures.Inc(chdr.ChannelId, ccName, "true")
		return &pb.ProposalResponse{Response: resp}, nil
	}
	if resp.Status >= 500 {
		// The chaincode's own error: unendorsed, but with the proposal
		// response payload and the interest, as Fabric answers it. A gateway
		// reads the payload as "the chaincode answered" and does not ask
		// another peer the same question.
		return e.chaincodeError(p, ccName, version, sim, ch, resp, event), nil
	}

	pub, pvt, decoded, err := simResults(sim)
	if err != nil {
		e.metrics.simulationFailures.Inc(chdr.ChannelId, ccName)
		return failure("collect simulation results of %s: %v", chdr.TxId, err)
	}
	if pvt != nil && len(pvt.NsPvtRwset) > 0 {
		if e.transient == nil {
			return failure("chaincode %s wrote private data but this peer has no transient store", ccName)
		}
		if err := e.transient.Put(chdr.ChannelId, chdr.TxId, pvt); err != nil {
			// Keeping the data, or pushing it to the collections' member
			// peers (requiredPeerCount), failed: the error says which.
			return failure("chaincode %s wrote private data: %v", ccName, err)
		}
	}
	meta, _ := ch.Ledger.(KeyMetadataReader)
	interest, err := buildInterest(pub, decoded, privateReadsOf(sim), meta, e.isSystem)
	if err != nil {
		e.metrics.simulationFailures.Inc(chdr.ChannelId, ccName)
		return failure("build the chaincode interest of %s: %v", chdr.TxId, err)
	}
	pr, err := e.endorse(p, ccName, version, pub, resp, event)
	if pr.GetEndorsement() != nil {
		// Not signed: the interest tells gateways and clients which
		// endorsers the transaction needs (Fabric's Interest).
		pr.Interest = interest
	}
	return pr, err
}

// txIDMatches reports whether txID is protos.ComputeTxID(nonce, creator),
// the lower-case hex SHA-256 of nonce and creator, without building that
// string: the digest and its hex are kept on the stack.
func txIDMatches(txID string, nonce, creator []byte) bool {
	if len(txID) != 2*sha256.Size {
		return false
	}
	h := sha256.New()
	h.Write(nonce)
	h.Write(creator)
	var sum [sha256.Size]byte
	var want [2 * sha256.Size]byte
	hex.Encode(want[:], h.Sum(sum[:0]))
	return string(want[:]) == txID
}

// collectionAccess is a TxContext's Collection: the rules of a collection
// as defined on the channel, read through the transaction's simulator, as
// Fabric reads them (its read/write set records the definition's keys).
func collectionAccess(state lifecycle.StateReader) func(ns, coll string) (chaincode.CollectionAccess, error) {
	return func(ns, coll string) (chaincode.CollectionAccess, error) {
		c, err := lifecycle.CollectionOf(state, ns, coll, lifecycle.DefaultImplicitDissemination)
		if errors.Is(err, lifecycle.ErrNoCollection) {
			return chaincode.CollectionAccess{}, fmt.Errorf("%w: %v", chaincode.ErrUnknownCollection, err)
		}
		if err != nil {
			return chaincode.CollectionAccess{}, err
		}
		return chaincode.CollectionAccess{MemberOrgs: c.MemberOrgs, MemberOnlyRead: c.MemberOnlyRead, MemberOnlyWrite: c.MemberOnlyWrite}, nil
	}
}

// isSystem tells the system chaincodes, whose namespaces the chaincode
// interest leaves out as Fabric's does.
func (e *Endorser) isSystem(ns string) bool {
	_, ok := e.system[ns]
	return ok || ns == lifecycle.Namespace
}

// processChannelless runs the peer-local system functions that take no
// channel: _lifecycle install and installed-package queries, cscc, and qscc
// (which, like Fabric's, checks the Readers policy of the channel it is asked about).
func (e *Endorser) processChannelless(ctx context.Context, p *protos.Proposal, ccName, fn string, log func() *slog.Logger, tr *track) (*pb.ProposalResponse, error) {
	allowed := ccName == "cscc" || ccName == "qscc" || (ccName == lifecycle.Namespace && (fn == "InstallChaincode" ||
		fn == "QueryInstalledChaincode" || fn == "QueryInstalledChaincodes" || fn == "GetInstalledChaincodePackage"))
	if !allowed {
		return failure("%s.%s needs a channel: only cscc, qscc and _lifecycle install and installed-package queries may be sent without a channel ID", ccName, fn)
	}
	scc, ok := e.system[ccName]
	if !ok {
		return failure("system chaincode %s is not available on this peer", ccName)
	}
	// Every channel-less creator, qscc's included, must hold a current certificate.
	if err := msp.CheckExpiry(p.SignatureHeader.Creator, time.Now()); err != nil {
		e.metrics.validationFailures.Inc()
		return failure("access denied: creator of proposal %s: %v", p.ChannelHeader.TxId, err)
	}
	var creator *msp.Identity
	if ccName != "qscc" {
		// qscc checks the signed proposal against the Readers policy of the
		// channel it is asked about; everything else here is for local admins.
		var err error
		if creator, err = e.localMSP.DeserializeIdentity(p.SignatureHeader.Creator); err != nil {
			e.metrics.validationFailures.Inc()
			return failure("access denied: creator is not an identity of this peer's MSP: %v", err)
		}
		if err := e.localMSP.Validate(creator); err != nil {
			e.metrics.validationFailures.Inc()
			return failure("access denied: creator %s is not valid: %v", creator, err)
		}
		if err := creator.Verify(p.Signed.ProposalBytes, p.Signed.Signature); err != nil {
			e.metrics.validationFailures.Inc()
			return failure("access denied: proposal signature of %s does not verify: %v", creator, err)
		}
	}
	tr.checked = true
	txc := &chaincode.TxContext{
		TxID: p.ChannelHeader.TxId, SignedProposal: p.Signed, Proposal: p, Creator: creator,
		Transient: p.Payload.GetTransientMap(), Namespace: ccName,
	}
	input := p.Invocation.GetChaincodeSpec().GetInput()
	if input == nil {
		input = &pb.ChaincodeInput{}
	}
	resp, _ := scc.Invoke(ctx, txc, input)
	if resp == nil {
		return failure("system chaincode %s returned no response", ccName)
	}
	tr.answered = true
	if e.log.Enabled(ctx, slog.LevelDebug) {
		log().Debug("channel-less proposal", "function", fn, "status", resp.Status)
	}
	// Channel-less invocations are answered, not endorsed, as Fabric does.
	return &pb.ProposalResponse{Response: resp}, nil
}

// checkProposalHeader applies Fabric v2.5's header rules for proposals.
// ENDORSER_TRANSACTION is what every proposal should carry, but Fabric's
// endorser also admits CONFIG, and Fabric's own `peer channel join` and
// `joinbysnapshot` send their cscc proposals with it, so Weft admits both.
func checkProposalHeader(chdr *cb.ChannelHeader, shdr *cb.SignatureHeader) error {
	switch typ := cb.HeaderType(chdr.Type); typ {
	case cb.HeaderType_ENDORSER_TRANSACTION, cb.HeaderType_CONFIG:
	default:
		return fmt.Errorf("invalid header type %s: a proposal's channel header must have type ENDORSER_TRANSACTION (or CONFIG, as Fabric's channel join sends)", typ)
	}
	if chdr.Epoch != 0 {
		return fmt.Errorf("invalid channel header: epoch is %d, it must be 0", chdr.Epoch)
	}
	if len(shdr.Nonce) == 0 {
		return fmt.Errorf("invalid signature header: the nonce is empty")
	}
	if len(shdr.Creator) == 0 {
		return fmt.Errorf("invalid signature header: the creator is empty")
	}
	return nil
}

// resolve returns the package ID this org approved for the chaincode's current
// definition, and the definition. Like Fabric it records a read of
// the definition's sequence in the transaction, so an upgrade between
// endorsement and commit invalidates it. The definition and package ID may
// come from cache; the sequence read through the simulator is checked against
// the definition used, so an endorsement never pairs a cached definition with
// the read of a newer one.
func (e *Endorser) resolve(channelID, name string, cache *lifecycle.DefinitionCache, committed CommittedState, sim lifecycle.StateReader) (string, *lifecycle.Definition, error) {
	if e.definitions == nil {
		return "", nil, fmt.Errorf("chaincode %s is not defined on channel %s (this peer has no chaincode definitions)", name, channelID)
	}
	loadDef := func(name string) (*lifecycle.Definition, error) {
		return e.definitions.ChaincodeDefinition(channelID, committed, name)
	}
	def, err := cache.Get(name, loadDef)
	if errors.Is(err, lifecycle.ErrNotDefined) {
		return "", nil, fmt.Errorf("chaincode %s is not defined on channel %s", name, channelID)
	}
	if err != nil {
		return "", nil, fmt.Errorf("read the definition of chaincode %s on channel %s: %w", name, channelID, err)
	}
	seq, err := lifecycle.ReadSequence(sim, name)
	if err != nil {
		return "", nil, fmt.Errorf("record the definition read of chaincode %s: %w", name, err)
	}
	if seq != def.Sequence {
		// A definition committed after the cached one was read: drop the
		// cache and read again.
		cache.Invalidate()
		if def, err = cache.Get(name, loadDef); err != nil {
			return "", nil, fmt.Errorf("read the definition of chaincode %s on channel %s: %w", name, channelID, err)
		}
		if seq != def.Sequence {
			return "", nil, fmt.Errorf("the definition of chaincode %s on channel %s changed during endorsement (sequence %d read, %d committed); send the proposal again",
				name, channelID, seq, def.Sequence)
		}
	}
	pkgID, err := cache.PackageID(name, def.Sequence, func(name string, seq int64) (string, error) {
		return e.definitions.ApprovedPackageID(channelID, committed, name, seq)
	})
	if err != nil || pkgID == "" {
		if err == nil {
			err = errors.New("no package approved")
		}
		return "", nil, fmt.Errorf("chaincode definition for %s (sequence %d) exists on channel %s, but this peer's organisation has no package approved and installed for it: %v; install the package and approve it with its package ID",
			name, def.Sequence, channelID, err)
	}
	return pkgID, def, nil
}

// endorse builds and signs the ProposalResponse.
func (e *Endorser) endorse(p *protos.Proposal, ccName, version string, pub *rwset.TxReadWriteSet, resp *pb.Response, event *pb.ChaincodeEvent) (*pb.ProposalResponse, error) {
	// The payload is built with room for the endorser after it: the signed
	// message is the two joined, made without a second buffer or copy.
	prp, err := responsePayload(p, ccName, version, pub, resp, event, len(e.endorser))
	if err != nil {
		return failure("%v", err)
	}
	msg := append(prp[:len(prp):cap(prp)], e.endorser...)
	sig, err := e.signer.Sign(msg)
	if err != nil {
		e.metrics.endorsementFailures.Inc(p.ChannelHeader.ChannelId, ccName, "false")
		return failure("sign endorsement: %v", err)
	}
	return &pb.ProposalResponse{
		Version:     1,
		Response:    resp,
		Payload:     prp[:len(prp):len(prp)],
		Endorsement: &pb.Endorsement{Endorser: e.endorser, Signature: sig},
	}, nil
}

// responsePayload is the proposal response payload of a simulation: the
// proposal's hash and the chaincode action (results, event, response). The
// returned slice has spare capacity of at least extra bytes.
//
// The payload nests the chaincode action, which nests the marshalled
// read/write set and event: marshalled message by message, each level is a
// buffer of its own and a copy of the level below. encodeResponsePayload
// writes all levels into one buffer, sized beforehand; its bytes are those
// of marshalResponsePayload, which remains for anything it declines.
func responsePayload(p *protos.Proposal, ccName, version string, pub *rwset.TxReadWriteSet, resp *pb.Response, event *pb.ChaincodeEvent, extra int) ([]byte, error) {
	if prp, ok := encodeResponsePayload(p.Hash(), ccName, version, pub, resp, event, extra); ok {
		return prp, nil
	}
	return marshalResponsePayload(p.Hash(), ccName, version, pub, resp, event)
}

// marshalResponsePayload marshals the proposal response payload level by
// level.
func marshalResponsePayload(hash []byte, ccName, version string, pub *rwset.TxReadWriteSet, resp *pb.Response, event *pb.ChaincodeEvent) ([]byte, error) {
	results, err := proto.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal read/write set: %w", err)
	}
	var events []byte
	if event != nil {
		if events, err = proto.Marshal(event); err != nil {
			return nil, fmt.Errorf("marshal chaincode event: %w", err)
		}
	}
	ext, err := proto.Marshal(&pb.ChaincodeAction{
		Results:     results,
		Events:      events,
		Response:    resp,
		ChaincodeId: &pb.ChaincodeID{Name: ccName, Version: version},
	})
	if err != nil {
		return nil, fmt.Errorf("marshal chaincode action: %w", err)
	}
	prp, err := proto.Marshal(&pb.ProposalResponsePayload{ProposalHash: hash, Extension: ext})
	if err != nil {
		return nil, fmt.Errorf("marshal proposal response payload: %w", err)
	}
	return prp, nil
}

// Field numbers of the messages encodeResponsePayload writes.
const (
	prpProposalHash  = 1 // ProposalResponsePayload.proposal_hash
	prpExtension     = 2 // ProposalResponsePayload.extension
	actionResults    = 1 // ChaincodeAction.results
	actionEvents     = 2 // ChaincodeAction.events
	actionResponse   = 3 // ChaincodeAction.response
	actionChaincode  = 4 // ChaincodeAction.chaincode_id
	chaincodeName    = 2 // ChaincodeID.name
	chaincodeVersion = 3 // ChaincodeID.version
)

// appendStringField appends field num holding s, nothing when s is empty.
func appendStringField(buf []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return buf
	}
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	return protowire.AppendString(buf, s)
}

// encodeResponsePayload writes the proposal response payload in one buffer
// with extra bytes of spare capacity. Fields come in field number order and
// empty bytes and strings are left out, as proto.Marshal writes them. It
// declines (false) whatever proto.Marshal might refuse, so that
// marshalResponsePayload reports the error as it always has.
func encodeResponsePayload(hash []byte, ccName, version string, pub *rwset.TxReadWriteSet, resp *pb.Response, event *pb.ChaincodeEvent, extra int) ([]byte, bool) {
	if !utf8.ValidString(ccName) || !utf8.ValidString(version) {
		return nil, false
	}
	// proto.Size records the sizes of the messages in them, which
	// MarshalAppend then reuses (UseCachedSize) instead of computing again.
	results := proto.Size(pub)
	events := 0
	if event != nil {
		events = proto.Size(event)
	}
	respSize := 0
	if resp != nil {
		respSize = proto.Size(resp)
	}
	ccid := bytesFieldSize(len(ccName)) + bytesFieldSize(len(version))
	ext := bytesFieldSize(results) + bytesFieldSize(events) + 1 + protowire.SizeBytes(ccid)
	if resp != nil {
		ext += 1 + protowire.SizeBytes(respSize)
	}
	size := bytesFieldSize(len(hash)) + bytesFieldSize(ext)

	opts := proto.MarshalOptions{UseCachedSize: true}
	buf := make([]byte, 0, size+extra)
	buf = appendBytesField(buf, prpProposalHash, hash)
	buf = protowire.AppendTag(buf, prpExtension, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(ext))
	// appendMessage appends m, expected to take n bytes; false when it fails
	// or its size changed since it was measured.
	appendMessage := func(num protowire.Number, m proto.Message, n int, always bool) bool {
		if n == 0 && !always {
			return true
		}
		buf = protowire.AppendTag(buf, num, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(n))
		start := len(buf)
		var err error
		buf, err = opts.MarshalAppend(buf, m)
		return err == nil && len(buf)-start == n
	}
	if !appendMessage(actionResults, pub, results, false) {
		return nil, false
	}
	if event != nil && !appendMessage(actionEvents, event, events, false) {
		return nil, false
	}
	if resp != nil && !appendMessage(actionResponse, resp, respSize, true) {
		return nil, false
	}
	buf = protowire.AppendTag(buf, actionChaincode, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(ccid))
	buf = appendStringField(buf, chaincodeName, ccName)
	buf = appendStringField(buf, chaincodeVersion, version)
	if len(buf) != size {
		return nil, false
	}
	return buf, true
}

// bytesFieldSize is the encoded size of a bytes, string or message field
// of n bytes, nothing when n is 0 (proto3 leaves empty bytes and strings
// out).
func bytesFieldSize(n int) int {
	if n == 0 {
		return 0
	}
	return 1 + protowire.SizeBytes(n)
}

// appendBytesField appends field num holding b, nothing when b is empty.
func appendBytesField(buf []byte, num protowire.Number, b []byte) []byte {
	if len(b) == 0 {
		return buf
	}
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	return protowire.AppendBytes(buf, b)
}

// chaincodeError answers a chaincode's error status (500 and above) as
// Fabric does: the response, the proposal response payload and the
// interest, with no endorsement. What cannot be built is left out.
func (e *Endorser) chaincodeError(p *protos.Proposal, ccName, version string, sim Simulator, ch *Channel, resp *pb.Response, event *pb.ChaincodeEvent) *pb.ProposalResponse {
	out := &pb.ProposalResponse{Response: resp}
	pub, _, decoded, err := simResults(sim)
	if err != nil {
		return out
	}
	if prp, err := responsePayload(p, ccName, version, pub, resp, event, 0); err == nil {
		out.Payload = prp
	}
	meta, _ := ch.Ledger.(KeyMetadataReader)
	if interest, err := buildInterest(pub, decoded, privateReadsOf(sim), meta, e.isSystem); err == nil {
		out.Interest = interest
	}
	return out
}
