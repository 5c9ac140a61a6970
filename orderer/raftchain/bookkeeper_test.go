package raftchain

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/scripttest"
	"github.com/weft-ledger/weft/orderer/blockcutter"
	"github.com/weft-ledger/weft/protos"
)

// TestBookkeeperScripts replays testdata/*.txt against a bookkeeper, as the
// chain's loop would drive it, with a Raft log and cluster played by the
// script. Each case is a command line, a "----" line and the expected
// output, cases separated by blank lines ('#' lines between cases are
// comments). Every command takes at=D to set the clock (a duration after
// the epoch) first; one tick is one second.
//
//	new node=N consenters=1,2,3 [voters=..] [resumed] [hold] [count=N absolute=N preferred=N batch-timeout=D] [submit-ticks=N] [election=N]
//	    a bookkeeper at block 0 (a config block listing the consenters);
//	    voters default to the consenters; resumed: restarted from a WAL;
//	    hold: Config.HoldBatches (no cut because the pipeline is idle)
//	config NAME seq=N consenters=1,2 [count=N absolute=N preferred=N batch-timeout=D]
//	    names a CONFIG envelope (optionally with batch settings)
//	role leader=N [unapplied=N]
//	    Raft reports leader N (0: none; this node's id: it leads), with N
//	    entries in its log not applied yet
//	submit NAME[:SIZE] ...         this node proposes envelopes
//	commit NAME[:SIZE] ...         envelopes reach the log, in order (not
//	                               submitted here: another node's)
//	commit-proposed                the block entries this node proposed reach the log
//	commit-block NAME ...          a block entry another leader made reaches the log
//	tick [n=N] [pull=NAME]         N ticks; pull: the block a catch-up pulls
//	timer                          the batch timer fires at the bookkeeper's deadline
//	hear from=2,3                  Raft messages arrive
//	writer busy|done               the block writer falls behind (blocks
//	                               committed are not in the store yet) or
//	                               catches up; it starts caught up
//	conf-change                    the leader asks for the next conf change and proposes it
//	apply-conf voters=1,2          Raft applies a conf change
//	validate consenters=1,2 [reach=1,2]
//	                               ValidateConsenters; a follower without reach
//	                               does not know who is reachable
//	state                          prints the bookkeeper's state
//
// Output, in the order of events: "propose block N: envelopes",
// "answer NAME: committed" or the error, "block N: envelopes" for each
// block committed, "evicted: error" once evicted, and each command's own.
func TestBookkeeperScripts(t *testing.T) {
	for _, f := range scripttest.Files(t, "testdata/*.txt") {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			runBookkeeperScript(t, f)
		})
	}
}

// bookkeeperScript plays the chain and the cluster around one bookkeeper.
type bookkeeperScript struct {
	t     *testing.T
	where string
	bk    *bookkeeper
	out   strings.Builder

	now         time.Time
	index       uint64            // last log index
	lead        uint64            // as Raft reports it
	lastIndex   uint64            // end of the log; entries past index are not applied yet
	envs        map[string][]byte // name → envelope
	names       map[string]string // envelope → name
	ids         map[uint64]string // proposal id → name
	proposedIDs map[string]uint64 // name → proposal id
	blocks      [][]byte          // block entries this node proposed, not committed yet
	writerBusy  bool              // the writer has not written every committed block
	evicted     bool
}

func runBookkeeperScript(t *testing.T, path string) {
	s := &bookkeeperScript{t: t, now: epoch}
	for _, tc := range scripttest.Read(t, path) {
		s.where = fmt.Sprintf("%s:%d", path, tc.Line)
		s.out.Reset()
		fields := strings.Fields(tc.Cmd)
		args := map[string]string{}
		var words []string
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				args[k] = v
			} else {
				words = append(words, f)
			}
		}
		if v, ok := args["at"]; ok {
			s.now = epoch.Add(s.duration(v))
		}
		if fields[0] != "new" && s.bk == nil {
			t.Fatalf("%s: %s before new", s.where, fields[0])
		}
		s.run(fields[0], args, words)
		if s.bk != nil {
			// As the chain does after each event, with the Ready's
			// committed entries all applied.
			s.bk.cutWhenIdle(s.now, !s.writerBusy)
			s.collect()
			if err := s.bk.evicted(); err != nil && !s.evicted {
				s.evicted = true
				fmt.Fprintf(&s.out, "evicted: %v\n", err)
			}
		}
		if got := s.out.String(); got != tc.Expected {
			t.Errorf("%s: %s\n got:\n%s want:\n%s", s.where, tc.Cmd, got, tc.Expected)
		}
	}
}

