package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/keeldb/keel/internal/failpoint"
)

// defragTxMaxSize bounds one bbolt transaction of the copy, as etcd's defrag limit does.
const defragTxMaxSize = 10000 * 1024

// defragLogMaxBytes bounds the writes an online defragmentation keeps in memory while it
// copies; past it the defragmentation falls back to the blocking copy (defragBlocking).
const defragLogMaxBytes = 512 << 20

// defragFinalBytes: catch-up rounds run outside the commit lock until a round carries
// fewer bytes than this, so the final round (which holds commitMu) is short.
const (
	defragFinalBytes    = 1 << 20
	defragCatchUpRounds = 8
)

// errDefragReplaced means Restore replaced the backend while an online defragmentation
// copied it: the copy is of a backend that no longer exists.
var errDefragReplaced = errors.New("mvcc: defrag: backend replaced during the copy")

// defragLog records the backend writes committed while an online defragmentation copies the
// backend, in commit order: every committed batch and every compactor delete batch (the only
// two kinds of write to the live backend). Guarded by Store.commitMu.
type defragLog struct {
	ops      []defragOp
	bytes    int64
	overflow bool // more than defragLogMaxBytes were recorded: ops were dropped
}

// defragOp is one backend transaction to replay on the copy: a committed batch (buf), or a
// compactor delete batch (dels, and the compaction it recorded finished, or 0).
type defragOp struct {
	buf      *writeBuf
	dels     [][]byte
	finished int64
}

// recordDefragLocked adds op to the log of a running online defragmentation, if any.
// requires s.commitMu held
func (s *Store) recordDefragLocked(op defragOp) {
	l := s.dlog
	if l == nil || l.overflow {
		return
	}
	n := int64(64)
	if b := op.buf; b != nil {
		for _, e := range b.kvs { // sealed: never written again
			n += int64(len(e.key) + len(e.val))
		}
		for k, v := range b.aux {
			n += int64(len(k.bucket) + len(k.key) + len(v.val))
		}
	}
	for _, k := range op.dels {
		n += int64(len(k))
	}
	l.bytes += n
	limit := int64(defragLogMaxBytes)
	if s.hooks.defragLogMax > 0 {
		limit = s.hooks.defragLogMax
	}
	if l.bytes > limit {
		l.overflow, l.ops = true, nil
		return
	}
	l.ops = append(l.ops, op)
}

// takeDefragLog returns the recorded operations and empties the log; overflow reports a log
// that had to drop operations.
func (s *Store) takeDefragLog() (ops []defragOp, n int64, overflow bool) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	return s.takeDefragLogLocked()
}

// requires s.commitMu held
func (s *Store) takeDefragLogLocked() (ops []defragOp, n int64, overflow bool) {
	l := s.dlog
	ops, n, overflow = l.ops, l.bytes, l.overflow
	l.ops, l.bytes = nil, 0
	return ops, n, overflow
}

// Defrag rewrites the backend compactly, giving the space freed by compaction and deletes
// back to the file system, as etcd's defragmentation does, but without stopping writers
// (docs/ARCHITECTURE.md "Housekeeping"):
//
//  1. under commitMu it commits the pending batch, opens a read transaction of the backend
//     and starts recording every later backend write (defragLog);
//  2. with no lock held, it copies the auxiliary and meta buckets from that transaction and
//     the key bucket in chunks, each from a fresh read transaction, into a new file next to
//     Config.Path (revision keys are written once and only ever deleted, so a chunk read
//     later than the start gives the same result after the recorded writes are replayed);
//  3. it replays the recorded writes on the copy in rounds, outside the lock, until a round
//     is small, and fsyncs the copy;
//  4. under commitMu (writers still go on into the in-memory batch) it commits the pending
//     batch, replays the last writes, fsyncs them, renames the copy over the backend file,
//     fsyncs the directory and swaps the store to it.
//
// Readers go on throughout; the replaced backend is closed once the last reader using it
// ends. Only the revisions the compactor has already deleted are given back: after a
// compaction, WaitCompacted before Defrag. The data, revisions, consistent index and
// auxiliary buckets are unchanged. If more than defragLogMaxBytes are written during the
// copy, it starts over as a blocking copy that holds writers (as before).
//
// If anything fails before the rename, the store keeps its backend and the copy is
// removed (a copy left by a crash is removed by Open). Defrags are serialized. Returns ErrClosed on a closed store.
func (s *Store) Defrag() error {
	s.defragMu.Lock()
	defer s.defragMu.Unlock()
	before := s.dbSize.Load()
	tmp := s.cfg.Path + ".defrag"
	failpoint.Inject(failpoint.DefragBeforeCopy)
	src, dst, err := s.defragCopy(tmp)
	if err == nil {
		s.hook("copied")
		if err = s.defragCatchUp(dst); err != nil {
			s.defragAbort(tmp, dst)
		}
	}
	if err == nil {
		failpoint.Inject(failpoint.DefragAfterCatchUp)
		s.hook("caughtUp")
		err = s.defragSwap(tmp, src, dst)
	}
	if errors.Is(err, errDefragOverflow) {
		s.log.Warn("writes during the online defrag exceeded the log; defragmenting with writers held",
			"limit", defragLogMaxBytes)
		return s.defragBlocking()
	}
	if err != nil {
		return err
	}
	s.log.Info("defragmented backend", "size_before", before, "size_after", s.dbSize.Load())
	return nil
}

