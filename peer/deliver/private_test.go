package deliver

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
)

// fakePrivateData holds private write sets by block and answers MayRead from
// a table of collection -> organisations that may read it.
type fakePrivateData struct {
	blocks  map[uint64]map[uint64]*rwset.TxPvtReadWriteSet
	readers map[string][]string // "ns/coll" -> MSP IDs
	err     error               // returned by BlockPrivateData when set

	mu    sync.Mutex
	asked []string // "block ns/coll msp" per MayRead call
}

func (f *fakePrivateData) BlockPrivateData(n uint64) (map[uint64]*rwset.TxPvtReadWriteSet, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.blocks[n], nil
}

func (f *fakePrivateData) MayRead(n uint64, ns, coll, mspID string) (bool, error) {
	f.mu.Lock()
	f.asked = append(f.asked, fmt.Sprintf("%d %s/%s %s", n, ns, coll, mspID))
	f.mu.Unlock()
	orgs, ok := f.readers[ns+"/"+coll]
	if !ok {
		return false, fmt.Errorf("chaincode %s defines no collection %s", ns, coll)
	}
	return slices.Contains(orgs, mspID), nil
}

// pvtWrites is a transaction's private write set: one write of key k with
// value "<coll>-value" per collection.
func pvtWrites(ns string, colls ...string) *rwset.TxPvtReadWriteSet {
	var cs []*rwset.CollectionPvtReadWriteSet
	for _, c := range colls {
		// The server passes a collection's write set through untouched, so
		// any bytes stand for it.
		cs = append(cs, &rwset.CollectionPvtReadWriteSet{CollectionName: c, Rwset: []byte("k=" + c + "-value")})
	}
	return &rwset.TxPvtReadWriteSet{
		DataModel:  rwset.TxReadWriteSet_KV,
		NsPvtRwset: []*rwset.NsPvtReadWriteSet{{Namespace: ns, CollectionPvtRwset: cs}},
	}
}

// withPrivateData makes the fixture's channel serve pd.
func (f *deliverFixture) withPrivateData(pd PrivateData) {
	ch := *f.current.Load()
	ch.PrivateData = pd
	f.current.Store(&ch)
}

