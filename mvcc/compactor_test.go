package mvcc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// smallSteps makes the compactor take many small steps: a few keys per index chunk, a few
// revisions per delete batch, no pause.
var smallSteps = Config{CompactionChunkKeys: 16, CompactionBatchRevisions: 25, CompactionBatchPause: -1}

// openWith opens a store at path with cfg's compaction settings and hooks h, closed at
// cleanup.
func openWith(t testing.TB, path string, cfg Config, h hooks) *Store {
	t.Helper()
	cfg.Path, cfg.BatchInterval = path, testBatchInterval
	s, err := open(cfg, h)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// churn is a history over keys keys: each is put versions times, one in three is then
// deleted and one in nine put again, one transaction per change. Compacting it at
// churnCompactRev removes superseded versions, whole generations with their tombstones, and
// keeps the re-created keys' new generations.
func churn(keys, versions int) [][]op {
	var h [][]op
	for v := range versions {
		for k := range keys {
			h = append(h, []op{put(fmt.Sprintf("k%04d", k), fmt.Sprint("v", v))})
		}
	}
	for k := 0; k < keys; k += 3 {
		h = append(h, []op{delKey(fmt.Sprintf("k%04d", k))})
	}
	for k := 0; k < keys; k += 9 {
		h = append(h, []op{put(fmt.Sprintf("k%04d", k), "again")})
	}
	return h
}

// churnCompactRev is the revision after churn's deletes, before its re-creations.
func churnCompactRev(keys, versions int) int64 {
	return int64(1 + keys*versions + (keys+2)/3)
}

// fullyCompacted returns what the backend holds after hist and a finished compaction at rev,
// on a store with default settings.
func fullyCompacted(t *testing.T, hist [][]op, rev int64) []string {
	t.Helper()
	s := newStore(t)
	history(s, hist...)
	compact(t, s, uint64(len(hist)+1), rev)
	return backendRevs(t, s)
}

// readAll reads every key at rev; a refused read is rendered as its error.
func readAll(s *Store, rev int64) string {
	r := s.Read()
	defer r.End()
	res, err := r.Range([]byte{0}, []byte{0}, RangeOptions{Rev: rev})
	if err != nil {
		return "error: " + err.Error()
	}
	return kvString(res.KVs)
}

// checkSameReads compares reads of every revision from below the compaction revision to
// the current one.
func checkSameReads(t *testing.T, got, want *Store) {
	t.Helper()
	if got.Rev() != want.Rev() || got.CompactRev() != want.CompactRev() {
		t.Fatalf("rev/compact %d/%d, want %d/%d", got.Rev(), got.CompactRev(), want.Rev(), want.CompactRev())
	}
	for rev := max(want.CompactRev()-1, 1); rev <= want.Rev(); rev++ {
		if g, w := readAll(got, rev), readAll(want, rev); g != w {
			t.Fatalf("read at %d:\n got  %.200s\n want %.200s", rev, g, w)
		}
	}
}

// stopAt is a compactStep hook that stops the compactor after the n-th step of a kind and
// closes stopped.
func stopAt(batch bool, n int, stopped chan struct{}) func(bool, int) bool {
	return func(b bool, i int) bool {
		if b == batch && i == n {
			close(stopped)
			return false
		}
		return true
	}
}

// pauseAt is a compactStep hook that, once, blocks the compactor after the n-th step of a
// kind until release is closed, having closed paused.
func pauseAt(batch bool, n int, paused, release chan struct{}) func(bool, int) bool {
	var once sync.Once
	return func(b bool, i int) bool {
		if b == batch && i == n {
			once.Do(func() {
				close(paused)
				<-release
			})
		}
		return true
	}
}

// waitClosed fails the test if ch is not closed within testWait.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testWait):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestCompactionResumesAfterCrash stops the compactor at several points of a compaction,
// crashes the store (losing the pending batch, with writes applied meanwhile), reopens it
// and replays the lost entries as raft would: the compaction finishes and leaves exactly
// what an uninterrupted one does.
func TestCompactionResumesAfterCrash(t *testing.T) {
	const keys, versions = 200, 5
	hist := churn(keys, versions)
	at := churnCompactRev(keys, versions)
	after := [][]op{{put("k0001", "late")}, {delKey("k0002")}}
	want := fullyCompacted(t, append(slices.Clone(hist), after...), at)

	tests := []struct {
		name  string
		batch bool
		n     int
		close bool // Close instead of crashing
	}{
		{name: "after the first index chunk", n: 1},
		{name: "mid index walk", n: 5},
		{name: "after the first delete batch", batch: true, n: 1},
		{name: "mid deletes", batch: true, n: 20},
		{name: "closed mid deletes", batch: true, n: 10, close: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kv.db")
			stopped := make(chan struct{})
			s := openWith(t, path, smallSteps, hooks{compactStep: stopAt(tt.batch, tt.n, stopped)})
			var log []entry // the raft log
			for _, ops := range hist {
				log = append(log, entry{ops: ops})
			}
			history(s, hist...)
			log = append(log, entry{compact: at})
			if err := s.Compact(uint64(len(log)), at); err != nil {
				t.Fatal(err)
			}
			for _, ops := range after {
				log = append(log, entry{ops: ops})
				apply(s, uint64(len(log)), ops...)
			}
			waitClosed(t, stopped, "the compactor to stop")
			if s.FinishedCompactRev() >= at {
				t.Fatalf("compaction finished before the hook stopped it")
			}
			if tt.close {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				s.crash()
			}

			s = openAt(t, path)
			if s.CompactRev() != at {
				t.Fatalf("CompactRev() = %d after restart, want %d", s.CompactRev(), at)
			}
			for i := s.ConsistentIndex(); i < uint64(len(log)); i++ {
				if err := applyEntry(s, i+1, log[i]); err != nil {
					t.Fatal(err)
				}
			}
			waitCompacted(t, s, at)
			if err := s.Commit(); err != nil { // the replayed entries
				t.Fatal(err)
			}
			if got := backendRevs(t, s); !slices.Equal(got, want) {
				t.Fatalf("backend holds %d revisions, want %d: %s", len(got), len(want), firstDiff(got, want))
			}
			ref := newStore(t)
			history(ref, append(slices.Clone(hist), after...)...)
			compact(t, ref, 1, at)
			checkSameReads(t, s, ref)
			s = reopen(t, s)
			checkSameReads(t, s, ref)
		})
	}
}

