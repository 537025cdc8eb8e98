package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// writeStep is one applied raft entry of the online defrag test: a write transaction, or a
// compaction at compactRev.
type writeStep struct {
	index      uint64
	ops        []op
	compactRev int64
}

// stepWriter applies a deterministic stream of writes, deletes and compactions to a store,
// recording each step so a second store can be given the same history.
type stepWriter struct {
	s       *Store
	index   uint64
	steps   []writeStep
	n       atomic.Int64
	target  atomic.Int64 // when > 0 and n reaches it, reached gets a value
	reached chan struct{}
}

func (w *stepWriter) step(i int) error {
	w.index++
	st := writeStep{index: w.index}
	switch {
	case i%100 == 99:
		st.compactRev = w.s.Rev() - 20
		if err := w.s.Compact(st.index, st.compactRev); err != nil {
			return err
		}
	case i%7 == 6:
		st.ops = []op{delKey(fmt.Sprintf("w/%03d", (i*13)%300))}
		apply(w.s, st.index, st.ops...)
	default:
		st.ops = []op{put(fmt.Sprintf("w/%03d", i%300), fmt.Sprintf("%d-%s", i, bytes.Repeat([]byte("x"), i%500)))}
		apply(w.s, st.index, st.ops...)
	}
	w.steps = append(w.steps, st)
	if i%10 == 9 {
		if err := w.s.Commit(); err != nil {
			return err
		}
	}
	n := w.n.Add(1)
	if t := w.target.Load(); t > 0 && n >= t {
		w.target.Store(0)
		w.reached <- struct{}{}
	}
	return nil
}

// waitSteps blocks until the writer has made k more steps.
func (w *stepWriter) waitSteps(k int64) {
	w.target.Store(w.n.Load() + k)
	<-w.reached
}

// TestDefragOnlineWhileWriting defragments while a writer applies puts, deletes and
// compactions (committing as it goes) and readers range: the copy is made in small chunks,
// the writer is made to commit hundreds of steps during the copy and during the catch-up
// rounds, and afterwards the store holds exactly what a store given the same history without
// a defrag holds (HashKV, keys, consistent index), before and after a reopen.
func TestDefragOnlineWhileWriting(t *testing.T) {
	dir := t.TempDir()
	var w *stepWriter
	a := openWith(t, filepath.Join(dir, "a.db"), smallSteps, hooks{
		defragChunkBytes: 64 << 10,
		defragStage:      func(string) { w.waitSteps(300) },
	})
	b := openWith(t, filepath.Join(dir, "b.db"), smallSteps, hooks{})
	index := fillAndDelete(t, a, 1000)
	if got := fillAndDelete(t, b, 1000); got != index {
		t.Fatalf("seed index %d != %d", got, index)
	}
	// Live data of several copy chunks.
	for i := range 400 {
		index++
		apply(a, index, put(fmt.Sprintf("live/%03d", i), string(bytes.Repeat([]byte("l"), 1024))))
		apply(b, index, put(fmt.Sprintf("live/%03d", i), string(bytes.Repeat([]byte("l"), 1024))))
	}
	sizeBefore, _ := a.Size()
	w = &stepWriter{s: a, index: index, reached: make(chan struct{})}

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			if err := w.step(i); err != nil {
				errs <- fmt.Errorf("write step %d: %w", i, err)
				// Keep waitSteps from blocking forever.
				for w.target.Load() > 0 {
					w.target.Store(0)
					w.reached <- struct{}{}
				}
				return
			}
		}
	}()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				v := a.Read()
				res, err := v.Range([]byte("keep"), nil, RangeOptions{})
				if err == nil && (len(res.KVs) != 1 || string(res.KVs[0].Value) != "1") {
					err = fmt.Errorf("keep = %v", res.KVs)
				}
				if err == nil {
					res, err = v.Range([]byte("live/"), []byte("live0"), RangeOptions{})
					if err == nil && len(res.KVs) != 400 {
						err = fmt.Errorf("live/ has %d keys, want 400", len(res.KVs))
					}
				}
				if err == nil {
					_, err = v.Range([]byte("w/"), []byte("w0"), RangeOptions{})
				}
				v.End()
				// A compaction may pass the revision a slow reader pinned: that is not the
				// defrag's doing.
				if err != nil && !errors.Is(err, ErrCompacted) {
					errs <- fmt.Errorf("read: %w", err)
					return
				}
			}
		}()
	}
	err := a.Defrag()
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err != nil {
		t.Fatalf("defrag: %v", err)
	}
	if len(w.steps) < 600 {
		t.Fatalf("%d steps during the defrag, want >= 600", len(w.steps))
	}
	sizeAfter, _ := a.Size()
	t.Logf("%d steps during the defrag; size %d -> %d", len(w.steps), sizeBefore, sizeAfter)
	if sizeAfter >= sizeBefore {
		t.Errorf("size after defrag %d, want below %d", sizeAfter, sizeBefore)
	}

	var last int64
	for _, st := range w.steps {
		if st.compactRev != 0 {
			if err := b.Compact(st.index, st.compactRev); err != nil {
				t.Fatal(err)
			}
			last = st.compactRev
			continue
		}
		apply(b, st.index, st.ops...)
	}
	same := func(a *Store, what string) {
		t.Helper()
		waitCompacted(t, a, last)
		waitCompacted(t, b, last)
		ha, ra, ca, err := a.HashKV(0)
		if err != nil {
			t.Fatal(err)
		}
		hb, rb, cb, err := b.HashKV(0)
		if err != nil {
			t.Fatal(err)
		}
		if ha != hb || ra != rb || ca != cb {
			t.Errorf("%s: HashKV %d@%d (compact %d), want %d@%d (compact %d) as without defrag", what, ha, ra, ca, hb, rb, cb)
		}
		ka := kvString(rangeAt(t, a, "", "\x00", RangeOptions{}).KVs)
		kb := kvString(rangeAt(t, b, "", "\x00", RangeOptions{}).KVs)
		if ka != kb {
			t.Errorf("%s: keys differ from the store without defrag", what)
		}
		if a.ConsistentIndex() != b.ConsistentIndex() {
			t.Errorf("%s: consistent index %d, want %d", what, a.ConsistentIndex(), b.ConsistentIndex())
		}
		if a.FinishedCompactRev() != b.FinishedCompactRev() {
			t.Errorf("%s: finished compaction %d, want %d", what, a.FinishedCompactRev(), b.FinishedCompactRev())
		}
	}
	same(a, "after defrag")
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	same(reopen(t, a), "after reopen")
}

