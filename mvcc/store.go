package mvcc

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keeldb/keel/internal/failpoint"
)

// Defaults applied by Open to zero Config fields.
const (
	DefaultBatchInterval = 100 * time.Millisecond
	DefaultBatchLimit    = 10000
)

// Store is a multi-version key-value store on bbolt: one revision per write transaction,
// an in-memory key index rebuilt at Open, and the applied raft index stored in the same
// backend transaction as the data it produced. Safe for concurrent use: many readers,
// one writer at a time.
//
// Ended write transactions go to an in-memory buffer that readers consult, and a goroutine
// owned by the store commits the buffer to bbolt every BatchInterval or BatchLimit write
// transactions, and on Commit, Snapshot and Close. A second goroutine owned by the store,
// the compactor, does the work of compactions in the background (see compactor.go).
type Store struct {
	cfg   Config
	log   *slog.Logger
	hooks hooks

	// Lock order: defragMu, then wmu, then commitMu, then mu, then writeBuf.mu.
	//
	// defragMu serializes Defrag (held for a whole defragmentation, by nothing else).
	defragMu sync.Mutex
	//
	// wmu serializes writers: it is held from Write until WriteTxn.End, by Compact,
	// ResetConsistentIndex, Defrag, Restore and Close, and by the compactor for one index
	// chunk at a time. The holder of wmu is the only goroutine that mutates idx, so it may
	// read idx without mu (a WriteTxn does).
	wmu sync.Mutex
	// commitMu serializes backend commits, the compactor's delete batches and backend swaps
	// (Defrag, Restore, Close). It is held across the bbolt commit and fsync; mu is not.
	commitMu sync.Mutex
	// dlog records the backend writes while an online Defrag copies the backend; nil
	// otherwise. guarded by commitMu
	dlog *defragLog

	// mu guards the fields below. It is never held across backend I/O except while Restore
	// swaps the backend file.
	mu sync.RWMutex
	db *bolt.DB
	// dbUsers counts the operations using db outside mu (see acquireDBLocked); Defrag waits
	// for it to drain before closing a replaced db. Replaced together with db.
	dbUsers *sync.WaitGroup
	idx     *treeIndex // mutated only with mu held for writing (and wmu held)
	rev     int64
	// compactRev is the scheduled compaction revision: reads below it fail at once.
	compactRev int64
	// finishedRev is the revision of the last compaction whose backend deletes are all
	// committed (finishedRev <= compactRev; the compactor works while it is below).
	finishedRev int64
	// compactHashes are the newest compactions' hashes, oldest first (compacthash.go);
	// hashFrom is the lowest finished revision a pass may start from and record one: above
	// any compaction that was resumed or retried.
	compactHashes []CompactHash
	hashFrom      int64
	// finishedCh is closed and replaced whenever finishedRev changes, and closed on Close.
	finishedCh chan struct{}
	// compactGen changes when Restore replaces the state; the compactor abandons the work
	// it started under an older generation.
	compactGen uint64
	ci         uint64
	cur        *writeBuf // open buffer; never nil
	committing *writeBuf // sealed buffer being (or failed to be) committed, or nil
	closed     bool

	// dbSize is the backend size (bbolt's high-water mark) after the last commit or swap.
	dbSize atomic.Int64

	kick      chan struct{} // batch limit reached; buffered 1
	stop      chan struct{} // closed by Close to stop the commit loop
	done      chan struct{} // closed when the commit loop returns
	closeOnce sync.Once
	closeErr  error

	compactWake chan struct{} // a compaction was scheduled or the state restored; buffered 1
	compactStop chan struct{} // closed by Close to stop the compactor
	compactDone chan struct{} // closed when the compactor returns
}

// hooks are test seams; the zero value does nothing.
type hooks struct {
	// committed is called by the commit loop after each background commit attempt.
	committed func(err error)
	// compactStep is called by the compactor, with no lock held, after each index chunk
	// (batch false) and each backend delete batch (batch true) of a compaction; n counts
	// steps of that kind in the compaction, from 1. Returning false stops the compactor
	// as Close would, leaving the compaction unfinished.
	compactStep func(batch bool, n int) bool
	// defragStage is called by an online Defrag, with no lock held, after the copy
	// ("copied") and after the catch-up rounds ("caughtUp").
	defragStage func(stage string)
	// defragChunkBytes, if > 0, replaces defragTxMaxSize for the key bucket's copy chunks.
	defragChunkBytes int
	// defragLogMax, if > 0, replaces defragLogMaxBytes.
	defragLogMax int64
}