// TestCompactionOffTheWritePath blocks the compactor between two steps of a compaction and
// checks that write transactions, reads, commits and snapshots complete meanwhile: the
// compactor holds no lock between steps, and Compact does not wait for it.
func TestCompactionOffTheWritePath(t *testing.T) {
	const keys, versions = 100, 4
	for _, batch := range []bool{false, true} {
		name := map[bool]string{false: "between index chunks", true: "between delete batches"}[batch]
		t.Run(name, func(t *testing.T) {
			paused, release := make(chan struct{}), make(chan struct{})
			s := openWith(t, filepath.Join(t.TempDir(), "kv.db"), smallSteps,
				hooks{compactStep: pauseAt(batch, 2, paused, release)})
			hist := churn(keys, versions)
			history(s, hist...)
			at := churnCompactRev(keys, versions)
			if err := s.Compact(uint64(len(hist)+1), at); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, paused, "the compactor to pause")
			defer close(release)

			done := make(chan error, 1)
			go func() {
				w := s.Write(uint64(len(hist) + 2))
				w.Put([]byte("k0000"), []byte("during"), 0)
				w.End()
				r := s.Read()
				res, err := r.Range([]byte("k0000"), nil, RangeOptions{})
				r.End()
				switch {
				case err != nil:
				case len(res.KVs) != 1 || string(res.KVs[0].Value) != "during":
					err = fmt.Errorf("read %s, want the write made during the compaction", kvString(res.KVs))
				default:
					err = errors.Join(s.Commit(), s.Defrag())
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(testWait):
				t.Fatal("a write, read, commit or defrag is blocked by the paused compactor")
			}
			if got := s.FinishedCompactRev(); got >= at {
				t.Fatalf("FinishedCompactRev() = %d while the compactor is paused", got)
			}
		})
	}
}

