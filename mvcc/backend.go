package mvcc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
)

// Backend layout (one bbolt file):
//
//	key   revision key (see revKey) -> marshalled mvccpb.KeyValue; a tombstone's value holds
//	      only Key and ModRevision
//	meta  "consistent_index", "rev", "compact_rev", "finished_compact_rev" -> 8-byte
//	      big-endian integers
//	aux/<name>  one bucket per auxiliary bucket name given by callers
//
// compact_rev is the scheduled compaction revision (etcd's scheduledCompactRev): written by
// the batch commits with the consistent index of the entry that raised it. finished_compact_rev
// is written by the compactor in the transaction of a compaction's last delete batch; the
// compactor deletes nothing for a revision before compact_rev has reached it on disk, so
// compact_rev > finished_compact_rev on disk means a compaction to finish (see compactor.go).
var (
	keyBucket  = []byte("key")
	metaBucket = []byte("meta")

	metaConsistentIndex    = []byte("consistent_index")
	metaRev                = []byte("rev")
	metaCompactRev         = []byte("compact_rev")
	metaFinishedCompactRev = []byte("finished_compact_rev")
)

// auxPrefix keeps callers' bucket names apart from the store's own buckets.
const auxPrefix = "aux/"

// openTimeout bounds the wait for bbolt's file lock, so a second Open of the same path
// fails instead of hanging.
const openTimeout = 10 * time.Second

func auxBucketName(name []byte) []byte {
	return append([]byte(auxPrefix), name...)
}

// As etcd's backend: the freelist is rebuilt on open rather than written by every commit
// (a commit then writes only the pages it changed, however many pages are free), and the
// file is mapped at 10 GiB of address space from the start. bbolt remaps the file when it
// grows past the mapping, and a remap waits for every open read transaction — a raft
// snapshot's copy of a gigabyte, a watcher's catch-up — while holding up every commit;
// at 150,000 pods the backend grew through 1 GB during the run (issue 17).
const initialMmapSize = 10 << 30

// openFileFunc opens a backend file: os.OpenFile, or Config.OpenFile.
type openFileFunc = func(name string, flag int, perm os.FileMode) (*os.File, error)

// openDB opens the bbolt file at path through openFile (nil: os.OpenFile) and creates the
// store's buckets.
func openDB(path string, openFile openFileFunc) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout, FreelistType: bolt.FreelistMapType,
		NoFreelistSync: true, InitialMmapSize: initialMmapSize, OpenFile: openFile})
	if err != nil {
		return nil, fmt.Errorf("mvcc: open backend %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{keyBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("mvcc: init backend %s: %w", path, err)
	}
	return db, nil
}

// state is the in-memory state rebuilt from a backend.
type state struct {
	idx  *treeIndex
	meta persistedMeta
	// finishedRev is the revision of the last compaction whose deletes are all committed.
	finishedRev int64
}

// loadState reads the meta bucket and rebuilds the key index by scanning the key bucket.
func loadState(db *bolt.DB) (*state, error) {
	st := &state{idx: newTreeIndex()}
	err := db.View(func(tx *bolt.Tx) error {
		mb, kb := tx.Bucket(metaBucket), tx.Bucket(keyBucket)
		if mb == nil || kb == nil {
			return errors.New("mvcc: backend is missing its buckets")
		}
		st.meta = persistedMeta{
			consistentIndex: getUint64(mb, metaConsistentIndex),
			rev:             int64(getUint64(mb, metaRev)),
			compactRev:      int64(getUint64(mb, metaCompactRev)),
		}
		st.finishedRev = int64(getUint64(mb, metaFinishedCompactRev))
		return kb.ForEach(func(k, v []byte) error {
			r, tomb, err := parseRevKey(k)
			if err != nil {
				return err
			}
			key, err := kvKey(v)
			if err != nil {
				return fmt.Errorf("mvcc: revision %d_%d: %w", r.main, r.sub, err)
			}
			st.meta.rev = max(st.meta.rev, r.main)
			ki := st.idx.getOrCreate(key)
			if tomb {
				ki.tombstone(r)
			} else {
				ki.put(r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("mvcc: load backend: %w", err)
	}
	st.meta.rev = max(st.meta.rev, st.meta.compactRev, 1)
	return st, nil
}

// kvKey extracts field 1 (key) of a marshalled mvccpb.KeyValue without decoding the value.
func kvKey(b []byte) ([]byte, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			return v, nil
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return nil, errors.New("kv without key")
}

func getUint64(b *bolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint64(b *bolt.Bucket, key []byte, v uint64) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], v)
	return b.Put(key, buf[:])
}

// seqFillPercent is the page fill for the append-only revision bucket.
const seqFillPercent = 0.9

// applyBuf writes a sealed buffer to tx: puts, auxiliary changes and the meta the buffer was
// sealed with. It is idempotent, so a failed commit can be
// retried with the same buffer.
func applyBuf(tx *bolt.Tx, b *writeBuf) error {
	kb, mb := tx.Bucket(keyBucket), tx.Bucket(metaBucket)
	// Revisions only grow, so puts append at the right edge of the tree: split pages 90% full
	// instead of bbolt's default half, as etcd does for its key bucket. Half-full pages double
	// the file and the resident mmap for the same data.
	kb.FillPercent = seqFillPercent
	for _, e := range b.kvs {
		if err := kb.Put(e.key, e.val); err != nil {
			return err
		}
	}
	for k, v := range b.aux {
		if err := applyAux(tx, k, v); err != nil {
			return err
		}
	}
	if err := putUint64(mb, metaConsistentIndex, b.meta.consistentIndex); err != nil {
		return err
	}
	if err := putUint64(mb, metaRev, uint64(b.meta.rev)); err != nil {
		return err
	}
	return putUint64(mb, metaCompactRev, uint64(b.meta.compactRev))
}

func applyAux(tx *bolt.Tx, k auxKey, v auxVal) error {
	name := auxBucketName([]byte(k.bucket))
	if v.deleted {
		if ab := tx.Bucket(name); ab != nil {
			return ab.Delete([]byte(k.key))
		}
		return nil
	}
	ab, err := tx.CreateBucketIfNotExists(name)
	if err != nil {
		return err
	}
	return ab.Put([]byte(k.key), v.val)
}

// syncDir fsyncs a directory, making a rename in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