// errDefragOverflow: the online defragmentation's log overflowed (defragLogMaxBytes).
var errDefragOverflow = errors.New("mvcc: defrag: too many writes during the copy")

// hook calls the test hook of an online defragmentation stage, if set.
func (s *Store) hook(stage string) {
	if s.hooks.defragStage != nil {
		s.hooks.defragStage(stage)
	}
}

// defragAbort ends the write log, closes the copy and removes its file.
func (s *Store) defragAbort(tmp string, dst *bolt.DB) {
	s.commitMu.Lock()
	s.dlog = nil
	s.commitMu.Unlock()
	if dst != nil {
		_ = dst.Close()
	}
	_ = os.Remove(tmp)
}

// defragCopy starts the write log and copies the backend into a new file at tmp, returned
// open (without fsync) with the backend it copied. On failure the log is ended and the copy
// removed.
func (s *Store) defragCopy(tmp string) (src, dst *bolt.DB, err error) {
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("mvcc: defrag: %w", err)
	}
	// The copy is written without an fsync per transaction and synced once at the end.
	dst, err = bolt.Open(tmp, 0o600, &bolt.Options{Timeout: openTimeout, NoSync: true,
		FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, nil, fmt.Errorf("mvcc: defrag: open %s: %w", tmp, err)
	}
	s.commitMu.Lock()
	if err := s.commitLocked(); err != nil {
		s.commitMu.Unlock()
		s.defragAbort(tmp, dst)
		return nil, nil, err
	}
	s.mu.RLock()
	src = s.db
	s.mu.RUnlock()
	tx0, err := src.Begin(false)
	if err == nil {
		s.dlog = &defragLog{}
	}
	s.commitMu.Unlock()
	if err != nil {
		s.defragAbort(tmp, dst)
		return nil, nil, fmt.Errorf("mvcc: defrag: begin read: %w", err)
	}
	if err := s.copyBuckets(tx0, src, dst); err != nil {
		s.defragAbort(tmp, dst)
		return nil, nil, err
	}
	return src, dst, nil
}

// copyBuckets copies every bucket of tx0 into dst: all but the key bucket from tx0 (so they
// match the write log's start exactly), the key bucket in chunks of defragTxMaxSize, the
// first from tx0 and each later one from a new read transaction of src. tx0 is rolled back.
func (s *Store) copyBuckets(tx0 *bolt.Tx, src, dst *bolt.DB) error {
	tx := tx0
	defer func() { _ = tx.Rollback() }()
	var names [][]byte
	if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if !bytes.Equal(name, keyBucket) {
			names = append(names, bytes.Clone(name))
		}
		return nil
	}); err != nil {
		return fmt.Errorf("mvcc: defrag: %w", err)
	}
	for _, name := range names {
		for from := []byte(nil); ; {
			next, err := copyChunk(tx, dst, name, from, defragTxMaxSize)
			if err != nil {
				return err
			}
			if next == nil {
				break
			}
			from = next
		}
	}
	for from := []byte(nil); ; {
		next, err := copyChunk(tx, dst, keyBucket, from, s.defragChunkBytes())
		if err != nil || next == nil {
			return err
		}
		from = next
		if _, _, overflow := s.defragLogState(); overflow {
			return errDefragOverflow
		}
		_ = tx.Rollback()
		ntx, err := src.Begin(false)
		if err != nil {
			return fmt.Errorf("mvcc: defrag: begin read: %w", err)
		}
		tx = ntx
	}
}

