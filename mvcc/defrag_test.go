package mvcc

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// fillAndDelete writes n keys with 4 KiB values, deletes them all and compacts, leaving a
// backend whose pages are mostly free. It returns the last index used.
func fillAndDelete(t *testing.T, s *Store, n int) uint64 {
	t.Helper()
	val := string(bytes.Repeat([]byte("v"), 4096))
	index := uint64(1)
	for i := range n {
		apply(s, index, put(fmt.Sprintf("big/%05d", i), val))
		index++
		if i%100 == 99 {
			if err := s.Commit(); err != nil {
				t.Fatalf("commit: %v", err)
			}
		}
	}
	apply(s, index, put("keep", "1"), putL("leased", "2", 7))
	index++
	apply(s, index, del("big/", "big0"))
	index++
	compact(t, s, index, s.Rev())
	w := s.Write(index)
	w.SetAux([]byte("alarms"), []byte("k"), []byte("v"))
	w.End()
	if err := s.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return index
}

func TestDefragShrinksAndKeepsData(t *testing.T) {
	s := newStore(t)
	index := fillAndDelete(t, s, 2000)
	sizeBefore, inUseBefore := s.Size()
	hashBefore, revBefore, compactBefore, err := s.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	keysBefore := kvString(rangeAt(t, s, "", "\x00", RangeOptions{}).KVs)
	if keysBefore == "" {
		t.Fatal("no keys before defrag")
	}
	if sizeBefore < 8<<20 {
		t.Fatalf("size before defrag = %d, want the filled backend (>= 8 MiB)", sizeBefore)
	}

	if err := s.Defrag(); err != nil {
		t.Fatalf("defrag: %v", err)
	}
	sizeAfter, inUseAfter := s.Size()
	if sizeAfter*4 > sizeBefore {
		t.Errorf("size after defrag = %d, want well below %d", sizeAfter, sizeBefore)
	}
	if got := s.BackendSize(); got != sizeAfter {
		t.Errorf("BackendSize() = %d, want Size() %d", got, sizeAfter)
	}
	if inUseAfter > sizeAfter || inUseAfter <= 0 {
		t.Errorf("in use after defrag = %d, size %d", inUseAfter, sizeAfter)
	}
	t.Logf("size %d -> %d, in use %d -> %d", sizeBefore, sizeAfter, inUseBefore, inUseAfter)
	if st, err := os.Stat(s.cfg.Path); err != nil || st.Size() > sizeBefore/2 {
		t.Errorf("backend file after defrag: %v, %v; want it shrunk below %d", st.Size(), err, sizeBefore/2)
	}

	check := func(s *Store, what string) {
		t.Helper()
		h, rev, compact, err := s.HashKV(0)
		if err != nil || h != hashBefore || rev != revBefore || compact != compactBefore {
			t.Errorf("%s: HashKV = %d@%d (compact %d), %v; want %d@%d (compact %d)", what, h, rev, compact, err,
				hashBefore, revBefore, compactBefore)
		}
		if got := kvString(rangeAt(t, s, "", "\x00", RangeOptions{}).KVs); got != keysBefore {
			t.Errorf("%s: keys = %q, want %q", what, got, keysBefore)
		}
		if got := s.ConsistentIndex(); got != index {
			t.Errorf("%s: consistent index = %d, want %d", what, got, index)
		}
		if got := string(s.Aux([]byte("alarms"), []byte("k"))); got != "v" {
			t.Errorf("%s: aux = %q, want v", what, got)
		}
	}
	check(s, "after defrag")

	// Writes go on into the new backend and survive a reopen.
	apply(s, index+1, put("after", "x"))
	s = reopen(t, s)
	if got := kvString(rangeAt(t, s, "after", "", RangeOptions{}).KVs); got != fmt.Sprintf("after=x@%d/%d/1", revBefore+1, revBefore+1) {
		t.Errorf("after reopen: %q", got)
	}
	if got := s.ConsistentIndex(); got != index+1 {
		t.Errorf("after reopen: consistent index = %d, want %d", got, index+1)
	}
}

func TestDefragConcurrentReaders(t *testing.T) {
	s := newStore(t)
	fillAndDelete(t, s, 500)
	want := kvString(rangeAt(t, s, "", "\x00", RangeOptions{}).KVs)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				v := s.Read()
				res, err := v.Range([]byte(""), []byte{0}, RangeOptions{})
				v.End()
				if err != nil {
					errs <- err
					return
				}
				if got := kvString(res.KVs); got != want {
					errs <- fmt.Errorf("range = %q, want %q", got, want)
					return
				}
				if _, _, _, err := s.HashKV(0); err != nil {
					errs <- err
					return
				}
				if size, _ := s.Size(); size <= 0 {
					errs <- fmt.Errorf("size = %d during defrag", size)
					return
				}
			}
		}()
	}
	for range 5 {
		if err := s.Defrag(); err != nil {
			t.Fatalf("defrag: %v", err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDefragClosed(t *testing.T) {
	s := newStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.Defrag(), ErrClosed)
}
