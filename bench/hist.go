package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: every power-of-two range of values is split into
// 1<<subBits buckets, so a bucket is at most 1/128 (0.8%) of its values wide. Values below
// 2<<subBits nanoseconds (256 ns) get a bucket each and are recorded exactly.
const subBits = 7

// Histogram is an HDR-like latency histogram: log-bucketed with linear sub-buckets, exact
// counts, exact min, max and sum. The zero value is empty and ready to use. It is not safe
// for concurrent use: give each worker its own and Merge them.
//
// Bucket layout, for a value v in nanoseconds with n significant bits: shift = max(0,
// n-subBits-1), mantissa m = v>>shift, index = shift<<subBits + m. For example, with
// subBits = 7, v = 1000 (10 bits) has shift 2, m = 250 and index 2*128+250 = 506; that
// bucket holds 1000..1003.
type Histogram struct {
	counts []uint64 // by bucket index, grown on demand
	n      uint64
	sum    float64 // nanoseconds
	min    int64
	max    int64
}

func bucketIndex(v uint64) int {
	shift := max(bits.Len64(v)-subBits-1, 0)
	return shift<<subBits + int(v>>shift)
}

// bucketBounds returns the smallest and largest value that land in bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	shift, m := 0, i
	if i >= 2<<subBits {
		shift = i>>subBits - 1
		m = i - shift<<subBits
	}
	lo = uint64(m) << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one latency; negative values count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	i := bucketIndex(uint64(v))
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest recorded value, 0 when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest recorded value, 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the average of the recorded values, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100): the smallest recorded
// value such that at least p% of the values are at or below it, reported as the upper bound
// of its bucket and clamped to [Min, Max]. It is exact below 256 ns and within 0.8% above.
// p <= 0 gives Min, p >= 100 gives Max, an empty histogram gives 0.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if p <= 0 {
		return h.Min()
	}
	if p >= 100 {
		return h.Max()
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketBounds(i)
			return time.Duration(min(max(int64(hi), h.min), h.max))
		}
	}
	return h.Max()
}

// Bar is one bar of a coarse histogram: Count values at or below Upper (and above the
// previous bar's Upper).
type Bar struct {
	Upper time.Duration `json:"upper_ns"`
	Count uint64        `json:"count"`
}

// Bars folds the histogram into n bars with log-spaced upper bounds from Min to Max. Each
// fine bucket is counted in the bar that holds its lower bound, so counts add up to Count.
func (h *Histogram) Bars(n int) []Bar {
	if h.n == 0 || n < 1 {
		return nil
	}
	lo, hi := float64(max(h.min, 1)), float64(max(h.max, 1))
	bars := make([]Bar, n)
	for i := range bars {
		bars[i].Upper = time.Duration(lo * math.Pow(hi/lo, float64(i+1)/float64(n)))
	}
	bars[n-1].Upper = h.Max()
	b := 0
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		v, _ := bucketBounds(i)
		for b < n-1 && time.Duration(v) > bars[b].Upper {
			b++
		}
		bars[b].Count += c
	}
	return bars
}