// TestDefragFallsBackWhenLogOverflows: writes committed during the copy that overflow the
// write log make the defrag start over as the blocking copy, which still succeeds and keeps
// every write; no copy file is left behind.
func TestDefragFallsBackWhenLogOverflows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	var s *Store
	index := uint64(0)
	var stages []string
	s = openWith(t, path, Config{}, hooks{defragLogMax: 1, defragStage: func(stage string) {
		stages = append(stages, stage)
		for i := range 20 {
			index++
			apply(s, index, put(fmt.Sprintf("during/%02d", i), "x"))
		}
		if err := s.Commit(); err != nil {
			t.Error(err)
		}
	}})
	index = fillAndDelete(t, s, 300)
	if err := s.Defrag(); err != nil {
		t.Fatalf("defrag: %v", err)
	}
	if len(stages) != 1 || stages[0] != "copied" {
		t.Errorf("stages %v, want [copied] (the catch-up overflows)", stages)
	}
	if _, err := os.Stat(path + ".defrag"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copy file after the defrag: %v, want none", err)
	}
	s = reopen(t, s)
	if n := len(rangeAt(t, s, "during/", "during0", RangeOptions{}).KVs); n != 20 {
		t.Errorf("%d keys written during the copy after reopen, want 20", n)
	}
	if got := s.ConsistentIndex(); got != index {
		t.Errorf("consistent index %d, want %d", got, index)
	}
}

// TestOpenRemovesUnfinishedDefragCopy: a copy left by a crash before the rename is removed
// at Open; the backend is untouched.
func TestOpenRemovesUnfinishedDefragCopy(t *testing.T) {
	s := newStore(t)
	apply(s, 1, put("k", "v"))
	path := s.cfg.Path
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".defrag", []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if _, err := os.Stat(path + ".defrag"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copy file after Open: %v, want none", err)
	}
	if got := kvString(rangeAt(t, s, "k", "", RangeOptions{}).KVs); got != "k=v@2/2/1" {
		t.Errorf("k = %q", got)
	}
}
