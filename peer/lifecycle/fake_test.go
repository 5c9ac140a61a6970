package lifecycle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// memState is the committed state of one peer: public values, this peer's
// private values and the hashes of every org's private values.
type memState struct {
	pub    map[string]map[string][]byte // ns -> key -> value
	priv   map[string]map[string][]byte // ns/coll -> key -> value
	hashes map[string]map[string][]byte // ns/coll -> hex(keyhash) -> valuehash
}

func newMemState() *memState {
	return &memState{pub: map[string]map[string][]byte{}, priv: map[string]map[string][]byte{}, hashes: map[string]map[string][]byte{}}
}

func put(m map[string]map[string][]byte, a, b string, v []byte) {
	if m[a] == nil {
		m[a] = map[string][]byte{}
	}
	m[a][b] = v
}

func hexHash(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// fakeSim records reads and writes like Fabric's simulator: reads see committed
// state only.
type fakeSim struct {
	st         *memState
	sum        rwSummary
	privWrites map[string]map[string][]byte
	failRange  bool
}

type rwSummary struct {
	reads   map[string]bool   // ns/key
	writes  map[string]string // ns/key -> hex value ("DEL" for delete)
	hreads  map[string]bool   // ns/coll/hexkeyhash
	hwrites map[string]string // ns/coll/hexkeyhash -> hex valuehash
}

func newSummary() rwSummary {
	return rwSummary{reads: map[string]bool{}, writes: map[string]string{}, hreads: map[string]bool{}, hwrites: map[string]string{}}
}

func newFakeSim(st *memState) *fakeSim {
	return &fakeSim{st: st, sum: newSummary(), privWrites: map[string]map[string][]byte{}}
}

func (s *fakeSim) GetState(ns, key string) ([]byte, error) {
	s.sum.reads[ns+"/"+key] = true
	return s.st.pub[ns][key], nil
}
func (s *fakeSim) SetState(ns, key string, v []byte) error {
	s.sum.writes[ns+"/"+key] = hex.EncodeToString(v)
	return nil
}
func (s *fakeSim) DeleteState(ns, key string) error { s.sum.writes[ns+"/"+key] = "DEL"; return nil }
func (s *fakeSim) GetStateRange(ns, start, end string) (statedb.Iterator, error) {
	var keys []string
	for k := range s.st.pub[ns] {
		if k >= start && (end == "" || k < end) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	it := &sliceIter{}
	for _, k := range keys {
		it.kvs = append(it.kvs, &statedb.KV{Namespace: ns, Key: k, VersionedValue: statedb.VersionedValue{Value: s.st.pub[ns][k]}})
	}
	return it, nil
}
func (s *fakeSim) GetPrivateDataHash(ns, coll, key string) ([]byte, error) {
	kh := hexHash([]byte(key))
	s.sum.hreads[ns+"/"+coll+"/"+kh] = true
	return s.st.hashes[ns+"/"+coll][kh], nil
}
func (s *fakeSim) GetPrivateData(ns, coll, key string) ([]byte, error) {
	s.sum.hreads[ns+"/"+coll+"/"+hexHash([]byte(key))] = true
	return s.st.priv[ns+"/"+coll][key], nil
}
func (s *fakeSim) PutPrivateData(ns, coll, key string, v []byte) error {
	vh := sha256.Sum256(v)
	s.sum.hwrites[ns+"/"+coll+"/"+hexHash([]byte(key))] = hex.EncodeToString(vh[:])
	put(s.privWrites, ns+"/"+coll, key, v)
	return nil
}

// commit applies the simulated writes to st (and the hashes to others, which
// model the other peers' view of this org's private writes).
func (s *fakeSim) commit(others ...*memState) {
	for _, st := range append([]*memState{s.st}, others...) {
		for k, v := range s.sum.writes {
			i := strings.IndexByte(k, '/')
			b, _ := hex.DecodeString(v)
			put(st.pub, k[:i], k[i+1:], b)
		}
		for nc, kvs := range s.privWrites {
			for k, v := range kvs {
				vh := sha256.Sum256(v)
				put(st.hashes, nc, hexHash([]byte(k)), vh[:])
			}
		}
	}
	for nc, kvs := range s.privWrites {
		for k, v := range kvs {
			put(s.st.priv, nc, k, v)
		}
	}
}

type sliceIter struct{ kvs []*statedb.KV }

func (it *sliceIter) Next() (*statedb.KV, error) {
	if len(it.kvs) == 0 {
		return nil, nil
	}
	kv := it.kvs[0]
	it.kvs = it.kvs[1:]
	return kv, nil
}
func (it *sliceIter) Close() {}

// fakeChannel is a two-org channel config with every policy satisfied unless denied.
type fakeChannel struct {
	orgs     []string
	noPolicy map[string]bool
	deny     map[string]error
}

func (c *fakeChannel) OrgMSPIDs() []string        { return c.orgs }
func (c *fakeChannel) HasPolicy(path string) bool { return !c.noPolicy[path] }
func (c *fakeChannel) CheckPolicy(path string, _ []protos.SignedData) error {
	return c.deny[path]
}

type fakeChannels struct{ ch map[string]ChannelConfig }

func (f fakeChannels) ChannelConfig(id string) (ChannelConfig, error) {
	c, ok := f.ch[id]
	if !ok {
		return nil, fmt.Errorf("peer has not joined channel %s", id)
	}
	return c, nil
}

// fakeMSP treats a creator as serialized identity; admins are listed by certificate bytes.
type fakeMSP struct {
	id     string
	admins map[string]bool
}

func (m *fakeMSP) ID() string { return m.id }
func (m *fakeMSP) DeserializeIdentity(b []byte) (*msp.Identity, error) {
	si := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(b, si); err != nil {
		return nil, err
	}
	if si.Mspid != m.id {
		return nil, fmt.Errorf("%w: identity of %s, expected %s", msp.ErrUnknownMSP, si.Mspid, m.id)
	}
	return &msp.Identity{MSPID: si.Mspid, Serialized: b}, nil
}
func (m *fakeMSP) Validate(*msp.Identity) error { return nil }
func (m *fakeMSP) SatisfiesPrincipal(id *msp.Identity, p *mspproto.MSPPrincipal) error {
	if !m.admins[string(id.Serialized)] {
		return fmt.Errorf("%w: not an admin", msp.ErrPrincipalNotSatisfied)
	}
	return nil
}

func creator(mspID, name string) []byte {
	return protos.Marshal(&mspproto.SerializedIdentity{Mspid: mspID, IdBytes: []byte(name)})
}

// fixtureTx returns the args and the read/write-set summary of the single
// transaction of a fixture block.
func fixtureTx(t *testing.T, n int) (*pb.ChaincodeInput, rwSummary) {
	t.Helper()
	b, err := protos.UnmarshalBlock(fabricfixture.ReadFile(t, "blocks", fmt.Sprintf("block_%06d.pb", n)))
	if err != nil {
		t.Fatal(err)
	}
	env, err := protos.UnmarshalEnvelope(b.Data.Data[0])
	if err != nil {
		t.Fatal(err)
	}
	if cb.HeaderType(env.ChannelHeader.Type) != cb.HeaderType_ENDORSER_TRANSACTION {
		t.Fatalf("block %d is not an endorser transaction", n)
	}
	tx, err := protos.ParseEndorserTx(env)
	if err != nil {
		t.Fatal(err)
	}
	cis := &pb.ChaincodeInvocationSpec{}
	if err := proto.Unmarshal(tx.ProposalPayload.Input, cis); err != nil {
		t.Fatal(err)
	}
	sum := newSummary()
	for _, ns := range tx.ReadWriteSet.NsRwset {
		kv := &kvrwset.KVRWSet{}
		if err := proto.Unmarshal(ns.Rwset, kv); err != nil {
			t.Fatal(err)
		}
		for _, r := range kv.Reads {
			sum.reads[ns.Namespace+"/"+r.Key] = true
		}
		for _, w := range kv.Writes {
			v := hex.EncodeToString(w.Value)
			if w.IsDelete {
				v = "DEL"
			}
			sum.writes[ns.Namespace+"/"+w.Key] = v
		}
		for _, c := range ns.CollectionHashedRwset {
			h := &kvrwset.HashedRWSet{}
			if err := proto.Unmarshal(c.HashedRwset, h); err != nil {
				t.Fatal(err)
			}
			for _, r := range h.HashedReads {
				sum.hreads[ns.Namespace+"/"+c.CollectionName+"/"+hex.EncodeToString(r.KeyHash)] = true
			}
			for _, w := range h.HashedWrites {
				sum.hwrites[ns.Namespace+"/"+c.CollectionName+"/"+hex.EncodeToString(w.KeyHash)] = hex.EncodeToString(w.ValueHash)
			}
		}
	}
	return cis.ChaincodeSpec.Input, sum
}

func assertSameSummary(t *testing.T, what string, got, want rwSummary) {
	t.Helper()
	cmpSet := func(kind string, g, w map[string]bool) {
		for k := range w {
			if !g[k] {
				t.Errorf("%s: %s %s missing from Weft's read set", what, kind, k)
			}
		}
		for k := range g {
			if !w[k] {
				t.Errorf("%s: %s %s read by Weft but not by Fabric", what, kind, k)
			}
		}
	}
	cmpMap := func(kind string, g, w map[string]string) {
		for k, v := range w {
			if g[k] != v {
				t.Errorf("%s: %s %s = %q, Fabric wrote %q", what, kind, k, g[k], v)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				t.Errorf("%s: %s %s written by Weft but not by Fabric", what, kind, k)
			}
		}
	}
	cmpSet("read", got.reads, want.reads)
	cmpSet("hashed read", got.hreads, want.hreads)
	cmpMap("write", got.writes, want.writes)
	cmpMap("hashed write", got.hwrites, want.hwrites)
}
