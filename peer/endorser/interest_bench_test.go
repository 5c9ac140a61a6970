package endorser

import (
	"testing"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/lifecycle"
)

// createAssetSim simulates what the devnet's CreateAsset of the `basic`
// chaincode records on l: the chaincode's sequence read from `_lifecycle`,
// then a read and a write of the new asset.
func createAssetSim(b *testing.B, l *ledger.Ledger) *ledger.Simulator {
	b.Helper()
	sim := l.NewSimulator("tx")
	if _, err := lifecycle.ReadSequence(sim, "basic"); err != nil {
		b.Fatal(err)
	}
	if _, err := sim.GetState("basic", "asset-000001"); err != nil {
		b.Fatal(err)
	}
	asset := []byte(`{"AppraisedValue":300,"Color":"blue","ID":"asset-000001","Owner":"Tomoko","Size":5,"docType":"asset"}`)
	if err := sim.SetState("basic", "asset-000001", asset); err != nil {
		b.Fatal(err)
	}
	return sim
}

// BenchmarkBuildInterest measures the chaincode interest of a CreateAsset
// simulation, with the written key's metadata read from the real ledger, as
// the endorser builds it (from the simulator's decoded results).
func BenchmarkBuildInterest(b *testing.B) {
	ev := newEnv(b)
	l := ev.ledger.Ledger.(ledgerAdapter)
	sim := createAssetSim(b, l.l)
	defer sim.Done()
	pub, _, decoded, err := simResults(sim)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		in, err := buildInterest(pub, decoded, privateReadsOf(sim), l, ev.e.isSystem)
		if err != nil || len(in.Chaincodes) != 1 {
			b.Fatalf("interest %v, %v", in, err)
		}
	}
}

// BenchmarkSimulatorResults measures collecting the results of a CreateAsset
// simulation.
func BenchmarkSimulatorResults(b *testing.B) {
	ev := newEnv(b)
	l := ev.ledger.Ledger.(ledgerAdapter)
	sim := createAssetSim(b, l.l)
	defer sim.Done()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := sim.Results(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSimulateCreateAsset measures a CreateAsset simulation's
// bookkeeping in the ledger's simulator: start, the three reads and the
// write of createAssetSim, the results, done.
func BenchmarkSimulateCreateAsset(b *testing.B) {
	ev := newEnv(b)
	l := ev.ledger.Ledger.(ledgerAdapter)
	b.ReportAllocs()
	for b.Loop() {
		sim := createAssetSim(b, l.l)
		if _, err := sim.DecodedResults(); err != nil {
			b.Fatal(err)
		}
		sim.Done()
	}
}