// Open opens (creating if needed) the store at cfg.Path, rebuilds the in-memory index and
// starts the batch commit goroutine and the compactor, which Close stops. A compaction left
// unfinished in the backend (by a crash, a Close or a snapshot taken meanwhile) is resumed.
func Open(cfg Config) (*Store, error) { return open(cfg, hooks{}) }

func open(cfg Config, h hooks) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("mvcc: config: path is required")
	}
	if cfg.BatchInterval <= 0 {
		cfg.BatchInterval = DefaultBatchInterval
	}
	if cfg.BatchLimit <= 0 {
		cfg.BatchLimit = DefaultBatchLimit
	}
	if cfg.CompactionChunkKeys <= 0 {
		cfg.CompactionChunkKeys = DefaultCompactionChunkKeys
	}
	if cfg.CompactionBatchRevisions <= 0 {
		cfg.CompactionBatchRevisions = DefaultCompactionBatchRevisions
	}
	if cfg.CompactionBatchPause == 0 {
		cfg.CompactionBatchPause = DefaultCompactionBatchPause
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	// A defragmentation's copy left by a crash before its rename is of no use.
	if err := os.Remove(cfg.Path + ".defrag"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mvcc: remove an unfinished defrag copy: %w", err)
	}
	db, err := openDB(cfg.Path, cfg.OpenFile)
	if err != nil {
		return nil, err
	}
	st, err := loadState(db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s := &Store{
		cfg: cfg, log: lg.With("component", "mvcc"), hooks: h,
		db: db, dbUsers: new(sync.WaitGroup), cur: newWriteBuf(), finishedCh: make(chan struct{}),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		compactWake: make(chan struct{}, 1), compactStop: make(chan struct{}), compactDone: make(chan struct{}),
	}
	s.installLocked(st)
	s.dbSize.Store(dbSize(db))
	s.log.Info("opened store", "revision", s.rev, "compact_revision", s.compactRev,
		"finished_compact_revision", s.finishedRev, "consistent_index", s.ci, "keys", s.idx.len())
	go s.commitLoop()
	go s.compactLoop()
	return s, nil
}

// installLocked replaces the in-memory state with st. Work the compactor started on the
// previous state is abandoned, and waiters for a finished compaction look again.
// requires s.mu held for writing, or exclusive access
func (s *Store) installLocked(st *state) {
	s.idx = st.idx
	s.rev = st.meta.rev
	s.compactRev = st.meta.compactRev
	s.ci = st.meta.consistentIndex
	s.compactGen++
	s.setFinishedLocked(min(st.finishedRev, st.meta.compactRev))
	s.compactHashes, s.hashFrom = nil, 0
	if st.finishedRev < st.meta.compactRev {
		s.hashFrom = st.meta.compactRev // a compaction to resume: part of it may be gone
	}
}

// commitLoop commits the pending batch on every tick and whenever the batch limit is hit.
func (s *Store) commitLoop() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.BatchInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.cfg.UnsafeLoseDataOnClose {
				continue
			}
		case <-s.kick:
		}
		err := s.Commit()
		if err != nil && !errors.Is(err, ErrClosed) {
			s.log.Error("batch commit failed", "error", err)
		}
		if s.hooks.committed != nil {
			s.hooks.committed(err)
		}
	}
}

// Close stops the compactor (between two steps: an unfinished compaction resumes at the
// next Open), waits for an open write transaction to end, stops the commit goroutine,
// commits the pending batch and closes the backend. Later calls return the first call's
// result. Operations on a closed store return ErrClosed (or do nothing where they return no
// error).
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown(true) })
	return s.closeErr
}

// shutdown stops the store, committing the pending batch only if commit is set (tests
// simulate a crash with commit unset).
func (s *Store) shutdown(commit bool) error {
	// The compactor takes wmu and commitMu for its steps: stop it before taking them.
	close(s.compactStop)
	<-s.compactDone
	s.wmu.Lock()
	defer s.wmu.Unlock()
	close(s.stop)
	<-s.done
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var err error
	if commit && s.cfg.UnsafeLoseDataOnClose {
		s.mu.Lock()
		s.cur.dropKVs()
		s.mu.Unlock()
		s.log.Warn("TEST ONLY: dropped the pending batch's key changes on close")
	}
	if commit {
		err = s.commitLocked()
	}
	s.mu.Lock()
	s.markClosedLocked()
	db := s.db
	s.mu.Unlock()
	if cerr := db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("mvcc: close backend: %w", cerr))
	}
	s.log.Info("closed store", "committed", commit)
	return err
}

