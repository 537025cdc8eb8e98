package mvcc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// buildKeyIndex replays changes: a positive number is a put at that main revision, a
// negative one a delete at its absolute value (all with sub-revision 0).
func buildKeyIndex(changes ...int64) *keyIndex {
	ki := newKeyIndex([]byte("k"))
	for _, c := range changes {
		if c < 0 {
			ki.tombstone(revision{main: -c})
		} else {
			ki.put(revision{main: c})
		}
	}
	return ki
}

func TestKeyIndexLiveAt(t *testing.T) {
	// put@2 put@3 del@4 put@6
	ki := buildKeyIndex(2, 3, -4, 6)
	tests := []struct {
		at   int64
		want int64 // 0 = not live
	}{
		{1, 0}, {2, 2}, {3, 3}, {4, 0}, {5, 0}, {6, 6}, {100, 6},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.at), func(t *testing.T) {
			r, ok := ki.liveAt(tt.at)
			got := int64(0)
			if ok {
				got = r.main
			}
			if got != tt.want {
				t.Fatalf("liveAt(%d) = %d, want %d", tt.at, got, tt.want)
			}
		})
	}
}

func TestKeyIndexCompact(t *testing.T) {
	tests := []struct {
		name      string
		changes   []int64
		at        int64
		wantDrop  []string // "main" or "main t"
		wantEmpty bool
		wantLive  map[int64]int64 // at -> live main (0 = none), checked after compaction
	}{
		{name: "keeps newest <= at", changes: []int64{2, 3, 5}, at: 4,
			wantDrop: []string{"2"}, wantLive: map[int64]int64{4: 3, 5: 5}},
		{name: "exactly at", changes: []int64{2, 3, 5}, at: 3,
			wantDrop: []string{"2"}, wantLive: map[int64]int64{3: 3, 6: 5}},
		{name: "nothing below", changes: []int64{5, 6}, at: 4,
			wantLive: map[int64]int64{4: 0, 5: 5}},
		{name: "tombstone at", changes: []int64{2, 3, -4}, at: 4,
			wantDrop: []string{"2", "3"}, wantLive: map[int64]int64{4: 0, 5: 0}},
		{name: "tombstone at, then nothing", changes: []int64{2, -4}, at: 5,
			wantDrop: []string{"2", "4t"}, wantEmpty: true},
		{name: "tombstone below", changes: []int64{2, -3}, at: 9,
			wantDrop: []string{"2", "3t"}, wantEmpty: true},
		{name: "tombstone above", changes: []int64{2, 3, -5}, at: 4,
			wantDrop: []string{"2"}, wantLive: map[int64]int64{4: 3, 5: 0}},
		{name: "recreated", changes: []int64{2, -3, 5, 6}, at: 5,
			wantDrop: []string{"2", "3t"}, wantLive: map[int64]int64{5: 5, 6: 6}},
		{name: "recreated after at", changes: []int64{2, -3, 5}, at: 4,
			wantDrop: []string{"2", "3t"}, wantLive: map[int64]int64{4: 0, 5: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ki := buildKeyIndex(tt.changes...)
			var dropped []string
			empty := ki.compact(tt.at, func(r revision, tomb bool) {
				s := fmt.Sprint(r.main)
				if tomb {
					s += "t"
				}
				dropped = append(dropped, s)
			})
			if !slices.Equal(dropped, tt.wantDrop) || empty != tt.wantEmpty {
				t.Fatalf("dropped %v empty %v, want %v %v", dropped, empty, tt.wantDrop, tt.wantEmpty)
			}
			for at, want := range tt.wantLive {
				r, ok := ki.liveAt(at)
				if got := map[bool]int64{true: r.main}[ok]; got != want {
					t.Errorf("liveAt(%d) = %d, want %d", at, got, want)
				}
			}
		})
	}
}

func TestKeyIndexPrevOf(t *testing.T) {
	ki := buildKeyIndex(2, 3, -4, 6, 7)
	tests := []struct {
		rev  int64
		want int64 // 0 = no previous version
	}{
		{2, 0}, {3, 2}, {4, 3}, {6, 0}, {7, 6},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rev), func(t *testing.T) {
			r, ok := ki.prevOf(revision{main: tt.rev})
			if got := map[bool]int64{true: r.main}[ok]; got != tt.want {
				t.Fatalf("prevOf(%d) = %d, want %d", tt.rev, got, tt.want)
			}
		})
	}
}

func TestRevKeyRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		r    revision
		tomb bool
	}{{revision{1, 0}, false}, {revision{1 << 40, 7}, true}} {
		r, tomb, err := parseRevKey(revKey(tt.r, tt.tomb))
		if err != nil || r != tt.r || tomb != tt.tomb {
			t.Fatalf("parse(revKey(%v, %v)) = %v %v %v", tt.r, tt.tomb, r, tomb, err)
		}
	}
	if _, _, err := parseRevKey([]byte("short")); err == nil {
		t.Fatal("parse of a malformed key succeeded")
	}
}

