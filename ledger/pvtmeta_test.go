package ledger

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// A private metadata write appears in both write sets, the key in the
// private one and its hash in the public one, and once committed it is read
// back from the hashed state with a hashed read recorded.
func TestPrivateDataMetadataSetCommitGet(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seedPrivate(s, "k1")

	ep := []byte("policy-bytes")
	pub, pvt := s.run(func(sim *Simulator) {
		must(t, sim.SetPrivateDataMetadata("cc1", "coll", "k1", map[string][]byte{"VALIDATION_PARAMETER": ep}))
	})

	// Private set: the collection, with the metadata write under the key.
	if pvt == nil || len(pvt.NsPvtRwset) != 1 || len(pvt.NsPvtRwset[0].CollectionPvtRwset) != 1 {
		t.Fatalf("private write set = %v, want one collection", pvt)
	}
	cp := pvt.NsPvtRwset[0].CollectionPvtRwset[0]
	kv := &kvrwset.KVRWSet{}
	must(t, proto.Unmarshal(cp.Rwset, kv))
	if cp.CollectionName != "coll" || len(kv.Writes) != 0 || len(kv.MetadataWrites) != 1 || kv.MetadataWrites[0].Key != "k1" ||
		len(kv.MetadataWrites[0].Entries) != 1 || kv.MetadataWrites[0].Entries[0].Name != "VALIDATION_PARAMETER" || !bytes.Equal(kv.MetadataWrites[0].Entries[0].Value, ep) {
		t.Fatalf("private rwset of %s = %v", cp.CollectionName, kv)
	}
	// Public set: the key hash, and the hash of the private set.
	if len(pub.NsRwset) != 1 || len(pub.NsRwset[0].CollectionHashedRwset) != 1 {
		t.Fatalf("public rwset = %v", pub)
	}
	ch := pub.NsRwset[0].CollectionHashedRwset[0]
	h := &kvrwset.HashedRWSet{}
	must(t, proto.Unmarshal(ch.HashedRwset, h))
	if len(h.HashedWrites) != 0 || len(h.MetadataWrites) != 1 || !bytes.Equal(h.MetadataWrites[0].KeyHash, keyHash("k1")) ||
		!bytes.Equal(h.MetadataWrites[0].Entries[0].Value, ep) || len(ch.PvtRwsetHash) == 0 {
		t.Fatalf("hashed rwset = %v (pvt hash %x)", h, ch.PvtRwsetHash)
	}

	if codes := s.commit([]*rwset.TxReadWriteSet{pub}, map[uint64]*rwset.TxPvtReadWriteSet{0: pvt}); codes[0] != pb.TxValidationCode_VALID {
		t.Fatalf("metadata tx = %s", codes[0])
	}

	pub, _ = s.run(func(sim *Simulator) {
		md, err := sim.GetPrivateDataMetadata("cc1", "coll", "k1")
		must(t, err)
		if len(md) != 1 || !bytes.Equal(md["VALIDATION_PARAMETER"], ep) {
			t.Fatalf("GetPrivateDataMetadata(k1) = %v", md)
		}
		if md, err := sim.GetPrivateDataMetadata("cc1", "coll", "absent"); md != nil || err != nil {
			t.Fatalf("metadata of an absent key = %v, %v", md, err)
		}
	})
	h = &kvrwset.HashedRWSet{}
	must(t, proto.Unmarshal(pub.NsRwset[0].CollectionHashedRwset[0].HashedRwset, h))
	if len(h.HashedReads) != 2 {
		t.Fatalf("hashed reads = %v, want k1 (at its version) and absent (no version)", h.HashedReads)
	}
	for _, r := range h.HashedReads {
		if bytes.Equal(r.KeyHash, keyHash("absent")) != (r.Version == nil) {
			t.Fatalf("hashed read %x at version %v", r.KeyHash, r.Version)
		}
	}

	// An empty map removes the metadata.
	pub, pvt = s.run(func(sim *Simulator) { must(t, sim.SetPrivateDataMetadata("cc1", "coll", "k1", nil)) })
	if codes := s.commit([]*rwset.TxReadWriteSet{pub}, map[uint64]*rwset.TxPvtReadWriteSet{0: pvt}); codes[0] != pb.TxValidationCode_VALID {
		t.Fatalf("metadata removal tx = %s", codes[0])
	}
	s.run(func(sim *Simulator) {
		if md, err := sim.GetPrivateDataMetadata("cc1", "coll", "k1"); len(md) != 0 || err != nil {
			t.Fatalf("metadata after removal = %v, %v", md, err)
		}
	})
}

// A metadata write is a write: refused after a query on private data, and
// with an empty key.
func TestPrivateDataMetadataWriteRules(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seedPrivate(s, "k1")
	s.run(func(sim *Simulator) {
		if err := sim.SetPrivateDataMetadata("cc1", "coll", "", map[string][]byte{"a": []byte("b")}); err == nil || !strings.Contains(err.Error(), "empty key") {
			t.Fatalf("empty key = %v", err)
		}
	})
	s.run(func(sim *Simulator) {
		it, err := sim.GetPrivateDataRange("cc1", "coll", "", "")
		must(t, err)
		it.Close()
		err = sim.SetPrivateDataMetadata("cc1", "coll", "k1", map[string][]byte{"a": []byte("b")})
		if err == nil || !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), `"k1"`) {
			t.Fatalf("metadata write after a private query = %v", err)
		}
	})
	sim := s.l.NewSimulator("done")
	sim.Done()
	if _, err := sim.GetPrivateDataMetadata("cc1", "coll", "k1"); err != ErrSimulationDone {
		t.Fatalf("get after Done = %v", err)
	}
	if err := sim.SetPrivateDataMetadata("cc1", "coll", "k1", nil); err != ErrSimulationDone {
		t.Fatalf("set after Done = %v", err)
	}
}

// A metadata-only write bumps the version of the key's hash; as in Fabric
// (incrementPvtdataVersionIfNeeded at commit), the private value must follow
// it, or the member peers holding the value can no longer read it.
func TestPrivateDataMetadataKeepsValueReadable(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seedPrivate(s, "k1")
	pub, pvt := s.run(func(sim *Simulator) {
		must(t, sim.SetPrivateDataMetadata("cc1", "coll", "k1", map[string][]byte{"VALIDATION_PARAMETER": []byte("p")}))
	})
	if codes := s.commit([]*rwset.TxReadWriteSet{pub}, map[uint64]*rwset.TxPvtReadWriteSet{0: pvt}); codes[0] != pb.TxValidationCode_VALID {
		t.Fatalf("metadata tx = %s", codes[0])
	}
	s.run(func(sim *Simulator) {
		if v, err := sim.GetPrivateData("cc1", "coll", "k1"); err != nil || string(v) != "p-k1" {
			t.Fatalf("GetPrivateData(k1) after a metadata write = %q, %v", v, err)
		}
	})
}