func (s *bookkeeperScript) run(cmd string, args map[string]string, words []string) {
	switch cmd {
	case "new":
		s.newBookkeeper(args, words)
	case "config":
		if len(words) != 1 {
			s.t.Fatalf("%s: config NAME seq=N consenters=...", s.where)
		}
		env := scriptConfigEnvelope(s.uint(args["seq"]), consenters(s.ids64(args["consenters"])...), s.batchArgs(args))
		s.envs[words[0]], s.names[string(env)] = env, words[0]
	case "role":
		s.lead = s.uint(args["leader"])
		s.lastIndex = s.index + s.uint(args["unapplied"])
		if s.lead != s.bk.nodeID {
			s.blocks = nil // proposed by this leader, lost with its leadership
		}
		s.observeRole()
		s.collect()
		if s.bk.isLeader {
			fmt.Fprintf(&s.out, "leader %d (this node), active %t\n", s.bk.leader, s.bk.active)
		} else {
			fmt.Fprintf(&s.out, "leader %d\n", s.bk.leader)
		}
	case "submit":
		for _, w := range words {
			env := s.envelope(w)
			if err := s.bk.refuseWithoutLeader(); err != nil {
				fmt.Fprintf(&s.out, "answer %s: %v\n", s.names[string(env)], err)
				continue
			}
			id := s.bk.newProposalID()
			s.ids[id], s.proposedIDs[s.names[string(env)]] = s.names[string(env)], id
			s.bk.proposed(id)
		}
	case "commit":
		for _, w := range words {
			env := s.envelope(w)
			s.index++
			if base, need := s.bk.needConfigSeq(); need && isConfigEnvelope(env) {
				// The chain reads the sequence of the config in force at
				// the snapshot from its store; here it is block 0's.
				if base.lastBlock != 0 {
					s.t.Fatalf("%s: config sequence wanted at block %d", s.where, base.lastBlock)
				}
				s.bk.setConfigSeq(0)
			}
			if err := s.bk.applyEnvelope(s.now, s.index, s.proposedIDs[s.names[string(env)]], env); err != nil {
				s.t.Fatalf("%s: apply %s: %v", s.where, w, err)
			}
			s.collect()
		}
		s.observeRole()
	case "commit-proposed":
		blocks := s.blocks
		s.blocks = nil
		for _, data := range blocks {
			kind, n, body, err := decodeEntry(data)
			if err != nil {
				s.t.Fatal(err)
			}
			s.index++
			s.commitBlock(kind, n, body)
		}
		s.observeRole()
	case "commit-block":
		// A block another leader made of the pending envelopes up to the last named.
		var envs [][]byte
		var last uint64
		for i, p := range s.bk.pending {
			if i >= len(words) {
				break
			}
			if name := s.names[string(p.env)]; name != words[i] {
				s.t.Fatalf("%s: pending envelope %d is %s, not %s", s.where, i, name, words[i])
			}
			envs, last = append(envs, p.env), p.index
		}
		if len(envs) != len(words) {
			s.t.Fatalf("%s: only %d envelopes pending", s.where, len(envs))
		}
		blk := protos.NewBlock(s.bk.nextBlock(), protos.BlockHeaderHash(s.bk.lastBlock), envs)
		s.index++
		kind, n, body, _ := decodeEntry(encodeBlockRef(last, blk.Header))
		s.commitBlock(kind, n, body)
		s.observeRole()
	case "tick":
		n := 1
		if v, ok := args["n"]; ok {
			n = int(s.uint(v))
		}
		for range n {
			s.now = s.now.Add(time.Second)
			if s.bk.tick(s.now) {
				fmt.Fprintf(&s.out, "tick %d: no leader for 3 election timeouts: catch up\n", s.bk.ticks)
				if name, ok := args["pull"]; ok {
					env := s.envelope(name)
					blk := protos.NewBlock(s.bk.nextBlock(), protos.BlockHeaderHash(s.bk.lastBlock), [][]byte{env})
					s.handBlock(blk, 0, true)
					delete(args, "pull")
				}
				s.bk.afterLeaderlessCatchUp()
			}
			s.collect()
			if err := s.bk.evicted(); err != nil {
				break // the chain stops
			}
		}
	case "timer":
		d, ok := s.bk.batchDeadline()
		if !ok {
			fmt.Fprintln(&s.out, "no batch timer")
			return
		}
		s.now = d
		fmt.Fprintf(&s.out, "timer fires at %s\n", d.Sub(epoch))
		s.bk.batchTimeout(d)
	case "hear":
		for _, id := range s.ids64(args["from"]) {
			s.bk.heardFrom(id)
		}
	case "conf-change":
		cc := s.bk.nextConfChange()
		if cc == nil {
			fmt.Fprintln(&s.out, "no conf change")
			return
		}
		verb := "add"
		if cc.GetType() == raftpb.ConfChangeType_ConfChangeRemoveNode {
			verb = "remove"
		}
		fmt.Fprintf(&s.out, "propose conf change: %s node %d\n", verb, cc.GetNodeId())
		s.bk.confChangeProposed()
	case "apply-conf":
		s.index++
		s.bk.confChanged(&raftpb.ConfState{Voters: s.ids64(args["voters"])}, true)
		s.observeRole()
	case "validate":
		reachable := func() (map[uint64]bool, bool) {
			if s.bk.isLeader {
				return s.bk.heardRecently(s.bk.voters()), true
			}
			v, ok := args["reach"]
			if !ok {
				return nil, false
			}
			out := map[uint64]bool{s.bk.nodeID: true} // as Chain.reachable
			for _, id := range s.ids64(v) {
				out[id] = true
			}
			return out, true
		}
		if err := s.bk.validateConsenters(consenters(s.ids64(args["consenters"])...), reachable); err != nil {
			fmt.Fprintf(&s.out, "refused: %v\n", err)
		} else {
			fmt.Fprintln(&s.out, "ok")
		}
	case "writer":
		if len(words) != 1 || (words[0] != "busy" && words[0] != "done") {
			s.t.Fatalf("%s: writer busy|done", s.where)
		}
		s.writerBusy = words[0] == "busy"
	case "state":
		s.printState()
	default:
		s.t.Fatalf("%s: unknown command %q", s.where, cmd)
	}
}