// TestCompactionSupersedes queues compactions while the compactor is busy: every one
// finishes, in order, and the backend ends as after the newest alone.
func TestCompactionSupersedes(t *testing.T) {
	const keys, versions = 100, 4
	hist := churn(keys, versions)
	at := churnCompactRev(keys, versions)
	revs := []int64{at - 200, at - 100, at - 50, at}
	want := fullyCompacted(t, hist, at)

	var mu sync.Mutex
	var finished []int64
	paused, release := make(chan struct{}), make(chan struct{})
	cfg := smallSteps
	last := make(chan struct{})
	cfg.CompactionObserver.Finished = func(rev int64, _ time.Duration) {
		mu.Lock()
		finished = append(finished, rev)
		mu.Unlock()
		if rev == at {
			close(last)
		}
	}
	s := openWith(t, filepath.Join(t.TempDir(), "kv.db"), cfg, hooks{compactStep: pauseAt(false, 1, paused, release)})
	history(s, hist...)
	index := uint64(len(hist))
	index++
	if err := s.Compact(index, revs[0]); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, paused, "the compactor to pause")
	for _, rev := range revs[1:] {
		index++
		if err := s.Compact(index, rev); err != nil {
			t.Fatal(err)
		}
		if got := readAll(s, rev-1); got != "error: "+ErrCompacted.Error() {
			t.Fatalf("read below a scheduled compaction: %.100s", got)
		}
	}
	close(release)
	for _, rev := range revs {
		waitCompacted(t, s, rev)
	}
	waitClosed(t, last, "the Finished observer") // called after WaitCompacted returns
	mu.Lock()
	got := slices.Clone(finished)
	mu.Unlock()
	if !slices.IsSorted(got) || len(got) == 0 || got[0] != revs[0] || got[len(got)-1] != at {
		t.Fatalf("compactions finished at %v, want increasing from %d to %d", got, revs[0], at)
	}
	if b := backendRevs(t, s); !slices.Equal(b, want) {
		t.Fatalf("backend holds %d revisions, want %d: %s", len(b), len(want), firstDiff(b, want))
	}
}

// TestHashKVIgnoresCompactionProgress hashes two stores with the same history and
// compaction, one paused mid-compaction and one finished.
func TestHashKVIgnoresCompactionProgress(t *testing.T) {
	const keys, versions = 100, 4
	hist := churn(keys, versions)
	at := churnCompactRev(keys, versions)
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprint("paused after a batch=", batch), func(t *testing.T) {
			paused, release := make(chan struct{}), make(chan struct{})
			a := openWith(t, filepath.Join(t.TempDir(), "kv.db"), smallSteps,
				hooks{compactStep: pauseAt(batch, 3, paused, release)})
			b := newStore(t)
			for _, s := range []*Store{a, b} {
				history(s, hist...)
				apply(s, uint64(len(hist)+1), put("k0005", "after"))
				if err := s.Compact(uint64(len(hist)+2), at); err != nil {
					t.Fatal(err)
				}
			}
			waitClosed(t, paused, "the compactor to pause")
			defer close(release)
			waitCompacted(t, b, at)
			if a.FinishedCompactRev() >= at {
				t.Fatal("the paused compaction finished")
			}
			for _, rev := range []int64{0, at, at + 3} {
				ha, ra, ca, err := a.HashKV(rev)
				if err != nil {
					t.Fatal(err)
				}
				hb, rb, cb, err := b.HashKV(rev)
				if err != nil {
					t.Fatal(err)
				}
				if ha != hb || ra != rb || ca != cb {
					t.Fatalf("HashKV(%d): mid-compaction %x/%d/%d, finished %x/%d/%d", rev, ha, ra, ca, hb, rb, cb)
				}
			}
			checkSameReads(t, a, b)
			// Watchers catching up from the compaction revision see the same events too.
			ea, err := a.Events(at, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			eb, err := b.Events(at, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if ga, gb := eventString(ea), eventString(eb); ga != gb {
				t.Fatalf("events from %d:\n mid-compaction %s\n finished       %s", at, ga, gb)
			}
		})
	}
}

