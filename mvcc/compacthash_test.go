package mvcc

import (
	"slices"
	"testing"
)

// TestCompactHashes: each compaction records the HashKV of the history it erases, as HashKV
// computed it just before; the newest first, at most keptCompactHashes; a restore forgets them.
func TestCompactHashes(t *testing.T) {
	s := newStore(t)
	history(s, []op{put("a", "1"), put("b", "1")}, []op{put("a", "2")}, []op{delKey("b")}, []op{put("c", "1")},
		[]op{put("a", "3")})
	want := make([]CompactHash, 0, 2)
	for i, rev := range []int64{3, 5} {
		h, at, c, err := s.HashKV(rev)
		if err != nil {
			t.Fatal(err)
		}
		compact(t, s, uint64(100+i), rev)
		want = append([]CompactHash{{Hash: h, Revision: at, CompactRevision: c}}, want...)
	}
	if got := s.CompactHashes(); !slices.Equal(got, want) {
		t.Fatalf("CompactHashes = %+v, want %+v", got, want)
	}
	if got, ok := s.CompactHashAt(3); !ok || got != want[1] {
		t.Fatalf("CompactHashAt(3) = %+v, %v; want %+v", got, ok, want[1])
	}
	if _, ok := s.CompactHashAt(4); ok {
		t.Fatal("CompactHashAt(4): a hash for a revision never compacted to")
	}
	// Another store with the same history records the same hashes.
	o := newStore(t)
	history(o, []op{put("a", "1"), put("b", "1")}, []op{put("a", "2")}, []op{delKey("b")}, []op{put("c", "1")},
		[]op{put("a", "3")})
	compact(t, o, 100, 3)
	compact(t, o, 101, 5)
	if got := o.CompactHashes(); !slices.Equal(got, want) {
		t.Fatalf("the twin store's CompactHashes = %+v, want %+v", got, want)
	}

	for i := range keptCompactHashes + 2 {
		history(s, []op{put("k", itoa(int64(i)))})
		compact(t, s, uint64(200+i), s.Rev())
	}
	if got := s.CompactHashes(); len(got) != keptCompactHashes || got[0].Revision != s.Rev() {
		t.Fatalf("after many compactions: %d hashes, newest %+v; want %d, newest at %d", len(got), got[0],
			keptCompactHashes, s.Rev())
	}
	if r := reopen(t, s); len(r.CompactHashes()) != 0 {
		t.Fatalf("a reopened store has hashes of compactions it did not run: %+v", r.CompactHashes())
	}
}