// defragChunkBytes is the size of one chunk of the key bucket's copy.
func (s *Store) defragChunkBytes() int {
	if n := s.hooks.defragChunkBytes; n > 0 {
		return n
	}
	return defragTxMaxSize
}

// defragLogState reports the log's size and whether it overflowed.
func (s *Store) defragLogState() (ops int, n int64, overflow bool) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	return len(s.dlog.ops), s.dlog.bytes, s.dlog.overflow
}

// copyChunk copies the entries of bucket name in tx from key from (nil: the first) into dst
// in one transaction of up to maxSize bytes, creating the bucket. It returns the key
// to continue from, or nil when the bucket is done.
func copyChunk(tx *bolt.Tx, dst *bolt.DB, name, from []byte, maxSize int) ([]byte, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, nil
	}
	var next []byte
	err := dst.Update(func(dtx *bolt.Tx) error {
		db, err := dtx.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		// Keys go in in order: fill pages as the live key bucket is filled (seqFillPercent).
		db.FillPercent = seqFillPercent
		c := b.Cursor()
		k, v := c.First()
		if from != nil {
			k, v = c.Seek(from)
		}
		size := 0
		for ; k != nil; k, v = c.Next() {
			if v == nil {
				return fmt.Errorf("nested bucket %q in %q", k, name)
			}
			if size >= maxSize {
				next = bytes.Clone(k)
				return nil
			}
			if err := db.Put(k, v); err != nil {
				return err
			}
			size += len(k) + len(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mvcc: defrag: copy %s: %w", name, err)
	}
	return next, nil
}

// defragCatchUp replays the recorded writes on dst in rounds until a round is small, then
// fsyncs dst, so that the final step under commitMu only writes and syncs the last writes.
func (s *Store) defragCatchUp(dst *bolt.DB) error {
	for range defragCatchUpRounds {
		ops, n, overflow := s.takeDefragLog()
		if overflow {
			return errDefragOverflow
		}
		if err := replay(dst, ops); err != nil {
			return err
		}
		if n < defragFinalBytes {
			break
		}
	}
	if err := dst.Sync(); err != nil {
		return fmt.Errorf("mvcc: defrag: sync copy: %w", err)
	}
	return nil
}

// replay applies ops to dst in order, several to a transaction.
func replay(dst *bolt.DB, ops []defragOp) error {
	for len(ops) > 0 {
		err := dst.Update(func(tx *bolt.Tx) error {
			size := 0
			for len(ops) > 0 && size < defragTxMaxSize {
				op := ops[0]
				ops = ops[1:]
				if op.buf != nil {
					if err := applyBuf(tx, op.buf); err != nil {
						return err
					}
					size += len(op.buf.kvs) * 64
					continue
				}
				kb := tx.Bucket(keyBucket)
				for _, k := range op.dels {
					if err := kb.Delete(k); err != nil {
						return err
					}
				}
				size += len(op.dels) * 16
				if op.finished != 0 {
					if err := putUint64(tx.Bucket(metaBucket), metaFinishedCompactRev, uint64(op.finished)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("mvcc: defrag: catch up: %w", err)
		}
	}
	return nil
}

// defragSwap, holding commitMu, commits the pending batch, replays the last recorded writes
// on dst, fsyncs and closes it, renames tmp over the backend file and swaps the store to it.
// Writers go on meanwhile (their changes wait in the in-memory batch); readers that captured
// the old backend keep it until they end, then it is closed.
func (s *Store) defragSwap(tmp string, src, dst *bolt.DB) error {
	s.commitMu.Lock()
	err := s.commitLocked()
	s.mu.RLock()
	if err == nil && s.db != src {
		err = errDefragReplaced
	}
	s.mu.RUnlock()
	var ops []defragOp
	if err == nil {
		var overflow bool
		ops, _, overflow = s.takeDefragLogLocked()
		if overflow {
			err = errDefragOverflow
		}
	}
	s.dlog = nil
	if err == nil {
		err = replay(dst, ops)
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("mvcc: defrag: close copy: %w", cerr)
	}
	if err == nil {
		failpoint.Inject(failpoint.DefragBeforeRename)
		err = os.Rename(tmp, s.cfg.Path)
	}
	if err != nil {
		s.commitMu.Unlock()
		_ = os.Remove(tmp)
		return err
	}
	err = syncDir(filepath.Dir(s.cfg.Path))
	failpoint.Inject(failpoint.DefragAfterRename)
	var ndb *bolt.DB
	if err == nil {
		ndb, err = openDB(s.cfg.Path, nil)
	}
	s.mu.Lock()
	if err != nil {
		// The file on disk is the copy; the store must not go on committing to the old one.
		s.markClosedLocked()
		s.mu.Unlock()
		s.commitMu.Unlock()
		return errors.Join(fmt.Errorf("mvcc: defrag: %w", err), ErrClosed)
	}
	old, oldUsers := s.db, s.dbUsers
	s.db, s.dbUsers = ndb, new(sync.WaitGroup)
	s.mu.Unlock()
	s.dbSize.Store(dbSize(ndb))
	s.commitMu.Unlock()

	// Readers that captured the old backend still read it (its file is unlinked but open);
	// everything committed to it is in the copy.
	oldUsers.Wait()
	if err := old.Close(); err != nil {
		return fmt.Errorf("mvcc: defrag: close old backend: %w", err)
	}
	return nil
}

// defragBlocking is the defragmentation that holds writers for the whole copy: it commits
// the pending batch, copies every bucket into a new file next to Config.Path, fsyncs it and
// renames it over the backend file. Defrag falls back to it when the writes made during an
// online copy overflow their log.
func (s *Store) defragBlocking() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if err := s.commitLocked(); err != nil {
		return err
	}
	s.mu.RLock()
	closed, src := s.closed, s.db
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	before := s.dbSize.Load()
	tmp := s.cfg.Path + ".defrag"
	dst, err := copyCompact(tmp, src)
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	// The copy is opened before it replaces the backend file, so a failure leaves the store
	// as it was; after the rename the store serves from it.
	failpoint.Inject(failpoint.DefragBeforeRename)
	if err := os.Rename(tmp, s.cfg.Path); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("mvcc: defrag: %w", err)
	}
	syncErr := syncDir(filepath.Dir(s.cfg.Path))

	s.mu.Lock()
	old, oldUsers := s.db, s.dbUsers
	s.db, s.dbUsers = dst, new(sync.WaitGroup)
	s.mu.Unlock()
	s.dbSize.Store(dbSize(dst))

	// Readers that captured the old backend still read it (its file is unlinked but open);
	// it holds exactly what the copy holds, as no write committed since.
	oldUsers.Wait()
	closeErr := old.Close()
	s.log.Info("defragmented backend with writers held", "size_before", before, "size_after", s.dbSize.Load())
	if err := errors.Join(syncErr, closeErr); err != nil {
		return fmt.Errorf("mvcc: defrag: %w", err)
	}
	return nil
}

// copyCompact writes a compact copy of src to a new bbolt file at path, fsyncs it and
// returns it open (with the store's buckets, as openDB opens them).
// requires no write to src to commit meanwhile (the caller holds commitMu)
func copyCompact(path string, src *bolt.DB) (*bolt.DB, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mvcc: defrag: %w", err)
	}
	// The copy is written without an fsync per transaction and synced once at the end.
	dst, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout, NoSync: true,
		FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("mvcc: defrag: open %s: %w", path, err)
	}
	if err := bolt.Compact(dst, src, defragTxMaxSize); err != nil {
		_ = dst.Close()
		return nil, fmt.Errorf("mvcc: defrag: copy: %w", err)
	}
	err = dst.Sync()
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("mvcc: defrag: sync %s: %w", path, err)
	}
	return openDB(path, nil)
}

// ResetConsistentIndex sets the consistent index to index and commits it. It is for a
// backend that starts over under a new raft log, as a snapshot restored into a new cluster
// does (its entries at or below the old index would otherwise be skipped); the data is
// unchanged. Returns ErrClosed on a closed store.
func (s *Store) ResetConsistentIndex(index uint64) error {
	s.wmu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wmu.Unlock()
		return ErrClosed
	}
	s.ci = index
	s.cur.record(nil, nil)
	s.mu.Unlock()
	s.wmu.Unlock()
	return s.Commit()
}
