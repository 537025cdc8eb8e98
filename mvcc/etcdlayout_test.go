package mvcc

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// snapshotFile writes a Snapshot of s to a new file and returns its path.
func snapshotFile(t *testing.T, s *Store) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snap.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// updateFile runs fn in a write transaction on the bbolt file at path.
func updateFile(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// etcdSource is a store with overwrites, a delete, a compaction and a record in the
// auxiliary bucket "leases".
func etcdSource(t *testing.T) *Store {
	s := newStore(t)
	history(s, []op{put("a", "1")}, []op{put("b", "1")}, []op{put("a", "2")}, []op{delKey("b")},
		[]op{put("c", "1")})
	w := s.Write(6)
	w.SetAux([]byte("leases"), []byte("id1"), []byte("record"))
	w.End()
	compact(t, s, 7, 3)
	return s
}

func TestExportEtcdLayout(t *testing.T) {
	s := etcdSource(t)
	path := snapshotFile(t, s)
	if err := ExportEtcdLayout(path, map[string]string{"leases": "lease"}); err != nil {
		t.Fatal(err)
	}
	updateFile(t, path, func(tx *bolt.Tx) error {
		mb := tx.Bucket(metaBucket)
		for _, k := range [][]byte{etcdScheduledCompactRev, etcdFinishedCompactRev} {
			if got := mb.Get(k); !bytes.Equal(got, revKey(revision{main: 3}, false)) {
				t.Errorf("meta %s = %x, want revision 3 encoded", k, got)
			}
		}
		lb := tx.Bucket([]byte("lease"))
		if lb == nil || string(lb.Get([]byte("id1"))) != "record" {
			t.Errorf("etcd's lease bucket misses the record")
		}
		return nil
	})
	// Keel's own file: import keeps its state and removes etcd's copies.
	fromEtcd, err := ImportEtcdLayout(path, map[string]string{"lease": "leases"})
	if err != nil || fromEtcd {
		t.Fatalf("import of Keel's export = %v, %v; want false, nil", fromEtcd, err)
	}
	updateFile(t, path, func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("lease")) != nil || tx.Bucket(metaBucket).Get(etcdScheduledCompactRev) != nil {
			t.Errorf("etcd's copies are still there after the import")
		}
		return nil
	})
	r := openAt(t, path)
	if r.Rev() != s.Rev() || r.CompactRev() != 3 || string(r.Aux([]byte("leases"), []byte("id1"))) != "record" {
		t.Errorf("reopened: rev %d compact %d lease %q; want %d, 3, record", r.Rev(), r.CompactRev(),
			r.Aux([]byte("leases"), []byte("id1")), s.Rev())
	}
}

func TestImportEtcdLayout(t *testing.T) {
	s := etcdSource(t)
	path := snapshotFile(t, s)
	wantHash, _, _, err := s.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	// Make the copy what etcd writes: its meta names, its lease bucket, tombstones holding
	// only the key.
	updateFile(t, path, func(tx *bolt.Tx) error {
		mb := tx.Bucket(metaBucket)
		for _, k := range [][]byte{metaRev, metaCompactRev, metaFinishedCompactRev} {
			if err := mb.Delete(k); err != nil {
				return err
			}
		}
		if err := mb.Put(etcdScheduledCompactRev, revKey(revision{main: 3}, false)); err != nil {
			return err
		}
		if err := mb.Put(etcdFinishedCompactRev, revKey(revision{main: 3}, false)); err != nil {
			return err
		}
		if err := copyBucket(tx, auxBucketName([]byte("leases")), []byte("lease")); err != nil {
			return err
		}
		if err := tx.DeleteBucket(auxBucketName([]byte("leases"))); err != nil {
			return err
		}
		b, err := proto.Marshal(&mvccpb.KeyValue{Key: []byte("b")})
		if err != nil {
			return err
		}
		return tx.Bucket(keyBucket).Put(revKey(revision{main: 5}, true), b)
	})
	fromEtcd, err := ImportEtcdLayout(path, map[string]string{"lease": "leases"})
	if err != nil || !fromEtcd {
		t.Fatalf("import of etcd's file = %v, %v; want true, nil", fromEtcd, err)
	}
	r := openAt(t, path)
	if r.Rev() != s.Rev() || r.CompactRev() != 3 || r.FinishedCompactRev() != 3 {
		t.Errorf("imported: rev %d compact %d finished %d; want %d, 3, 3", r.Rev(), r.CompactRev(),
			r.FinishedCompactRev(), s.Rev())
	}
	if got := string(r.Aux([]byte("leases"), []byte("id1"))); got != "record" {
		t.Errorf("imported lease record %q, want record", got)
	}
	if h, _, _, err := r.HashKV(0); err != nil || h != wantHash {
		t.Errorf("imported HashKV = %d, %v; want %d (tombstones as Keel writes them)", h, err, wantHash)
	}
}