// randomKeyIndex builds a history of up to 12 changes with main revisions from 2, some
// sharing a main revision (several changes of one key in one transaction).
func randomKeyIndex(rng *rand.Rand, key string) (*keyIndex, []revision) {
	ki := newKeyIndex([]byte(key))
	var revs []revision
	r := revision{main: 1}
	for range 1 + rng.IntN(12) {
		if rng.IntN(4) == 0 {
			r.sub++
		} else {
			r = revision{main: r.main + 1 + rng.Int64N(2)}
		}
		if live := len(ki.gens[len(ki.gens)-1].revs) > 0; live && rng.IntN(3) == 0 {
			ki.tombstone(r)
		} else {
			ki.put(r)
		}
		revs = append(revs, r)
	}
	return ki, revs
}

// TestKeyIndexKeeps checks keys against compact on random histories, before and after the
// compaction.
func TestKeyIndexKeeps(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	for range 2000 {
		ki, revs := randomKeyIndex(rng, "k")
		at := 1 + rng.Int64N(revs[len(revs)-1].main+1)
		before := make([]bool, len(revs))
		for i, r := range revs {
			before[i] = ki.keeps(r, at)
		}
		dropped := map[revision]bool{}
		ki.compact(at, func(r revision, _ bool) { dropped[r] = true })
		for i, r := range revs {
			if before[i] == dropped[r] || ki.keeps(r, at) == dropped[r] {
				t.Fatalf("history %v compacted at %d: keeps(%v) = %v before, %v after; dropped %v",
					revs, at, r, before[i], ki.keeps(r, at), dropped[r])
			}
		}
	}
}

// TestTreeIndexCompactChunks compacts random indexes in chunks of every size, with keys
// added between chunks, and checks the result against compacting each key at once.
func TestTreeIndexCompactChunks(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	for range 200 {
		const keys = 20
		ti, want := newTreeIndex(), newTreeIndex()
		var maxRev int64
		for k := range keys {
			if rng.IntN(5) == 0 {
				continue
			}
			name := fmt.Sprintf("k%02d", k)
			s := rng.Uint64()
			a, revs := randomKeyIndex(rand.New(rand.NewPCG(s, 0)), name)
			b, _ := randomKeyIndex(rand.New(rand.NewPCG(s, 0)), name)
			ti.tree.ReplaceOrInsert(a)
			want.tree.ReplaceOrInsert(b)
			maxRev = max(maxRev, revs[len(revs)-1].main)
		}
		at := 1 + rng.Int64N(maxRev+1)
		var wantKeep []revision
		want.tree.Ascend(func(ki *keyIndex) bool {
			ki.compact(at, func(revision, bool) {})
			for _, g := range ki.gens { // what the compacted history still holds at or below at
				for _, r := range g.revs {
					if r.main <= at {
						wantKeep = append(wantKeep, r)
					}
				}
			}
			return true
		})
		var empty []*keyIndex
		want.tree.Ascend(func(ki *keyIndex) bool {
			if len(ki.gens) == 1 && len(ki.gens[0].revs) == 0 {
				empty = append(empty, ki)
			}
			return true
		})
		for _, ki := range empty {
			want.tree.Delete(ki)
		}

		n, maxDrops := 1+rng.IntN(keys), 1+rng.IntN(30)
		var keep []revision
		var after []byte
		for more := true; more; {
			keep, after, more = ti.compactChunk(at, after, n, maxDrops, keep)
			// Keys created between chunks, behind or ahead of the walk, have only revisions
			// above at: nothing to remove or keep.
			if rng.IntN(3) == 0 && after != nil {
				for _, k := range [][]byte{append([]byte("a"), after...), append(slices.Clone(after), '+')} {
					ti.getOrCreate(k).put(revision{main: at + 1})
					want.getOrCreate(k).put(revision{main: at + 1})
				}
			}
		}
		if !slices.Equal(keep, wantKeep) || indexString(ti) != indexString(want) {
			t.Fatalf("chunks of %d keys or %d drops at %d: keep %v, want %v\n index %s\n want  %s",
				n, maxDrops, at, keep, wantKeep, indexString(ti), indexString(want))
		}
	}
}

// indexString renders every key's generations.
func indexString(ti *treeIndex) string {
	var b strings.Builder
	ti.tree.Ascend(func(ki *keyIndex) bool {
		fmt.Fprintf(&b, "%s%v ", ki.key, ki.gens)
		return true
	})
	return b.String()
}
