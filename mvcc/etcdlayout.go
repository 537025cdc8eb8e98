package mvcc

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// etcd's backend shares the key bucket's layout and the meta bucket's consistent_index with
// Keel's, but names the compaction revisions differently and keeps its other state in
// top-level buckets of its own (leases in "lease", ...). ExportEtcdLayout and
// ImportEtcdLayout translate a backend file between the two, so that a snapshot moves both
// ways between Keel and etcd.
var (
	etcdScheduledCompactRev = []byte("scheduledCompactRev")
	etcdFinishedCompactRev  = []byte("finishedCompactRev")
)

// etcd stores its compaction revisions in meta as encoded revisions (revKey without the
// tombstone mark, sub 0), not as 8-byte integers.

// ExportEtcdLayout makes the backend file at path (a copy written by Snapshot; no store may
// have it open) readable by etcd as well: the meta bucket gets etcd's names for the
// compaction revisions, and each auxiliary bucket named in buckets is copied, replacing it,
// into the top-level bucket etcd reads (buckets maps the auxiliary name to etcd's name; the
// values must be in etcd's encoding already). Keel's own state is left as it is, so Open
// and ImportEtcdLayout still read the file as Keel's.
func ExportEtcdLayout(path string, buckets map[string]string) error {
	db, err := openDB(path, nil)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		mb := tx.Bucket(metaBucket)
		if err := mb.Put(etcdScheduledCompactRev, revKey(revision{main: int64(getUint64(mb, metaCompactRev))}, false)); err != nil {
			return err
		}
		if err := mb.Put(etcdFinishedCompactRev, revKey(revision{main: int64(getUint64(mb, metaFinishedCompactRev))}, false)); err != nil {
			return err
		}
		for aux, name := range buckets {
			if err := copyBucket(tx, auxBucketName([]byte(aux)), []byte(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mvcc: export etcd layout %s: %w", path, err)
	}
	return nil
}

// ImportEtcdLayout prepares the backend file at path (no store may have it open) for Open.
// A file etcd wrote (its meta bucket has no "rev") gets Keel's names for etcd's compaction
// revisions, its tombstones' ModRevision (etcd leaves it out), and each top-level bucket named
// in buckets (etcd's name to the auxiliary name) copied into the auxiliary bucket. From a
// file ExportEtcdLayout wrote, only the copies it added for etcd are removed. It reports
// whether the file was etcd's.
func ImportEtcdLayout(path string, buckets map[string]string) (bool, error) {
	db, err := openDB(path, nil)
	if err != nil {
		return false, err
	}
	var fromEtcd bool
	err = db.Update(func(tx *bolt.Tx) error {
		mb := tx.Bucket(metaBucket)
		fromEtcd = mb.Get(metaRev) == nil
		if fromEtcd {
			for etcd, keel := range map[string][]byte{string(etcdScheduledCompactRev): metaCompactRev,
				string(etcdFinishedCompactRev): metaFinishedCompactRev} {
				rev, err := etcdMetaRev(mb, []byte(etcd))
				if err != nil {
					return err
				}
				if err := putUint64(mb, keel, uint64(rev)); err != nil {
					return err
				}
			}
			if err := fillTombstones(tx.Bucket(keyBucket)); err != nil {
				return err
			}
		}
		for _, k := range [][]byte{etcdScheduledCompactRev, etcdFinishedCompactRev} {
			if err := mb.Delete(k); err != nil {
				return err
			}
		}
		for name, aux := range buckets {
			if fromEtcd {
				if err := copyBucket(tx, []byte(name), auxBucketName([]byte(aux))); err != nil {
					return err
				}
			}
			if tx.Bucket([]byte(name)) != nil {
				if err := tx.DeleteBucket([]byte(name)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("mvcc: import etcd layout %s: %w", path, err)
	}
	return fromEtcd, nil
}

// etcdMetaRev reads one of etcd's compaction revisions: an encoded revision (see revKey)
// whose main part is the revision; 0 if missing.
func etcdMetaRev(mb *bolt.Bucket, key []byte) (int64, error) {
	v := mb.Get(key)
	if v == nil {
		return 0, nil
	}
	r, _, err := parseRevKey(v)
	if err != nil {
		return 0, fmt.Errorf("meta %s: %w", key, err)
	}
	return r.main, nil
}

// copyBucket replaces bucket dst with a copy of bucket src (an empty one if src is missing).
func copyBucket(tx *bolt.Tx, src, dst []byte) error {
	if tx.Bucket(dst) != nil {
		if err := tx.DeleteBucket(dst); err != nil {
			return err
		}
	}
	db, err := tx.CreateBucket(dst)
	if err != nil {
		return err
	}
	sb := tx.Bucket(src)
	if sb == nil {
		return nil
	}
	return sb.ForEach(func(k, v []byte) error {
		return db.Put(bytes.Clone(k), bytes.Clone(v))
	})
}

// fillTombstones sets each tombstone's ModRevision to its revision, as Keel writes them.
func fillTombstones(kb *bolt.Bucket) error {
	type entry struct{ k, v []byte }
	var fixed []entry
	err := kb.ForEach(func(k, v []byte) error {
		r, tomb, err := parseRevKey(k)
		if err != nil || !tomb {
			return err
		}
		kv := new(mvccpb.KeyValue)
		if err := proto.Unmarshal(v, kv); err != nil {
			return fmt.Errorf("revision %d_%d: %w", r.main, r.sub, err)
		}
		if kv.ModRevision == r.main {
			return nil
		}
		kv.ModRevision = r.main
		b, err := proto.Marshal(kv)
		if err != nil {
			return err
		}
		fixed = append(fixed, entry{bytes.Clone(k), b})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range fixed {
		if err := kb.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}
