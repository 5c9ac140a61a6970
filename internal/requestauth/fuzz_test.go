package requestauth

import (
	"math/big"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// FuzzCheckTimestamp judges the channel header timestamps clients send
// (Deliver seek requests) against a server clock and a window. A timestamp
// must be accepted exactly when it is valid and at most window away from
// the clock either way, however far away it is: the distance is computed
// here in big integers.
func FuzzCheckTimestamp(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add(int64(1_700_000_000), int32(0), int64(DefaultTimeWindow))
	f.Add(int64(1_700_000_900), int32(0), int64(DefaultTimeWindow))
	f.Add(int64(1_700_000_900), int32(1), int64(DefaultTimeWindow))
	f.Add(int64(1_699_999_100), int32(0), int64(DefaultTimeWindow))
	// Found by FuzzPeerDeliverSeekInfo: a timestamp about 800 years ahead
	// was accepted, the distance overflowing time.Duration.
	f.Add(int64(27_220_000_000), int32(0), int64(DefaultTimeWindow))
	f.Add(int64(-62_135_596_800), int32(0), int64(DefaultTimeWindow))
	f.Add(int64(253_402_300_799), int32(999_999_999), int64(time.Hour))
	f.Fuzz(func(t *testing.T, sec int64, nanos int32, window int64) {
		if window < 0 {
			window = -window
		}
		if window < 0 {
			return
		}
		ts := &timestamppb.Timestamp{Seconds: sec, Nanos: nanos}
		err := CheckTimestamp(ts, now, time.Duration(window))

		want := ts.CheckValid() == nil
		if want {
			// |ts - now| in nanoseconds, exactly.
			d := new(big.Int).Mul(big.NewInt(sec-now.Unix()), big.NewInt(1e9))
			d.Add(d, big.NewInt(int64(nanos)))
			d.Abs(d)
			want = d.Cmp(big.NewInt(window)) <= 0
		}
		if (err == nil) != want {
			t.Fatalf("timestamp %v against %v, window %v: error %v, want accepted=%t", ts.AsTime(), now, time.Duration(window), err, want)
		}
	})
}

func TestCheckTimestampFarAway(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, at := range []time.Time{now.AddDate(800, 0, 0), now.AddDate(-800, 0, 0), time.Unix(0, 0).AddDate(-1000, 0, 0)} {
		if err := CheckTimestamp(timestamppb.New(at), now, DefaultTimeWindow); err == nil {
			t.Errorf("a request stamped %s was accepted at %s", at, now)
		}
	}
	if err := CheckTimestamp(timestamppb.New(now.Add(DefaultTimeWindow)), now, DefaultTimeWindow); err != nil {
		t.Errorf("a request at the edge of the window was refused: %v", err)
	}
}
