package mvcc

import (
	"path/filepath"
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

// TestCompactHashSkipsResumedCompaction: a compaction interrupted mid-deletes and resumed after
// a crash records no hash (part of its range is gone, so it would differ from the other
// members'); the next compaction records one again.
func TestCompactHashSkipsResumedCompaction(t *testing.T) {
	const keys, versions = 200, 5
	hist := churn(keys, versions)
	at := churnCompactRev(keys, versions)
	path := filepath.Join(t.TempDir(), "kv.db")
	stopped := make(chan struct{})
	s := openWith(t, path, smallSteps, hooks{compactStep: stopAt(true, 3, stopped)})
	history(s, hist...)
	if err := s.Compact(uint64(len(hist)+1), at); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, stopped, "the compactor to stop")
	s.crash()

	s = openAt(t, path)
	if s.ConsistentIndex() < uint64(len(hist)+1) {
		if err := s.Compact(uint64(len(hist)+1), at); err != nil {
			t.Fatal(err)
		}
	}
	waitCompacted(t, s, at)
	if got := s.CompactHashes(); len(got) != 0 {
		t.Fatalf("a resumed compaction recorded %+v, want nothing", got)
	}
	apply(s, uint64(len(hist)+2), put("k0001", "late"))
	h, rev, c, err := s.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	compact(t, s, uint64(len(hist)+3), rev)
	want := []CompactHash{{Hash: h, Revision: rev, CompactRevision: c}}
	if got := s.CompactHashes(); !slices.Equal(got, want) || c != at {
		t.Fatalf("the next compaction recorded %+v, want %+v (after %d)", got, want, at)
	}
}
