package auth

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
)

var permSeed = flag.Uint64("auth.seed", 1, "seed of TestIntervalSetMatchesModel")

// TestIntervalSetMatchesModel checks the merged interval sets against a brute-force model:
// permissions and queries over keys of up to two letters from {a, b, c}; a query is covered
// when every key of a universe holding every interval boundary (all strings of up to three
// characters over {\x00, a, b, c}) that lies in the query lies in some permission. A gap
// between permissions always contains its first key, a boundary, so the model is exact.
func TestIntervalSetMatchesModel(t *testing.T) {
	t.Logf("seed %d (-auth.seed to replay)", *permSeed)
	rng := rand.New(rand.NewPCG(*permSeed, 0))
	alphabet := []byte{0, 'a', 'b', 'c'}
	var universe [][]byte
	var gen func(prefix []byte)
	gen = func(prefix []byte) {
		universe = append(universe, bytes.Clone(prefix))
		if len(prefix) == 3 {
			return
		}
		for _, c := range alphabet {
			gen(append(prefix, c))
		}
	}
	gen(nil)
	key := func() []byte {
		n := 1 + rng.IntN(2)
		k := make([]byte, n)
		for i := range k {
			k[i] = "abc"[rng.IntN(3)]
		}
		return k
	}
	end := func(k []byte) []byte {
		switch rng.IntN(4) {
		case 0:
			return nil // single key
		case 1:
			return []byte{0} // from key
		default:
			return key()
		}
	}
	in := func(x, k, e []byte) bool { // x in the request or permission range [k, e)
		switch {
		case len(e) == 0:
			return bytes.Equal(x, k)
		case isOpenEnded(e):
			return bytes.Compare(x, k) >= 0
		default:
			return bytes.Compare(x, k) >= 0 && bytes.Compare(x, e) < 0
		}
	}
	for iter := range 2000 {
		var perms []*authpb.Permission
		var ivs []interval
		for range rng.IntN(5) {
			k := key()
			p := &authpb.Permission{Key: k, RangeEnd: end(k)}
			if !isValidPermissionRange(p.Key, p.RangeEnd) {
				continue
			}
			perms = append(perms, p)
			ivs = append(ivs, permInterval(p))
		}
		set := newIntervalSet(ivs)
		for range 20 {
			qk := key()
			qe := end(qk)
			if len(qe) > 0 && !isOpenEnded(qe) && bytes.Compare(qe, qk) <= 0 {
				continue // empty ranges are read as the key alone; not modelled here
			}
			want := true
			for _, x := range universe {
				if !in(x, qk, qe) {
					continue
				}
				covered := false
				for _, p := range perms {
					if in(x, p.Key, p.RangeEnd) {
						covered = true
						break
					}
				}
				if !covered {
					want = false
					break
				}
			}
			if got := set.containsRange(qk, qe); got != want {
				t.Fatalf("iteration %d: perms %v, query [%q, %q): got %v, want %v", iter, perms, qk, qe, got, want)
			}
		}
	}
}
