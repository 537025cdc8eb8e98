package mvcc

import (
	"testing"
)

func TestHashKV(t *testing.T) {
	hist := [][]op{
		{put("a", "1"), put("b", "1")},
		{put("a", "2")},
		{delKey("b")},
		{put("c", "1")},
	}
	a, b := newStore(t), newStore(t)
	history(a, hist...)
	history(b, hist...)
	// Commit timing must not matter: b has everything on disk, a has it all buffered.
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for rev := int64(0); rev <= 5; rev++ {
		ha, ra, ca, err := a.HashKV(rev)
		if err != nil {
			t.Fatal(err)
		}
		hb, rb, cb, err := b.HashKV(rev)
		if err != nil {
			t.Fatal(err)
		}
		if ha != hb || ra != rb || ca != cb {
			t.Fatalf("rev %d: %x/%d/%d != %x/%d/%d", rev, ha, ra, ca, hb, rb, cb)
		}
	}
	h4, _, _, _ := a.HashKV(4)
	h5, r5, _, _ := a.HashKV(0)
	if h4 == h5 || r5 != 5 {
		t.Fatalf("hash at 4 and 5 agree (%x) or current is %d", h4, r5)
	}

	// Same compaction on both: still equal. A commit in the middle of a's compaction
	// must not matter either.
	if err := a.Compact(6, 3); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := b.Compact(6, 3); err != nil {
		t.Fatal(err)
	}
	ha, _, ca, _ := a.HashKV(0)
	hb, _, cb, _ := b.HashKV(0)
	if ha != hb || ca != 3 || cb != 3 {
		t.Fatalf("after compaction %x/%d != %x/%d", ha, ca, hb, cb)
	}

	// Divergence shows.
	apply(a, 7, put("d", "1"))
	apply(b, 7, put("d", "2"))
	ha, _, _, _ = a.HashKV(0)
	hb, _, _, _ = b.HashKV(0)
	if ha == hb {
		t.Fatal("diverged stores hash the same")
	}
	// ...but not below the divergence.
	ha, _, _, _ = a.HashKV(5)
	hb, _, _, _ = b.HashKV(5)
	if ha != hb {
		t.Fatal("stores differ before the divergence")
	}
}

func TestHashKVErrors(t *testing.T) {
	s := newStore(t)
	history(s, []op{put("a", "1")}, []op{put("a", "2")}, []op{put("a", "3")})
	if err := s.Compact(4, 3); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rev  int64
		want error
	}{
		{rev: 2, want: ErrCompacted},
		{rev: 3},
		{rev: 4},
		{rev: 5, want: ErrFutureRev},
	}
	for _, tt := range tests {
		_, hashRev, compactRev, err := s.HashKV(tt.rev)
		wantErr(t, err, tt.want)
		if err == nil && (hashRev != tt.rev || compactRev != 3) {
			t.Fatalf("HashKV(%d) hashed %d with compaction %d", tt.rev, hashRev, compactRev)
		}
	}
}