// receivePrivateData asks DeliverWithPrivateData for blocks start..stop as
// signer and returns, per block, its private data map rendered as
// "tx:ns/coll=rwset" strings, and the final status.
func receivePrivateData(t *testing.T, f *deliverFixture, signer protos.Signer, start, stop uint64) (map[uint64][]string, cb.Status) {
	t.Helper()
	stream, err := f.client.DeliverWithPrivateData(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(seekEnv(t, signer, testChannel, specified(start), specified(stop), ab.SeekInfo_BLOCK_UNTIL_READY)); err != nil {
		t.Fatal(err)
	}
	got := map[uint64][]string{}
	for {
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		switch v := r.Type.(type) {
		case *pb.DeliverResponse_Status:
			return got, v.Status
		case *pb.DeliverResponse_BlockAndPrivateData:
			n := v.BlockAndPrivateData.GetBlock().GetHeader().GetNumber()
			got[n] = []string{}
			for tx, ws := range v.BlockAndPrivateData.PrivateDataMap {
				if ws.DataModel != rwset.TxReadWriteSet_KV {
					t.Errorf("block %d tx %d: data model %s", n, tx, ws.DataModel)
				}
				for _, ns := range ws.NsPvtRwset {
					for _, c := range ns.CollectionPvtRwset {
						got[n] = append(got[n], fmt.Sprintf("%d:%s/%s=%s", tx, ns.Namespace, c.CollectionName, c.Rwset))
					}
				}
			}
			slices.Sort(got[n])
		default:
			t.Fatalf("unexpected response %T", v)
		}
	}
}

// Block 1 of the fixture has a valid tx0, an invalid tx1 and a valid tx2;
// block 2 one valid tx without private data.
func newPrivateFixture(t *testing.T) (*deliverFixture, *fakePrivateData) {
	f := newDeliverFixture(t)
	pd := &fakePrivateData{
		blocks: map[uint64]map[uint64]*rwset.TxPvtReadWriteSet{
			1: {
				0: pvtWrites("pvtcc", "org1only", "shared"),
				1: pvtWrites("pvtcc", "shared"),
				2: pvtWrites("pvtcc", "org1only"),
			},
		},
		readers: map[string][]string{
			"pvtcc/org1only": {"Org1MSP"},
			"pvtcc/shared":   {"Org1MSP", "Org2MSP"},
		},
	}
	f.withPrivateData(pd)
	return f, pd
}

// Each block comes with the private data of its valid transactions, cut down
// to the collections the requester's organisation may read; a transaction
// with none left is left out.
func TestDeliverWithPrivateDataSendsWhatTheRequesterMayRead(t *testing.T) {
	f, pd := newPrivateFixture(t)
	org2 := getDevnet(t).User(t, "User1", "Org2MSP")
	cases := []struct {
		name   string
		signer protos.Signer
		want   map[uint64][]string
	}{
		{"Org1 member", f.user1, map[uint64][]string{
			1: {"0:pvtcc/org1only=k=org1only-value", "0:pvtcc/shared=k=shared-value", "2:pvtcc/org1only=k=org1only-value"},
			2: {},
		}},
		{"Org2 member", org2, map[uint64][]string{
			1: {"0:pvtcc/shared=k=shared-value"},
			2: {},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, st := receivePrivateData(t, f, c.signer, 1, 2)
			if st != cb.Status_SUCCESS {
				t.Fatalf("status %s, want SUCCESS", st)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got %v\nwant %v", got, c.want)
			}
		})
	}
	// Asked once per collection and block, with the signer's MSP ID, never
	// about the invalid transaction's collections alone.
	pd.mu.Lock()
	defer pd.mu.Unlock()
	want := []string{"1 pvtcc/org1only Org1MSP", "1 pvtcc/org1only Org2MSP", "1 pvtcc/shared Org1MSP", "1 pvtcc/shared Org2MSP"}
	slices.Sort(pd.asked)
	if !slices.Equal(pd.asked, want) {
		t.Errorf("MayRead calls %v, want %v", pd.asked, want)
	}
}

// Without a PrivateData source every block comes with an empty map.
func TestDeliverWithPrivateDataWithoutSourceSendsEmptyMaps(t *testing.T) {
	f := newDeliverFixture(t)
	got, st := receivePrivateData(t, f, f.user1, 0, 2)
	if st != cb.Status_SUCCESS || fmt.Sprint(got) != "map[0:[] 1:[] 2:[]]" {
		t.Fatalf("got %v %s, want three empty maps and SUCCESS", got, st)
	}
}

// A failure to read the private data or to decide on a collection ends the
// request with INTERNAL_SERVER_ERROR before the block: a requester never gets
// a block whose private data was silently dropped.
func TestDeliverWithPrivateDataFailures(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		f, pd := newPrivateFixture(t)
		pd.err = errors.New("disk on fire")
		got, st := receivePrivateData(t, f, f.user1, 1, 2)
		if st != cb.Status_INTERNAL_SERVER_ERROR || len(got) != 0 {
			t.Fatalf("got %v %s, want no block and INTERNAL_SERVER_ERROR", got, st)
		}
	})
	t.Run("unknown collection", func(t *testing.T) {
		f, pd := newPrivateFixture(t)
		delete(pd.readers, "pvtcc/shared")
		got, st := receivePrivateData(t, f, f.user1, 1, 2)
		if st != cb.Status_INTERNAL_SERVER_ERROR || len(got) != 0 {
			t.Fatalf("got %v %s, want no block and INTERNAL_SERVER_ERROR", got, st)
		}
	})
	t.Run("Deliver ignores it", func(t *testing.T) {
		f, pd := newPrivateFixture(t)
		pd.err = errors.New("disk on fire")
		stream, err := f.client.Deliver(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(seekEnv(t, f.user1, testChannel, specified(1), specified(2), ab.SeekInfo_BLOCK_UNTIL_READY)); err != nil {
			t.Fatal(err)
		}
		if got, st := collect(t, stream); st != cb.Status_SUCCESS || fmt.Sprint(got) != "[1 2]" {
			t.Fatalf("got %v %s, want [1 2] SUCCESS", got, st)
		}
	})
}
