package ledger

import "testing"

// TestEachPrivateWriteCanComeFirst checks that every kind of private write
// records on a fresh simulator, whose maps of private writes are made by
// the first one.
func TestEachPrivateWriteCanComeFirst(t *testing.T) {
	writes := map[string]func(*Simulator) error{
		"put":    func(s *Simulator) error { return s.PutPrivateData("cc", "coll", "k", []byte("v")) },
		"delete": func(s *Simulator) error { return s.DeletePrivateData("cc", "coll", "k") },
		"purge":  func(s *Simulator) error { return s.PurgePrivateData("cc", "coll", "k") },
		"metadata": func(s *Simulator) error {
			return s.SetPrivateDataMetadata("cc", "coll", "k", map[string][]byte{"m": []byte("x")})
		},
	}
	s := newSimLedger(t)
	for name, write := range writes {
		sim := s.l.NewSimulator("tx")
		if err := write(sim); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pub, pvt, err := sim.Results()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(pub.NsRwset) != 1 || len(pub.NsRwset[0].CollectionHashedRwset) != 1 {
			t.Fatalf("%s: public set %v, want the collection's hashes", name, pub)
		}
		if pvt == nil || len(pvt.NsPvtRwset) != 1 {
			t.Fatalf("%s: private set %v, want the collection's writes", name, pvt)
		}
		sim.Done()
	}
}
