package mvcc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestRestartPreservesState(t *testing.T) {
	s := newStore(t)
	history(s, compactHistory...)
	if err := s.Compact(8, 4); err != nil {
		t.Fatal(err)
	}
	w := s.Write(9)
	w.SetAux([]byte("members"), []byte("m1"), []byte("alpha"))
	w.End()
	wantHash, _, _, err := s.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	wantKVs := kvString(rangeAt(t, s, "\x00", "\x00", RangeOptions{}).KVs)

	s = reopen(t, s)
	if s.Rev() != 8 || s.CompactRev() != 4 || s.ConsistentIndex() != 9 {
		t.Fatalf("Rev %d CompactRev %d index %d, want 8 4 9", s.Rev(), s.CompactRev(), s.ConsistentIndex())
	}
	if got := kvString(rangeAt(t, s, "\x00", "\x00", RangeOptions{}).KVs); got != wantKVs {
		t.Fatalf("got %q, want %q", got, wantKVs)
	}
	if h, _, _, _ := s.HashKV(0); h != wantHash {
		t.Fatalf("hash %x, want %x", h, wantHash)
	}
	if got := string(s.Aux([]byte("members"), []byte("m1"))); got != "alpha" {
		t.Fatalf("aux = %q", got)
	}
	// Writing continues from the restored revision.
	apply(s, 10, put("a", "4"))
	if got := kvString(rangeAt(t, s, "a", "", RangeOptions{}).KVs); got != "a=4@7/9/2" {
		t.Fatalf("got %q", got)
	}
}

func TestCrashLosesOnlyUncommittedBatch(t *testing.T) {
	s := newStore(t)
	apply(s, 1, put("a", "1"))
	apply(s, 2, put("b", "1"))
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	apply(s, 3, put("a", "2"))
	apply(s, 4) // a no-op entry
	if s.ConsistentIndex() != 4 {
		t.Fatalf("ConsistentIndex() = %d before the crash", s.ConsistentIndex())
	}
	s.crash()

	s = openAt(t, s.cfg.Path)
	if s.ConsistentIndex() != 2 || s.Rev() != 3 {
		t.Fatalf("after crash index %d Rev %d, want 2 and 3", s.ConsistentIndex(), s.Rev())
	}
	if got := kvString(rangeAt(t, s, "a", "c", RangeOptions{}).KVs); got != "a=1@2/2/1 b=1@3/3/1" {
		t.Fatalf("after crash got %q", got)
	}
	// Raft re-applies entries 3 and 4 and gets the same result as before the crash.
	apply(s, 3, put("a", "2"))
	apply(s, 4)
	if got := kvString(rangeAt(t, s, "a", "", RangeOptions{}).KVs); got != "a=2@2/4/2" {
		t.Fatalf("after replay got %q", got)
	}
}

