package mvcc

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// TestConcurrentReadersSeeWholeTransactions runs readers, hashers, snapshots and a history
// reader against a writer that rewrites every key in each transaction and compacts, while
// the batch goroutine commits every few transactions. Every read must see one whole
// transaction: all keys with the same value, equal to the revision that wrote them.
func TestConcurrentReadersSeeWholeTransactions(t *testing.T) {
	const keys, txns, readers = 10, 300, 4
	s, err := open(Config{Path: filepath.Join(t.TempDir(), "kv.db"), BatchInterval: testBatchInterval, BatchLimit: 7}, hooks{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	stop := make(chan struct{})
	errs := make(chan error, readers+3)
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() { errs <- readLoop(s, keys, stop) })
	}
	wg.Go(func() { errs <- hashLoop(s, stop) })
	wg.Go(func() { errs <- eventsLoop(s, stop) })
	wg.Go(func() { errs <- snapshotLoop(s, stop) })

	for i := 1; i <= txns; i++ {
		w := s.Write(uint64(i))
		rev := w.Rev() + 1
		for k := range keys {
			w.Put([]byte(fmt.Sprint("k", k)), []byte(strconv.FormatInt(rev, 10)), 0)
		}
		w.End()
		if i%25 == 0 {
			if err := s.Compact(uint64(i), s.Rev()-5); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func readLoop(s *Store, keys int, stop <-chan struct{}) error {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return nil
		default:
		}
		r := s.Read()
		ro := RangeOptions{}
		if n%3 == 0 && r.Rev() > 3 {
			ro.Rev = r.Rev() - 3
		}
		res, err := r.Range([]byte("k"), []byte("l"), ro)
		r.End()
		if errors.Is(err, ErrCompacted) {
			continue
		}
		if err != nil {
			return err
		}
		if res.Rev == 1 {
			continue
		}
		if res.Count != keys || len(res.KVs) != keys {
			return fmt.Errorf("read at %d: %d keys (count %d), want %d", res.Rev, len(res.KVs), res.Count, keys)
		}
		for i := range res.KVs {
			if got := string(res.KVs[i].Value); got != strconv.FormatInt(res.Rev, 10) {
				return fmt.Errorf("read at %d: %s=%s", res.Rev, res.KVs[i].Key, got)
			}
		}
	}
}

func hashLoop(s *Store, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if _, _, _, err := s.HashKV(0); err != nil {
			return err
		}
	}
}

func eventsLoop(s *Store, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		c := s.CompactRev()
		evs, err := s.Events(c, 0, 20)
		if errors.Is(err, ErrCompacted) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.Kv.ModRevision < c {
				return fmt.Errorf("event at %d below the compaction point %d", e.Kv.ModRevision, c)
			}
		}
	}
}

func snapshotLoop(s *Store, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if _, err := s.Snapshot(io.Discard); err != nil {
			return err
		}
	}
}
