package raftstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/keeldb/keel/raftstore"
)

// saveSnapshot writes n's backend followed by its SHA-256, as etcdctl snapshot save does.
func saveSnapshot(t *testing.T, n *raftstore.Node, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := n.Store().Snapshot(io.MultiWriter(f, h)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(h.Sum(nil)); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreDataDirStartsANewClusterWithTheSnapshot(t *testing.T) {
	old := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := old.leader(t)
	for i := range 20 {
		if _, err := put(ctx, old.nodes[l], fmt.Sprintf("k%02d", i), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.nodes[l].Compact(ctx, &pb.CompactionRequest{Revision: 10}); err != nil {
		t.Fatal(err)
	}
	grant, err := old.nodes[l].LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 600})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.nodes[l].Put(ctx, &pb.PutRequest{Key: []byte("leased"), Value: []byte("v"), Lease: grant.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := old.nodes[l].Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: old.nodes[l].ID(), Alarm: pb.AlarmType_NOSPACE}); err != nil {
		t.Fatal(err)
	}
	rev := old.nodes[l].Store().Rev()
	wantHash, _, _, err := old.nodes[l].Store().HashKV(rev)
	if err != nil {
		t.Fatal(err)
	}
	oldCID := old.nodes[l].ClusterID()
	snap := filepath.Join(t.TempDir(), "snap.db")
	saveSnapshot(t, old.nodes[l], snap)
	for i := range old.nodes {
		old.stop(i)
	}

	info, err := raftstore.ReadSnapshotInfo(snap, false)
	if err != nil {
		t.Fatalf("snapshot info: %v", err)
	}
	if info.Revision != rev || info.Hash != wantHash || info.TotalKeys != 21 || info.CompactRevision != 10 ||
		info.Leases != 1 || info.ClusterID != oldCID {
		t.Fatalf("snapshot info = %+v; want revision %d, hash %d, 21 keys, compacted at 10, 1 lease, cluster %x",
			info, rev, wantHash, oldCID)
	}

	const token = "restored"
	dirs := make([]string, 3)
	var members []raftstore.Member
	for i := range dirs {
		members = append(members, raftstore.Member{Name: fmt.Sprintf("m%d", i), PeerURLs: []string{"http://" + addr(i)}})
	}
	var ids []uint64
	for i := range dirs {
		dirs[i] = t.TempDir()
		err := raftstore.RestoreDataDir(raftstore.RestoreConfig{Snapshot: snap, Name: members[i].Name, DataDir: dirs[i],
			InitialCluster: members, Token: token})
		if err != nil {
			t.Fatalf("restore member %d: %v", i, err)
		}
		ids = append(ids, raftstore.MemberID(members[i].PeerURLs, token))
	}
	err = raftstore.RestoreDataDir(raftstore.RestoreConfig{Snapshot: snap, Name: "m0", DataDir: dirs[0], InitialCluster: members, Token: token})
	if err == nil || !strings.Contains(err.Error(), "already holds a member") {
		t.Errorf("restore over an existing member = %v, want a refusal", err)
	}

	c := newClusterOn(t, dirs, token)
	nl := c.leader(t)
	wantCID := raftstore.ClusterID(ids)
	if wantCID == oldCID {
		t.Fatal("test setup: the new cluster ID equals the old one")
	}
	for i, n := range c.nodes {
		if got := n.Store().Rev(); got != rev {
			t.Errorf("member %d: revision %d, want %d", i, got, rev)
		}
		if got := n.Store().CompactRev(); got != 10 {
			t.Errorf("member %d: compact revision %d, want 10", i, got)
		}
		if got := n.ClusterID(); got != wantCID {
			t.Errorf("member %d: cluster ID %x, want %x", i, got, wantCID)
		}
		if got := n.ID(); got != ids[i] {
			t.Errorf("member %d: ID %x, want %x", i, got, ids[i])
		}
		if a := n.Alarms(); len(a) != 0 {
			t.Errorf("member %d: alarms of the old cluster survived: %v", i, a)
		}
		if _, err := n.Lessor().Lookup(grant.ID); err != nil {
			t.Errorf("member %d: lease %x: %v", i, grant.ID, err)
		}
		if r := get(t, n, "k07", true); len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "7" {
			t.Errorf("member %d: k07 = %v", i, r.Kvs)
		}
	}
	eventually(t, 10*time.Second, func() error {
		for i, n := range c.nodes {
			ms, err := n.Members()
			if err != nil {
				return err
			}
			if len(ms) != 3 {
				return fmt.Errorf("member %d: %d members", i, len(ms))
			}
			for _, m := range ms {
				if m.Name == "" {
					return fmt.Errorf("member %d: member %x has not published its name", i, m.ID)
				}
			}
		}
		return nil
	})
	resp, err := put(ctx, c.nodes[nl], "new", "x")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Revision != rev+1 {
		t.Errorf("first write after restore at revision %d, want %d", resp.Header.Revision, rev+1)
	}
	eventually(t, 10*time.Second, func() error {
		for i, n := range c.nodes {
			h, _, _, err := n.Store().HashKV(rev)
			if err != nil {
				return err
			}
			if h != wantHash {
				return fmt.Errorf("member %d: HashKV(%d) = %d, want the snapshot's %d", i, rev, h, wantHash)
			}
		}
		return nil
	})
}

func TestRestoreDataDirChecksTheSnapshotHash(t *testing.T) {
	c := newCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c.leader(t) // a write before the election ends fails with "no leader"
	if _, err := put(ctx, c.nodes[0], "k", "v"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	snap := filepath.Join(dir, "snap.db")
	saveSnapshot(t, c.nodes[0], snap)
	b, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	members := []raftstore.Member{{Name: "m0", PeerURLs: []string{"http://" + addr(0)}}}
	restore := func(path string, skip bool) error {
		return raftstore.RestoreDataDir(raftstore.RestoreConfig{Snapshot: path, Name: "m0", DataDir: t.TempDir(),
			InitialCluster: members, Token: "t", SkipHashCheck: skip})
	}
	corrupt := filepath.Join(dir, "corrupt.db")
	bad := append([]byte(nil), b...)
	bad[len(bad)-1] ^= 0xff
	if err := os.WriteFile(corrupt, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := restore(corrupt, false); err == nil || !strings.Contains(err.Error(), "hash mismatch") {
		t.Errorf("restore of a corrupt snapshot = %v, want a hash mismatch", err)
	}
	bare := filepath.Join(dir, "bare.db")
	if err := os.WriteFile(bare, b[:len(b)-sha256.Size], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := restore(bare, false); err == nil || !strings.Contains(err.Error(), "no SHA-256") {
		t.Errorf("restore without a hash = %v, want a refusal", err)
	}
	if err := restore(bare, true); err != nil {
		t.Errorf("restore without a hash, skipping the check: %v", err)
	}
	if err := restore(snap, false); err != nil {
		t.Errorf("restore: %v", err)
	}
	if err := raftstore.RestoreDataDir(raftstore.RestoreConfig{Snapshot: snap, Name: "nobody", DataDir: t.TempDir(),
		InitialCluster: members}); err == nil {
		t.Error("restore of a member not in the initial cluster succeeded")
	}
}

// etcdifySnapshot turns a Keel snapshot file (with its SHA-256 trailer) into what etcd's
// snapshot save writes: etcd's lease bucket and compaction revisions (ExportSnapshot), no
// Keel "rev" in meta, and lease remaining the record's RemainingTTL (as etcd's checkpoints
// leave it).
func etcdifySnapshot(t *testing.T, snap string, leaseID, ttl, remaining int64) {
	t.Helper()
	b, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	db := snap + ".db"
	if err := os.WriteFile(db, b[:len(b)-sha256.Size], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := raftstore.ExportSnapshot(db); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("meta")).Delete([]byte("rev")); err != nil {
			return err
		}
		var rec []byte
		for i, v := range []int64{leaseID, ttl, remaining} {
			rec = protowire.AppendTag(rec, protowire.Number(i+1), protowire.VarintType)
			rec = protowire.AppendVarint(rec, uint64(v))
		}
		return tx.Bucket([]byte("lease")).Put(binary.BigEndian.AppendUint64(nil, uint64(leaseID)), rec)
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(db, snap); err != nil {
		t.Fatal(err)
	}
}

// An etcd snapshot restores with its leases: the remaining TTL etcd checkpointed is what the
// new leader gives the lease, not its whole TTL, and its key stays attached.
func TestRestoreDataDirImportsEtcdLeases(t *testing.T) {
	old := newCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	old.leader(t) // a grant before the election ends fails with "no leader"
	grant, err := old.nodes[0].LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 600})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.nodes[0].Put(ctx, &pb.PutRequest{Key: []byte("leased"), Value: []byte("v"), Lease: grant.ID}); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(t.TempDir(), "snap.db")
	saveSnapshot(t, old.nodes[0], snap)
	old.stop(0)
	etcdifySnapshot(t, snap, grant.ID, 600, 30)

	info, err := raftstore.ReadSnapshotInfo(snap, true)
	if err != nil || info.Leases != 1 {
		t.Fatalf("snapshot info = %+v, %v; want 1 lease", info, err)
	}
	dir := t.TempDir()
	members := []raftstore.Member{{Name: "m0", PeerURLs: []string{"http://" + addr(0)}}}
	if err := raftstore.RestoreDataDir(raftstore.RestoreConfig{Snapshot: snap, Name: "m0", DataDir: dir,
		InitialCluster: members, Token: "etcd", SkipHashCheck: true}); err != nil {
		t.Fatal(err)
	}
	c := newClusterOn(t, []string{dir}, "etcd")
	n := c.nodes[c.leader(t)]
	remaining, granted, err := n.LeaseTimeToLive(ctx, grant.ID)
	// Remaining only decreases: at most the checkpointed 30 s plus the leader's promotion
	// extension, far below the whole TTL it would have without the checkpoint.
	if err != nil || granted != 600 || remaining <= 0 || remaining > 60 {
		t.Fatalf("restored lease: remaining %d, granted %d, %v; want granted 600, at most the checkpointed 30 s left (plus the promotion extension)",
			remaining, granted, err)
	}
	li, err := n.Lessor().Lookup(grant.ID)
	if err != nil || len(li.Keys) != 1 || li.Keys[0] != "leased" {
		t.Fatalf("restored lease = %+v, %v; want leased attached", li, err)
	}
}