func (s *bookkeeperScript) newBookkeeper(args map[string]string, words []string) {
	members := s.ids64(args["consenters"])
	batch := s.batchArgs(args)
	if batch == nil {
		batch = &blockcutter.Config{MaxMessageCount: 10, AbsoluteMaxBytes: 1000, PreferredMaxBytes: 500, BatchTimeout: 2 * time.Second}
	}
	election, submitTicks := uint64(10), uint64(30)
	if v, ok := args["election"]; ok {
		election = s.uint(v)
	}
	if v, ok := args["submit-ticks"]; ok {
		submitTicks = s.uint(v)
	}
	cfg := Config{
		ChannelID: testChannel, NodeID: s.uint(args["node"]), Batch: *batch, ElectionTick: int(election),
		SubmitTimeout: time.Duration(submitTicks) * time.Second, // a tick is a second
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		HoldBatches:   slices.Contains(words, "hold"),
	}
	genesis := protos.NewBlock(0, nil, [][]byte{configEnvelope(0, consenters(members...))})
	m := membership{ids: members, set: consenters(members...), next: slices.Max(members) + 1}
	bk, err := newBookkeeper(cfg, 0, submitTicks, genesis.Header, 0, m)
	if err != nil {
		fmt.Fprintf(&s.out, "error: %v\n", err)
		return
	}
	voters := members
	if v, ok := args["voters"]; ok {
		voters = s.ids64(v)
	}
	bk.restore(snapData{version: snapshotV2}, &raftpb.ConfState{Voters: voters})
	if slices.Contains(words, "resumed") {
		bk.resumedFromWAL()
	}
	s.bk, s.index, s.lead, s.lastIndex, s.evicted, s.writerBusy = bk, 1, 0, 1, false, false
	s.envs, s.names = map[string][]byte{}, map[string]string{}
	s.ids, s.proposedIDs, s.blocks = map[uint64]string{}, map[string]uint64{}, nil
}

