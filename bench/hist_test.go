package bench

import (
	"flag"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var seed = flag.Uint64("seed", 0, "random seed (0 = from the clock)")

func testRand(t *testing.T) *rand.Rand {
	t.Helper()
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	return rand.New(rand.NewPCG(s, s))
}

func TestBucketsTileTheValues(t *testing.T) {
	// Consecutive buckets must be contiguous and every value must land in the bucket whose
	// bounds hold it.
	prevHi := ^uint64(0) // so that bucket 0 starts at prevHi+1 = 0
	for i := range 40 << subBits {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		for _, v := range []uint64{lo, hi, lo + (hi-lo)/2} {
			if got := bucketIndex(v); got != i {
				t.Fatalf("value %d: bucket %d, want %d (bounds %d..%d)", v, got, i, lo, hi)
			}
		}
		if w := hi - lo + 1; lo >= 2<<subBits && float64(w)/float64(lo) > 1.0/(1<<subBits) {
			t.Fatalf("bucket %d (%d..%d) is wider than 1/%d of its values", i, lo, hi, 1<<subBits)
		}
		prevHi = hi
	}
}

func TestPercentileExactForSmallValues(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i))
	}
	cases := []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {1, 1}, {50, 50}, {90, 90}, {99, 99}, {99.9, 100}, {100, 100}}
	for _, tc := range cases {
		if got := h.Percentile(tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if h.Count() != 100 || h.Min() != 1 || h.Max() != 100 || h.Mean() != 50 {
		t.Errorf("count=%d min=%v max=%v mean=%v, want 100 1ns 100ns 50ns", h.Count(), h.Min(), h.Max(), h.Mean())
	}
}

func TestPercentileWithinBucketError(t *testing.T) {
	r := testRand(t)
	var h Histogram
	var vals []time.Duration
	for range 20000 {
		// Log-uniform from 1µs to 10s.
		v := time.Duration(1000 * math.Pow(10, r.Float64()*7))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, p := range []float64{1, 25, 50, 90, 99, 99.9, 99.99} {
		rank := int(math.Ceil(p / 100 * float64(len(vals))))
		want := vals[rank-1]
		got := h.Percentile(p)
		if got < want || float64(got-want) > float64(want)/(1<<subBits) {
			t.Errorf("p%v = %v, want %v within +1/%d", p, got, want, 1<<subBits)
		}
	}
	if h.Percentile(100) != vals[len(vals)-1] || h.Min() != vals[0] {
		t.Errorf("max/min = %v/%v, want %v/%v", h.Percentile(100), h.Min(), vals[len(vals)-1], vals[0])
	}
}

func TestMergeEqualsRecordingEverything(t *testing.T) {
	r := testRand(t)
	var all, a, b Histogram
	for i := range 5000 {
		v := time.Duration(r.Int64N(int64(50 * time.Millisecond)))
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{})
	if m.Count() != all.Count() || m.Min() != all.Min() || m.Max() != all.Max() || m.Mean() != all.Mean() {
		t.Fatalf("merged count/min/max/mean %d/%v/%v/%v, want %d/%v/%v/%v", m.Count(), m.Min(), m.Max(), m.Mean(),
			all.Count(), all.Min(), all.Max(), all.Mean())
	}
	for _, p := range []float64{10, 50, 99, 99.9} {
		if m.Percentile(p) != all.Percentile(p) {
			t.Errorf("p%v = %v, want %v", p, m.Percentile(p), all.Percentile(p))
		}
	}
}

func TestEmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Percentile(50) != 0 || h.Mean() != 0 || h.Bars(5) != nil {
		t.Fatal("empty histogram should report zeros and no bars")
	}
	h.Record(-time.Second)
	if h.Count() != 1 || h.Max() != 0 || h.Percentile(99) != 0 {
		t.Fatalf("negative value: count=%d max=%v, want 1 0", h.Count(), h.Max())
	}
}

func TestBarsCountEverything(t *testing.T) {
	r := testRand(t)
	var h Histogram
	for range 3000 {
		h.Record(time.Duration(r.Int64N(int64(time.Second))) + time.Microsecond)
	}
	bars := h.Bars(10)
	if len(bars) != 10 {
		t.Fatalf("got %d bars, want 10", len(bars))
	}
	var sum uint64
	for i, b := range bars {
		sum += b.Count
		if i > 0 && b.Upper < bars[i-1].Upper {
			t.Errorf("bar %d upper %v below previous %v", i, b.Upper, bars[i-1].Upper)
		}
	}
	if sum != h.Count() || bars[9].Upper != h.Max() {
		t.Fatalf("bars hold %d values up to %v, want %d up to %v", sum, bars[9].Upper, h.Count(), h.Max())
	}
}
