package raftchain

import (
	"context"
	"encoding/binary"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// recordingTransport keeps what the chain sends.
type recordingTransport struct {
	mu   sync.Mutex
	sent []*raftpb.Message
}

func (tr *recordingTransport) Send(_ string, msgs []*raftpb.Message) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, m := range msgs {
		tr.sent = append(tr.sent, proto.Clone(m).(*raftpb.Message))
	}
}

func (tr *recordingTransport) take() []*raftpb.Message {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := tr.sent
	tr.sent = nil
	return out
}

// fuzzRaftFrames splits raw into up to 12 frames, each prefixed by a 16-bit
// length.
func fuzzRaftFrames(raw []byte) [][]byte {
	var out [][]byte
	for len(raw) >= 2 && len(out) < 12 {
		n := int(binary.BigEndian.Uint16(raw))
		raw = raw[2:]
		n = min(n, len(raw))
		out = append(out, raw[:n])
		raw = raw[n:]
	}
	return out
}

func joinRaftFrames(tb testing.TB, msgs ...*raftpb.Message) []byte {
	var out []byte
	for _, m := range msgs {
		raw, err := proto.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(raw)))
		out = append(out, raw...)
	}
	return out
}

// stepAndWait hands m to the chain and returns once the loop has handled it
// (or the chain stopped).
func stepAndWait(t *testing.T, c *Chain, m *raftpb.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Step(ctx, m); err != nil {
		return // halted
	}
	for len(c.stepC) > 0 {
		select {
		case <-c.doneC:
			return
		default:
			runtime.Gosched()
		}
	}
	// The loop took m; a query runs once it went back to its select.
	_ = c.inLoop(func() {})
}