// observeRole reports Raft's state after a Ready, as the chain's updateRole does.
func (s *bookkeeperScript) observeRole() {
	s.lastIndex = max(s.lastIndex, s.index)
	s.bk.observeRole(s.lead, s.lead == s.bk.nodeID, s.lastIndex, s.index, s.now)
}

func (s *bookkeeperScript) commitBlock(kind byte, lastEnv uint64, body []byte) {
	blk, err := s.bk.applyBlockEntry(kind, lastEnv, body)
	if err != nil {
		fmt.Fprintf(&s.out, "block entry refused: %v\n", err)
		return
	}
	s.handBlock(blk, s.index, false)
}

func (s *bookkeeperScript) handBlock(blk *cb.Block, raftIndex uint64, pulled bool) {
	job, ok, err := s.bk.blockCommitted(blk, raftIndex, pulled)
	if err != nil || !ok {
		fmt.Fprintf(&s.out, "block %d not written: %v\n", blk.GetHeader().GetNumber(), err)
		return
	}
	how := ""
	if pulled {
		how = " (pulled)"
	} else {
		how = fmt.Sprintf(" (consenters %v, next id %d)", job.md.GetConsenterIds(), job.md.GetNextConsenterId())
	}
	fmt.Fprintf(&s.out, "block %d: %s%s\n", blk.GetHeader().GetNumber(), s.envNames(blk.GetData().GetData()), how)
}

// collect prints what the bookkeeper decided: blocks to propose, answers.
func (s *bookkeeperScript) collect() {
	for _, data := range s.bk.takeBlocks() {
		_, _, body, err := decodeEntry(data)
		if err != nil {
			s.t.Fatal(err)
		}
		hdr := &cb.BlockHeader{}
		if err := proto.Unmarshal(body, hdr); err != nil {
			s.t.Fatal(err)
		}
		// The block's envelopes: the first pending ones not in an earlier proposal.
		var names []string
		for _, p := range s.bk.pending {
			if s.inProposal(p.index) {
				continue
			}
			names = append(names, s.names[string(p.env)])
			if p.index == binaryIndex(data) {
				break
			}
		}
		s.blocks = append(s.blocks, data)
		fmt.Fprintf(&s.out, "propose block %d: %s\n", hdr.GetNumber(), strings.Join(names, " "))
	}
	for _, a := range s.bk.takeAnswers() {
		name := s.ids[a.id]
		if a.err == nil {
			fmt.Fprintf(&s.out, "answer %s: committed\n", name)
		} else {
			fmt.Fprintf(&s.out, "answer %s: %v\n", name, a.err)
		}
	}
}

// inProposal reports whether the envelope at log index is in a block entry
// proposed earlier and not committed yet.
func (s *bookkeeperScript) inProposal(index uint64) bool {
	for _, data := range s.blocks {
		if index <= binaryIndex(data) {
			return true
		}
	}
	return false
}

func binaryIndex(data []byte) uint64 {
	_, n, _, _ := decodeEntry(data)
	return n
}