// markClosedLocked marks the store closed and wakes WaitCompacted, which then sees it.
// requires s.mu held for writing
func (s *Store) markClosedLocked() {
	if !s.closed {
		s.closed = true
		close(s.finishedCh)
	}
}

// Rev returns the current revision (1 for an empty store). It does not include the
// changes of a write transaction that has not ended.
func (s *Store) Rev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// CompactRev returns the compaction revision (0 if never compacted): the revision of the
// last compaction applied, below which reads fail, whether or not the compactor has
// finished removing what it superseded.
func (s *Store) CompactRev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.compactRev
}

// FinishedCompactRev returns the revision of the last compaction whose removals are all
// committed to the backend (0 if none); it is at most CompactRev.
func (s *Store) FinishedCompactRev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.finishedRev
}

// ConsistentIndex returns the raft index of the last applied write transaction (0 when new),
// as recorded by Write; after a restart it is the value persisted with the data.
func (s *Store) ConsistentIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ci
}

// Commit forces the pending backend batch to disk. It returns ErrClosed on a closed store.
func (s *Store) Commit() error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	return s.commitLocked()
}

// commitLocked writes the sealed buffer left by a failed commit, if any, then the open one.
// requires s.commitMu held
func (s *Store) commitLocked() error {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		retry := s.committing != nil
		if !retry {
			if s.cur.txns == 0 {
				s.mu.Unlock()
				return nil
			}
			s.cur.meta = persistedMeta{consistentIndex: s.ci, rev: s.rev, compactRev: s.compactRev}
			s.committing, s.cur = s.cur, newWriteBuf()
		}
		b, db := s.committing, s.db
		s.mu.Unlock()

		failpoint.Inject(failpoint.BackendBeforeCommit)
		start := time.Now()
		if err := db.Update(func(tx *bolt.Tx) error { return applyBuf(tx, b) }); err != nil {
			return fmt.Errorf("mvcc: commit batch: %w", err)
		}
		s.recordDefragLocked(defragOp{buf: b})
		failpoint.Inject(failpoint.BackendAfterCommit)
		if s.cfg.CommitObserver != nil {
			s.cfg.CommitObserver(time.Since(start))
		}
		s.dbSize.Store(dbSize(db))
		s.mu.Lock()
		s.committing = nil
		s.mu.Unlock()
		if !retry {
			return nil
		}
	}
}

// Size returns the backend size in bytes (bbolt's high-water mark, as etcd's dbSize) and
// the bytes in use (size minus free and pending pages). Size is > 0 for an open store and
// both are 0 for a closed one.
func (s *Store) Size() (size, inUse int64) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, 0
	}
	db, release := s.acquireDBLocked()
	s.mu.RUnlock()
	defer release()
	var pageSize int
	if err := db.View(func(tx *bolt.Tx) error {
		size = tx.Size()
		// Info reads the mmap, which a commit may remap: only safe while a read tx holds it.
		pageSize = db.Info().PageSize
		return nil
	}); err != nil {
		return 0, 0
	}
	st := db.Stats()
	free := int64(st.FreePageN+st.PendingPageN) * int64(pageSize)
	return size, max(size-free, 0)
}

// Keys returns the number of keys in the index: live keys plus deleted keys whose history
// compaction has not yet removed (etcd's etcd_debugging_mvcc_keys_total).
func (s *Store) Keys() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.len()
}

// BackendSize returns the backend size in bytes as of the last batch commit (or Open,
// Restore, Defrag): the value Size reports, without touching the backend. It is what a
// quota is checked against; it does not count the pending batch.
func (s *Store) BackendSize() int64 { return s.dbSize.Load() }

// dbSize returns db's size (its high-water mark), or 0 if db cannot be read.
func dbSize(db *bolt.DB) int64 {
	var size int64
	_ = db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	return size
}

// acquireDBLocked returns the current backend for use outside mu and the function that
// ends the use. Defrag does not close a backend it replaced while it is in use; Restore
// and Close do (in-flight users then fail with bbolt's database-not-open error).
// requires s.mu held (read or write)
func (s *Store) acquireDBLocked() (*bolt.DB, func()) {
	users := s.dbUsers
	users.Add(1)
	var once sync.Once
	return s.db, func() { once.Do(users.Done) }
}

// crash stops the store without committing the pending batch, as a process crash would
// lose it. Test hook.
func (s *Store) crash() {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown(false) })
}