// TestRestoreSnapshotTakenMidCompaction snapshots a store whose compaction is unfinished and
// restores it into another store, itself busy compacting: the restored store finishes the
// snapshot's compaction.
func TestRestoreSnapshotTakenMidCompaction(t *testing.T) {
	const keys, versions = 100, 4
	hist := churn(keys, versions)
	at := churnCompactRev(keys, versions)
	want := fullyCompacted(t, hist, at)

	stopped := make(chan struct{})
	src := openWith(t, filepath.Join(t.TempDir(), "src.db"), smallSteps, hooks{compactStep: stopAt(true, 4, stopped)})
	history(src, hist...)
	if err := src.Compact(uint64(len(hist)+1), at); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, stopped, "the compactor to stop")
	var snap bytes.Buffer
	if _, err := src.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if src.FinishedCompactRev() >= at {
		t.Fatal("the snapshot's compaction is finished")
	}

	// The destination is mid-compaction of a history of its own.
	paused, release := make(chan struct{}), make(chan struct{})
	dst := openWith(t, filepath.Join(t.TempDir(), "dst.db"), smallSteps,
		hooks{compactStep: pauseAt(false, 1, paused, release)})
	own := churn(50, 3)
	history(dst, own...)
	if err := dst.Compact(uint64(len(own)+1), churnCompactRev(50, 3)); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, paused, "the destination's compactor to pause")
	err := dst.Restore(bytes.NewReader(snap.Bytes()))
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if dst.CompactRev() != at || dst.ConsistentIndex() != uint64(len(hist)+1) {
		t.Fatalf("restored compact %d index %d, want %d %d", dst.CompactRev(), dst.ConsistentIndex(), at, len(hist)+1)
	}
	waitCompacted(t, dst, at)
	if got := backendRevs(t, dst); !slices.Equal(got, want) {
		t.Fatalf("backend holds %d revisions, want %d: %s", len(got), len(want), firstDiff(got, want))
	}
	checkSameReads(t, dst, src)
	checkSameStore(t, dst, src)

	// A store opened on the snapshot finishes it too.
	path := filepath.Join(t.TempDir(), "opened.db")
	if err := os.WriteFile(path, snap.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	opened := openAt(t, path)
	waitCompacted(t, opened, at)
	if got := backendRevs(t, opened); !slices.Equal(got, want) {
		t.Fatalf("opened snapshot: backend holds %d revisions, want %d: %s", len(got), len(want), firstDiff(got, want))
	}
}

func TestWaitCompacted(t *testing.T) {
	s := newStore(t)
	history(s, compactHistory...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantErr(t, s.WaitCompacted(ctx, 4), context.Canceled)
	compact(t, s, 10, 4)
	if err := s.WaitCompacted(ctx, 3); err != nil {
		t.Fatalf("wait for an older compaction: %v", err)
	}
	if s.FinishedCompactRev() != 4 {
		t.Fatalf("FinishedCompactRev() = %d, want 4", s.FinishedCompactRev())
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- s.WaitCompacted(context.Background(), 6) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waitErr:
		wantErr(t, err, ErrClosed)
	case <-time.After(testWait):
		t.Fatal("WaitCompacted still blocked after Close")
	}
}

// TestCompactionObserver checks the measurements reported for one compaction.
func TestCompactionObserver(t *testing.T) {
	const keys, versions = 100, 4
	hist := churn(keys, versions)
	at := churnCompactRev(keys, versions)
	var mu sync.Mutex
	var chunks, batches, deleted, finished int
	done := make(chan struct{})
	cfg := smallSteps
	cfg.CompactionObserver = CompactionObserver{
		IndexChunk: func(time.Duration) { mu.Lock(); chunks++; mu.Unlock() },
		DeleteBatch: func(_ time.Duration, n int) {
			mu.Lock()
			batches++
			deleted += n
			mu.Unlock()
		},
		Finished: func(int64, time.Duration) {
			mu.Lock()
			finished++
			mu.Unlock()
			close(done)
		},
	}
	s := openWith(t, filepath.Join(t.TempDir(), "kv.db"), cfg, hooks{})
	history(s, hist...)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	before := backendRevs(t, s)
	compact(t, s, uint64(len(hist)+1), at)
	waitClosed(t, done, "the Finished observer") // called after WaitCompacted returns
	removed := len(before) - len(backendRevs(t, s))
	scanned := 0 // backend entries at or below at
	for _, r := range before {
		if main, _ := strconv.ParseInt(strings.TrimSuffix(r, "t"), 10, 64); main <= at {
			scanned++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// A chunk ends after CompactionChunkKeys keys, or sooner once it has removed
	// CompactionBatchRevisions revisions.
	minChunks := (keys + cfg.CompactionChunkKeys - 1) / cfg.CompactionChunkKeys
	wantBatches := max(1, (scanned+cfg.CompactionBatchRevisions-1)/cfg.CompactionBatchRevisions)
	if chunks < minChunks || batches != wantBatches || deleted != removed || finished != 1 {
		t.Fatalf("observed %d chunks, %d batches, %d deleted, %d finished; want >= %d, %d, %d, 1",
			chunks, batches, deleted, finished, minChunks, wantBatches, removed)
	}
}

// firstDiff describes where two lists of backend revisions first differ.
func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: %s, want %s", i, got[i], want[i])
		}
	}
	if len(got) > len(want) {
		return "extra " + got[len(want)]
	}
	if len(want) > len(got) {
		return "missing " + want[len(got)]
	}
	return "equal"
}