// FuzzRaftMessage steps Raft messages from the other consenters of a
// three-node channel into consenter 1's chain, as the cluster service hands
// them on once it has authenticated their sender (from 2 or 3, to 1). With
// the mode's low bit set, consenter 1 is first made leader by the votes of
// consenter 2, so the messages also reach the leader's code. Whatever
// consenters 2 and 3 send, the orderer process must not crash: the chain
// either goes on (it still answers its loop) or stops with an error.
func FuzzRaftMessage(f *testing.F) {
	u := proto.Uint64
	typ := func(t raftpb.MessageType) *raftpb.MessageType { return t.Enum() }
	f.Add(joinRaftFrames(f, &raftpb.Message{Type: typ(raftpb.MsgHeartbeat), From: u(2), To: u(1), Term: u(2), Commit: u(0)}), uint8(0))
	f.Add(joinRaftFrames(f, &raftpb.Message{Type: typ(raftpb.MsgApp), From: u(2), To: u(1), Term: u(2), LogTerm: u(1), Index: u(3), Commit: u(4),
		Entries: []*raftpb.Entry{{Term: u(2), Index: u(4), Data: encodeEnvelope(1, []byte("envelope"))}}}), uint8(0))
	f.Add(joinRaftFrames(f, &raftpb.Message{Type: typ(raftpb.MsgVote), From: u(3), To: u(1), Term: u(5), LogTerm: u(1), Index: u(3)}), uint8(0))
	f.Add(joinRaftFrames(f, &raftpb.Message{Type: typ(raftpb.MsgPreVote), From: u(3), To: u(1), Term: u(5), LogTerm: u(1), Index: u(3)}), uint8(1))
	f.Add(joinRaftFrames(f, &raftpb.Message{Type: typ(raftpb.MsgAppResp), From: u(2), To: u(1), Term: u(2), Index: u(4)}), uint8(1))
	f.Add(joinRaftFrames(f, &raftpb.Message{Type: typ(raftpb.MsgHeartbeatResp), From: u(3), To: u(1), Term: u(2)}), uint8(1))
	f.Add(joinRaftFrames(f, &raftpb.Message{Type: typ(raftpb.MsgProp), From: u(2), To: u(1),
		Entries: []*raftpb.Entry{{Data: encodeEnvelope(7, []byte("forwarded envelope"))}}}), uint8(1))
	f.Add(joinRaftFrames(f, &raftpb.Message{Type: typ(raftpb.MsgTransferLeader), From: u(2), To: u(1), Term: u(2)}), uint8(1))
	f.Add(joinRaftFrames(f, &raftpb.Message{Type: typ(raftpb.MsgTimeoutNow), From: u(2), To: u(1), Term: u(2)}), uint8(0))
	f.Add(joinRaftFrames(f, &raftpb.Message{Type: typ(raftpb.MsgSnap), From: u(2), To: u(1), Term: u(3),
		Snapshot: &raftpb.Snapshot{Data: encodeSnapshotData(snapData{version: snapshotV2, lastBlock: 0}), Metadata: &raftpb.SnapshotMetadata{Index: u(9), Term: u(2), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}}), uint8(0))
	f.Add([]byte{0, 3, 0x08, 0x05, 0x10}, uint8(1))

	signer := newSigner(f)
	genesis := protos.NewBlock(0, nil, [][]byte{configEnvelope(0, consenters(1, 2, 3))})
	quiet := slog.New(slog.DiscardHandler)

	f.Fuzz(func(t *testing.T, raw []byte, mode uint8) {
		store := &memStore{blocks: []*cb.Block{genesis}, grew: make(chan struct{}, 1<<12)}
		tr := &recordingTransport{}
		cfg := Config{
			ChannelID: "fuzzchannel", NodeID: 1, Voters: []uint64{1, 2, 3}, NextConsenterID: 4,
			Batch:  testConfig(nil, "", signer).Batch,
			WALDir: t.TempDir(), Signer: signer, Logger: quiet,
		}
		c, err := New(cfg, store, tr)
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		defer c.Halt()

		if mode&1 == 1 {
			// Consenter 2 grants the pre-vote and the vote of consenter 1's
			// campaign, as an honest peer would.
			for i := 0; i < 100 && c.Leader() != 1; i++ {
				c.Tick(epoch.Add(time.Duration(i) * time.Second))
				for _, m := range tr.take() {
					var resp raftpb.MessageType
					switch m.GetType() {
					case raftpb.MsgPreVote:
						resp = raftpb.MsgPreVoteResp
					case raftpb.MsgVote:
						resp = raftpb.MsgVoteResp
					default:
						continue
					}
					if m.GetTo() == 2 {
						stepAndWait(t, c, &raftpb.Message{Type: resp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(m.GetTerm())})
					}
				}
			}
			if c.Leader() != 1 {
				t.Fatalf("consenter 1 did not become leader with consenter 2's votes (leader %d)", c.Leader())
			}
		}

		for _, fr := range fuzzRaftFrames(raw) {
			m := &raftpb.Message{}
			if proto.Unmarshal(fr, m) != nil {
				continue // the cluster service drops it
			}
			// The cluster service hands on only messages from the
			// certificate's own consenter id, addressed to this node.
			if from := m.GetFrom(); (from != 2 && from != 3) || m.GetTo() != 1 {
				continue
			}
			stepAndWait(t, c, m)
			if mode&2 == 2 {
				c.Tick(epoch)
			}
		}
		select {
		case <-c.Done():
			if c.Err() == nil {
				t.Fatal("the chain stopped by itself without an error")
			}
		default:
			if err := c.inLoop(func() {}); err != nil {
				t.Fatalf("the chain no longer answers: %v", err)
			}
		}
	})
}

// A heartbeat whose commit index is beyond this node's log makes the Raft
// library panic (found by FuzzRaftMessage): the chain stops with an error
// naming the sender, and the process goes on.
func TestRaftMessageContradictingLogStopsChain(t *testing.T) {
	signer := newSigner(t)
	genesis := protos.NewBlock(0, nil, [][]byte{configEnvelope(0, consenters(1, 2, 3))})
	store := &memStore{blocks: []*cb.Block{genesis}, grew: make(chan struct{}, 16)}
	cfg := testConfig(t, t.TempDir(), signer)
	cfg.Voters, cfg.NextConsenterID, cfg.Logger = []uint64{1, 2, 3}, 4, slog.New(slog.DiscardHandler)
	c, err := New(cfg, store, &recordingTransport{})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Halt()
	// An empty proposal is dropped without stopping the chain.
	stepAndWait(t, c, &raftpb.Message{Type: raftpb.MsgProp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1)})
	if err := c.inLoop(func() {}); err != nil {
		t.Fatalf("an empty proposal stopped the chain: %v", err)
	}
	stepAndWait(t, c, &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(3), To: proto.Uint64(1), Term: proto.Uint64(2), Commit: proto.Uint64(8)})
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the chain goes on after a heartbeat committing beyond its log")
	}
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "MsgHeartbeat from consenter 3") {
		t.Fatalf("chain error %v, want one naming the MsgHeartbeat from consenter 3", err)
	}
}