func (s *bookkeeperScript) printState() {
	b := s.bk
	role := "follower"
	switch {
	case b.active:
		role = "active leader"
	case b.isLeader:
		role = "leader, not active yet"
	}
	var pending []string
	for _, p := range b.pending {
		pending = append(pending, s.names[string(p.env)])
	}
	fmt.Fprintf(&s.out, "tick %d, %s, leader %d\n", b.ticks, role, b.leader)
	cutting := ""
	if b.active {
		cutting = fmt.Sprintf(", in cutter %d", b.cutter.Pending())
	}
	fmt.Fprintf(&s.out, "pending [%s]%s, waiting %d\n", strings.Join(pending, " "), cutting, len(b.waits.waiting))
	fmt.Fprintf(&s.out, "next block %d, last config %d\n", b.nextBlock(), b.lastConfig)
	fmt.Fprintf(&s.out, "consenters %v (next id %d), voters %v\n", b.members.ids, b.members.next, b.voters())
	if b.evictPending {
		fmt.Fprintf(&s.out, "eviction pending, at tick %d\n", b.evictAt)
	}
}

// envelope returns the envelope NAME[:SIZE] stands for: a named config
// envelope, or the name padded with dots to SIZE bytes.
func (s *bookkeeperScript) envelope(word string) []byte {
	name, size, sized := strings.Cut(word, ":")
	if env, ok := s.envs[name]; ok && !sized {
		return env
	}
	n := len(name)
	if sized {
		n = int(s.uint(size))
		if n < len(name) {
			s.t.Fatalf("%s: size of %s below its name length", s.where, name)
		}
	}
	env := []byte(name + strings.Repeat(".", n-len(name)))
	s.envs[name], s.names[string(env)] = env, name
	return env
}

func (s *bookkeeperScript) envNames(envs [][]byte) string {
	var out []string
	for _, e := range envs {
		out = append(out, s.names[string(e)])
	}
	return strings.Join(out, " ")
}

func (s *bookkeeperScript) batchArgs(args map[string]string) *blockcutter.Config {
	if _, ok := args["count"]; !ok {
		return nil
	}
	return &blockcutter.Config{
		MaxMessageCount:   uint32(s.uint(args["count"])),
		AbsoluteMaxBytes:  uint32(s.uint(args["absolute"])),
		PreferredMaxBytes: uint32(s.uint(args["preferred"])),
		BatchTimeout:      s.duration(args["batch-timeout"]),
	}
}

func (s *bookkeeperScript) uint(v string) uint64 {
	if v == "" {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		s.t.Fatalf("%s: bad number %q", s.where, v)
	}
	return n
}

func (s *bookkeeperScript) ids64(v string) []uint64 {
	var out []uint64
	for _, f := range strings.Split(v, ",") {
		if f != "" {
			out = append(out, s.uint(f))
		}
	}
	return out
}

func (s *bookkeeperScript) duration(v string) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil {
		s.t.Fatalf("%s: bad duration %q", s.where, v)
	}
	return d
}

// scriptConfigEnvelope is configEnvelope with Orderer/BatchSize and
// BatchTimeout when batch is not nil.
func scriptConfigEnvelope(seq uint64, set []*etcdraft.Consenter, batch *blockcutter.Config) []byte {
	if batch == nil {
		return configEnvelope(seq, set)
	}
	ct := &ab.ConsensusType{Type: "etcdraft", Metadata: protos.Marshal(&etcdraft.ConfigMetadata{Consenters: set})}
	cfg := &cb.Config{Sequence: seq, ChannelGroup: &cb.ConfigGroup{Groups: map[string]*cb.ConfigGroup{
		"Orderer": {Values: map[string]*cb.ConfigValue{
			"ConsensusType": {Value: protos.Marshal(ct)},
			"BatchSize": {Value: protos.Marshal(&ab.BatchSize{
				MaxMessageCount: batch.MaxMessageCount, AbsoluteMaxBytes: batch.AbsoluteMaxBytes, PreferredMaxBytes: batch.PreferredMaxBytes,
			})},
			"BatchTimeout": {Value: protos.Marshal(&ab.BatchTimeout{Timeout: batch.BatchTimeout.String()})},
		}},
	}}}
	chdr := &cb.ChannelHeader{Type: int32(cb.HeaderType_CONFIG), ChannelId: testChannel}
	payload := &cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(chdr)},
		Data:   protos.Marshal(&cb.ConfigEnvelope{Config: cfg}),
	}
	return protos.Marshal(&cb.Envelope{Payload: protos.Marshal(payload)})
}