func TestBatchLimitCommits(t *testing.T) {
	committed := make(chan error, 16)
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := open(Config{Path: path, BatchInterval: testBatchInterval, BatchLimit: 3},
		hooks{committed: func(err error) { committed <- err }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := uint64(1); i <= 3; i++ {
		apply(s, i, put(fmt.Sprint("k", i), "v"))
	}
	select {
	case err := <-committed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no commit after reaching the batch limit")
	}
	// What the committer wrote is durable: a crash now keeps it.
	s.crash()
	s = openAt(t, path)
	if s.ConsistentIndex() != 3 || s.Rev() != 4 {
		t.Fatalf("index %d Rev %d, want 3 and 4", s.ConsistentIndex(), s.Rev())
	}
}

func TestSnapshotRestore(t *testing.T) {
	src := newStore(t)
	history(src, compactHistory...)
	w := src.Write(8)
	w.SetAux([]byte("members"), []byte("m1"), []byte("alpha"))
	w.SetAux([]byte("cluster"), []byte("id"), []byte{1, 2})
	w.End()
	if err := src.Compact(9, 5); err != nil {
		t.Fatal(err)
	}
	apply(src, 10, put("z", "1"))
	var snap bytes.Buffer
	n, err := src.Snapshot(&snap)
	if err != nil || n != int64(snap.Len()) || n == 0 {
		t.Fatalf("Snapshot wrote %d (buffer %d): %v", n, snap.Len(), err)
	}

	dst := newStore(t)
	history(dst, []op{put("old", "x")}, []op{put("old", "y")}) // replaced by the restore
	dw := dst.Write(3)
	dw.SetAux([]byte("members"), []byte("stale"), []byte("x"))
	dw.End()
	if err := dst.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	checkSameStore(t, src, dst)
	if v := dst.Aux([]byte("members"), []byte("stale")); v != nil {
		t.Fatalf("aux from before the restore survived: %q", v)
	}
	if _, err := os.Stat(dst.cfg.Path + ".restore"); !os.IsNotExist(err) {
		t.Fatalf("temporary restore file left behind: %v", err)
	}
	// The restored store persists across a restart and keeps working.
	dst = reopen(t, dst)
	checkSameStore(t, src, dst)
	apply(src, 11, put("a", "9"))
	apply(dst, 11, put("a", "9"))
	checkSameStore(t, src, dst)
}

func TestRestoreRejectsGarbage(t *testing.T) {
	s := newStore(t)
	apply(s, 1, put("a", "1"))
	if err := s.Restore(bytes.NewReader([]byte("not a bbolt file"))); err == nil {
		t.Fatal("Restore of garbage succeeded")
	}
	if got := kvString(rangeAt(t, s, "a", "", RangeOptions{}).KVs); got != "a=1@2/2/1" {
		t.Fatalf("store changed by a failed restore: %q", got)
	}
}

// checkSameStore compares revisions, consistent index, hash, data and aux buckets.
func checkSameStore(t *testing.T, a, b *Store) {
	t.Helper()
	if a.Rev() != b.Rev() || a.CompactRev() != b.CompactRev() || a.ConsistentIndex() != b.ConsistentIndex() {
		t.Fatalf("rev/compact/index %d/%d/%d != %d/%d/%d", a.Rev(), a.CompactRev(), a.ConsistentIndex(),
			b.Rev(), b.CompactRev(), b.ConsistentIndex())
	}
	ha, _, _, err := a.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	hb, _, _, err := b.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	if ha != hb {
		t.Fatalf("hash %x != %x", ha, hb)
	}
	ka := kvString(rangeAt(t, a, "\x00", "\x00", RangeOptions{}).KVs)
	kb := kvString(rangeAt(t, b, "\x00", "\x00", RangeOptions{}).KVs)
	if ka != kb {
		t.Fatalf("data %q != %q", ka, kb)
	}
	for _, bucket := range []string{"members", "cluster"} {
		if ea, eb := auxEntries(t, a, bucket), auxEntries(t, b, bucket); !slices.Equal(ea, eb) {
			t.Fatalf("aux %s: %v != %v", bucket, ea, eb)
		}
	}
}

func auxEntries(t *testing.T, s *Store, bucket string) []string {
	t.Helper()
	var out []string
	err := s.ForEachAux([]byte(bucket), func(k, v []byte) error {
		out = append(out, string(k)+"="+string(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAux(t *testing.T) {
	s := newStore(t)
	set := func(index uint64, bucket, key, val string) {
		w := s.Write(index)
		if val == "" {
			w.DeleteAux([]byte(bucket), []byte(key))
		} else {
			w.SetAux([]byte(bucket), []byte(key), []byte(val))
		}
		w.End()
	}
	set(1, "leases", "b", "2")
	set(2, "leases", "a", "1")
	set(3, "leases", "c", "3")
	set(4, "other", "a", "x")
	if s.Rev() != 1 || s.ConsistentIndex() != 4 {
		t.Fatalf("aux writes moved Rev to %d (index %d)", s.Rev(), s.ConsistentIndex())
	}
	steps := []struct {
		name   string
		commit bool
		change func()
		want   []string
	}{
		{name: "buffered", want: []string{"a=1", "b=2", "c=3"}},
		{name: "committed", commit: true, want: []string{"a=1", "b=2", "c=3"}},
		{name: "delete buffered over committed", change: func() { set(5, "leases", "b", "") },
			want: []string{"a=1", "c=3"}},
		{name: "overwrite", change: func() { set(6, "leases", "a", "9") }, want: []string{"a=9", "c=3"}},
		{name: "committed again", commit: true, want: []string{"a=9", "c=3"}},
		{name: "after restart", change: func() { s = reopen(t, s) }, want: []string{"a=9", "c=3"}},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change()
		}
		if st.commit {
			if err := s.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		if got := auxEntries(t, s, "leases"); !slices.Equal(got, st.want) {
			t.Fatalf("%s: ForEachAux = %v, want %v", st.name, got, st.want)
		}
		for _, kv := range st.want {
			k, v, _ := bytes.Cut([]byte(kv), []byte("="))
			if got := s.Aux([]byte("leases"), k); !bytes.Equal(got, v) {
				t.Fatalf("%s: Aux(%s) = %q, want %q", st.name, k, got, v)
			}
		}
	}
	if got := s.Aux([]byte("leases"), []byte("b")); got != nil {
		t.Fatalf("deleted aux key = %q", got)
	}
	if got := s.Aux([]byte("nobucket"), []byte("b")); got != nil {
		t.Fatalf("missing bucket = %q", got)
	}
	if got := auxEntries(t, s, "other"); !slices.Equal(got, []string{"a=x"}) {
		t.Fatalf("other bucket = %v", got)
	}
}

func TestSize(t *testing.T) {
	s := newStore(t)
	size, inUse := s.Size()
	if size <= 0 || inUse <= 0 || inUse > size {
		t.Fatalf("empty store Size = %d, %d", size, inUse)
	}
	for i := range 200 {
		apply(s, uint64(i+1), put(fmt.Sprint("key", i), string(bytes.Repeat([]byte("v"), 1000))))
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if grown, _ := s.Size(); grown <= size {
		t.Fatalf("Size did not grow: %d -> %d", size, grown)
	}
}

// The test-only fault behind keeld's --unsafe-lose-acked-writes does what it says: a Close
// drops the pending batch's key changes yet records their raft index as applied, so raft
// would never re-apply them. tests/robustness relies on it to prove its checks catch a lost
// write.
func TestUnsafeLoseDataOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := Open(Config{Path: path, BatchInterval: testBatchInterval, UnsafeLoseDataOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	apply(s, 1, put("a", "1"))
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	apply(s, 2, put("b", "1"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if s.ConsistentIndex() != 2 {
		t.Errorf("ConsistentIndex() = %d, want 2 (the dropped entry recorded as applied)", s.ConsistentIndex())
	}
	if got := kvString(rangeAt(t, s, "\x00", "\x00", RangeOptions{}).KVs); got != "a=1@2/2/1" {
		t.Errorf("got %q, want only the committed a=1", got)
	}
}

// A snapshot whose copy is not newer than the store leaves the store as it is: restoring it
// would move the store back in time (RestoreNewer); a newer one replaces it.
func TestRestoreNewerKeepsNewerStore(t *testing.T) {
	src := newStore(t)
	apply(src, 1, put("a", "1"))
	apply(src, 2, put("b", "1"))
	var older bytes.Buffer
	if _, err := src.Snapshot(&older); err != nil {
		t.Fatal(err)
	}
	apply(src, 3, put("c", "1"))
	var same bytes.Buffer
	if _, err := src.Snapshot(&same); err != nil {
		t.Fatal(err)
	}
	for name, snap := range map[string][]byte{"older": older.Bytes(), "same index": same.Bytes()} {
		restored, err := src.RestoreNewer(bytes.NewReader(snap))
		if err != nil || restored {
			t.Fatalf("%s snapshot: RestoreNewer = %v, %v; want the store kept", name, restored, err)
		}
		if src.ConsistentIndex() != 3 || src.Rev() != 4 {
			t.Fatalf("%s snapshot: index %d Rev %d, want 3 and 4", name, src.ConsistentIndex(), src.Rev())
		}
		if got := kvString(rangeAt(t, src, "c", "", RangeOptions{}).KVs); got != "c=1@4/4/1" {
			t.Fatalf("%s snapshot: c = %q after RestoreNewer", name, got)
		}
	}
	if _, err := os.Stat(src.cfg.Path + ".restore"); !os.IsNotExist(err) {
		t.Fatalf("temporary restore file left behind: %v", err)
	}

	behind := newStore(t)
	apply(behind, 1, put("a", "1"))
	restored, err := behind.RestoreNewer(bytes.NewReader(same.Bytes()))
	if err != nil || !restored {
		t.Fatalf("RestoreNewer on a store behind the snapshot = %v, %v; want restored", restored, err)
	}
	checkSameStore(t, src, behind)
}
