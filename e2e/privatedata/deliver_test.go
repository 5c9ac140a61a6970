package privatedata

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
)

// DeliverWithPrivateData sends with a block the private values the peer
// holds that the requester's organisation may read: on an Org1 peer, both
// collections to an Org1 client, only shared (not memberOnlyRead) to an Org2
// client; on an Org2 peer, which holds no org1only values, only shared.
func TestDeliverWithPrivateData(t *testing.T) {
	c := contract(t, peer0Org1, pvtcc)
	key := unique("d")
	b1 := mustSubmit(t, c, write{fn: "put", args: []string{"org1only", key}, value: []byte("d-org1"), orgs: bothOrgs})
	b2 := mustSubmit(t, c, write{fn: "put", args: []string{"shared", key}, value: []byte("d-shared")})
	for _, p := range []string{peer0Org1, peer0Org2} {
		waitValue(t, p, "shared", key, "d-shared")
	}
	cases := []struct {
		peer, client string
		want         []string
	}{
		{peer0Org1, "Org1MSP", []string{"org1only " + key + "=d-org1", "shared " + key + "=d-shared"}},
		{peer0Org1, "Org2MSP", []string{"shared " + key + "=d-shared"}},
		{peer0Org2, "Org2MSP", []string{"shared " + key + "=d-shared"}},
		{peer0Org2, "Org1MSP", []string{"shared " + key + "=d-shared"}},
	}
	for _, tc := range cases {
		got := deliveredPrivateWrites(t, tc.peer, tc.client, b1, b2)
		if !slices.Equal(got, tc.want) {
			t.Errorf("DeliverWithPrivateData from %s to an %s client: %q, want %q", tc.peer, tc.client, got, tc.want)
		}
	}
}

// deliveredPrivateWrites asks the peer called name, as User1 of clientMSP,
// for blocks from..to with DeliverWithPrivateData and returns pvtcc's
// private writes it sent, as "collection key=value", sorted.
func deliveredPrivateWrites(t *testing.T, name, clientMSP string, from, to uint64) []string {
	t.Helper()
	signer, err := network.Config().Signer(org(t, clientMSP), "User1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := pb.NewDeliverClient(devnettest.DialPeer(t, network, node(t, name))).DeliverWithPrivateData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env, err := wclient.SeekEnvelope(signer, devnet.ChannelID, wclient.SeekFrom(from), to)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(env); err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for {
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("DeliverWithPrivateData from %s: %v", name, err)
		}
		switch v := r.Type.(type) {
		case *pb.DeliverResponse_Status:
			if v.Status != cb.Status_SUCCESS {
				t.Fatalf("DeliverWithPrivateData from %s ended %s", name, v.Status)
			}
			slices.Sort(got)
			return got
		case *pb.DeliverResponse_BlockAndPrivateData:
			for _, ws := range v.BlockAndPrivateData.PrivateDataMap {
				for _, ns := range ws.NsPvtRwset {
					if ns.Namespace != pvtcc {
						continue
					}
					for _, coll := range ns.CollectionPvtRwset {
						kv := &kvrwset.KVRWSet{}
						if err := proto.Unmarshal(coll.Rwset, kv); err != nil {
							t.Fatalf("block %d: %s/%s: %v", v.BlockAndPrivateData.Block.GetHeader().GetNumber(), ns.Namespace, coll.CollectionName, err)
						}
						for _, w := range kv.Writes {
							got = append(got, fmt.Sprintf("%s %s=%s", coll.CollectionName, w.Key, w.Value))
						}
					}
				}
			}
		default:
			t.Fatalf("DeliverWithPrivateData from %s sent %T", name, v)
		}
	}
}
