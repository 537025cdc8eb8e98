package mvcc

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// compactHistory: a@2 a@3 b@4 del a@5 c@6 a@7 del c@8
var compactHistory = [][]op{
	{put("a", "1")},
	{put("a", "2")},
	{put("b", "1")},
	{delKey("a")},
	{put("c", "1")},
	{put("a", "3")},
	{delKey("c")},
}

func TestCompact(t *testing.T) {
	tests := []struct {
		name    string
		at      int64
		readAt  map[int64]string // rev -> all keys at rev; "ERR" means ErrCompacted
		backend []string         // revision keys left in the backend after a commit
	}{
		{name: "at 3 keeps newest a", at: 3,
			readAt:  map[int64]string{2: "ERR", 3: "a=2@2/3/2", 4: "a=2@2/3/2 b=1@4/4/1", 8: "a=3@7/7/1 b=1@4/4/1"},
			backend: []string{"3", "4", "5t", "6", "7", "8t"}},
		{name: "at 5 keeps the tombstone at 5 only", at: 5,
			readAt:  map[int64]string{4: "ERR", 5: "b=1@4/4/1", 6: "b=1@4/4/1 c=1@6/6/1"},
			backend: []string{"4", "5t", "6", "7", "8t"}},
		{name: "at 6 drops tombstone and generation", at: 6,
			readAt:  map[int64]string{5: "ERR", 6: "b=1@4/4/1 c=1@6/6/1"},
			backend: []string{"4", "6", "7", "8t"}},
		{name: "at 8 keeps deleted c's tombstone", at: 8,
			readAt:  map[int64]string{7: "ERR", 8: "a=3@7/7/1 b=1@4/4/1"},
			backend: []string{"4", "7", "8t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			history(s, compactHistory...)
			if err := s.Compact(100, tt.at); err != nil {
				t.Fatal(err)
			}
			if s.CompactRev() != tt.at || s.ConsistentIndex() != 100 || s.Rev() != 8 {
				t.Fatalf("CompactRev %d index %d Rev %d", s.CompactRev(), s.ConsistentIndex(), s.Rev())
			}
			checkReads(t, s, tt.readAt)
			waitCompacted(t, s, tt.at)
			checkReads(t, s, tt.readAt)
			if got := backendRevs(t, s); !equalStrings(got, tt.backend) {
				t.Fatalf("backend holds %v, want %v", got, tt.backend)
			}
			// The same after a restart, which rebuilds the index from the backend.
			s = reopen(t, s)
			checkReads(t, s, tt.readAt)
		})
	}
}

func checkReads(t *testing.T, s *Store, readAt map[int64]string) {
	t.Helper()
	for rev, want := range readAt {
		r := s.Read()
		res, err := r.Range([]byte("\x00"), []byte("\x00"), RangeOptions{Rev: rev})
		r.End()
		if want == "ERR" {
			wantErr(t, err, ErrCompacted)
			continue
		}
		if err != nil {
			t.Fatalf("read at %d: %v", rev, err)
		}
		if got := kvString(res.KVs); got != want {
			t.Errorf("read at %d: got %q, want %q", rev, got, want)
		}
	}
}

// backendRevs lists the committed key bucket entries as "main" or "main t".
func backendRevs(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(keyBucket).ForEach(func(k, _ []byte) error {
			r, tomb, err := parseRevKey(k)
			if err != nil {
				return err
			}
			e := itoa(r.main)
			if tomb {
				e += "t"
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCompactErrors(t *testing.T) {
	tests := []struct {
		name  string
		first int64 // compaction before the tested one; 0 = none
		at    int64
		want  error
	}{
		{name: "future", at: 9, want: ErrFutureRev},
		{name: "current is fine", at: 8},
		{name: "first compaction at 1", at: 1},
		{name: "zero", at: 0, want: ErrCompacted},
		{name: "same as compacted", first: 4, at: 4, want: ErrCompacted},
		{name: "below compacted", first: 4, at: 3, want: ErrCompacted},
		{name: "above compacted", first: 4, at: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			history(s, compactHistory...)
			if tt.first != 0 {
				if err := s.Compact(50, tt.first); err != nil {
					t.Fatal(err)
				}
			}
			wantErr(t, s.Compact(51, tt.at), tt.want)
			// A refused compaction is still an applied raft entry.
			if s.ConsistentIndex() != 51 {
				t.Fatalf("ConsistentIndex() = %d, want 51", s.ConsistentIndex())
			}
		})
	}
}

func TestCompactEverythingThenRestart(t *testing.T) {
	s := newStore(t)
	history(s, []op{put("a", "1")}, []op{delKey("a")})
	if err := s.Compact(3, 3); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	if s.Rev() != 3 || s.CompactRev() != 3 || s.ConsistentIndex() != 3 {
		t.Fatalf("Rev %d CompactRev %d index %d, want 3 3 3", s.Rev(), s.CompactRev(), s.ConsistentIndex())
	}
	apply(s, 4, put("a", "2"))
	if got := kvString(rangeAt(t, s, "a", "", RangeOptions{}).KVs); got != "a=2@4/4/1" {
		t.Fatalf("got %q", got)
	}
}

func TestReadTxnOvertakenByCompaction(t *testing.T) {
	s := newStore(t)
	history(s, compactHistory...)
	r := s.Read()
	defer r.End()
	if err := s.Compact(9, 8); err != nil {
		t.Fatal(err)
	}
	_, err := r.Range([]byte("a"), nil, RangeOptions{Rev: 7})
	wantErr(t, err, ErrCompacted)
	if _, err := r.Range([]byte("a"), nil, RangeOptions{}); err != nil {
		t.Fatalf("read at the compaction revision: %v", err)
	}
}
