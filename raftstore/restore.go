package raftstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"

	"github.com/keeldb/keel/auth"
	"github.com/keeldb/keel/mvcc"
)

// RestoreConfig describes a member data dir to create from a backend snapshot (etcdctl
// snapshot restore's flags).
type RestoreConfig struct {
	// Snapshot is the snapshot file: the mvcc backend as Maintenance.Snapshot streams it
	// (etcdctl snapshot save), normally followed by its SHA-256.
	Snapshot string
	// Name is the member's name (--name); it must appear in InitialCluster.
	Name string
	// DataDir is the data dir to create (--data-dir); it must not hold a member yet.
	DataDir string
	// InitialCluster lists every member of the new cluster (--initial-cluster).
	InitialCluster []Member
	// Token is the new cluster's --initial-cluster-token; member and cluster IDs derive from it.
	Token string
	// LogBackend is the raft log the data dir gets (--raft-log-backend): LogBackendWAL for ""
	// too.
	LogBackend LogBackend
	// SkipHashCheck accepts a snapshot without its SHA-256 trailer (e.g. a copied backend file).
	SkipHashCheck bool
	// Logger receives logs; nil discards.
	Logger *slog.Logger
}

// Validate reports every problem with the configuration.
func (c RestoreConfig) Validate() error {
	var errs []error
	if c.Snapshot == "" {
		errs = append(errs, errors.New("raftstore: restore: snapshot path is required"))
	}
	cfg := Config{Name: c.Name, DataDir: c.DataDir, InitialCluster: c.InitialCluster, NewCluster: true,
		LogBackend: c.LogBackend}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// RestoreDataDir creates a data dir from which a member of a new cluster starts with the
// snapshot's keys, revisions, compaction revision and leases (etcd's snapshot restore). The
// snapshot may be Keel's or etcd's (see mvcc.ImportEtcdLayout); etcd's leases keep their
// TTL and the remaining TTL of their last checkpoint, if any: the leader gives each the
// remaining or else its whole TTL afresh, as etcd's lessor does on promotion. The backend is
// the snapshot's with:
//   - its consistent index reset to 0, because the new cluster's raft log starts from scratch
//     and entries at or below the stored index would be skipped;
//   - the old cluster's member attributes and alarms removed, and the cluster ID replaced by
//     the one the new InitialCluster and Token derive;
//
// and the raft log is bootstrapped with InitialCluster as its configuration, so the member
// starts with it whatever --initial-cluster-state says. Every member of the new cluster is
// restored from the same snapshot with the same InitialCluster and Token, each with its Name.
//
// It refuses a data dir that already holds a member, and a snapshot whose SHA-256 does not
// match (or that has none, unless SkipHashCheck). On failure the data dir may be left half
// written; remove it before trying again.
func RestoreDataDir(c RestoreConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	lg := c.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Join(c.DataDir, "member")
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("raftstore: restore: data dir %s already holds a member", c.DataDir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "snap"), 0o700); err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	kvPath := filepath.Join(dir, "kv.db")
	if err := copySnapshot(kvPath, c.Snapshot, c.SkipHashCheck); err != nil {
		return err
	}
	fromEtcd, err := mvcc.ImportEtcdLayout(kvPath, etcdBuckets)
	if err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	if fromEtcd {
		lg.Info("snapshot is etcd's: imported its compaction revision and leases")
	}
	conf, ids, err := bootstrapConfiguration(c.InitialCluster, c.Token)
	if err != nil {
		return err
	}
	cid := ClusterID(ids)
	if err := rewriteForNewCluster(kvPath, cid, lg); err != nil {
		return err
	}
	var self uint64
	for i, m := range c.InitialCluster {
		if m.Name == c.Name {
			self = ids[i]
		}
	}
	if err := bootstrapLog(dir, self, conf, c.LogBackend, lg); err != nil {
		return err
	}
	// Recorded like a started member's identity, so the member keeps its ID even if it is
	// started with flags that would derive another one.
	if err := writeIdentity(c.DataDir, self, cid); err != nil {
		return fmt.Errorf("raftstore: restore: record member identity: %w", err)
	}
	lg.Info("restored snapshot into a new data dir", "data_dir", c.DataDir, "member_id", fmt.Sprintf("%x", self),
		"cluster_id", fmt.Sprintf("%x", cid))
	return nil
}

// etcdBuckets maps etcd's top-level buckets to the auxiliary buckets holding the same
// records in Keel's backend: a lease record (keelpb.LeaseRecord under the lease ID as 8
// big-endian bytes) is etcd's leasepb.Lease byte for byte, and the auth buckets have etcd's
// names and encoding (package auth), so users, roles and the enabled flag move both ways.
var etcdBuckets = func() map[string]string {
	m := map[string]string{"lease": string(bucketLeases)}
	for _, b := range auth.Buckets() {
		m[b] = b
	}
	return m
}()

// ExportSnapshot makes the backend copy at path (written by mvcc.Store.Snapshot, not open)
// a snapshot etcd restores too (etcdctl|etcdutl snapshot restore): etcd's compaction
// revisions and lease bucket are added beside Keel's own, which RestoreDataDir reads.
func ExportSnapshot(path string) error {
	exp := make(map[string]string, len(etcdBuckets))
	for etcd, aux := range etcdBuckets {
		exp[aux] = etcd
	}
	return mvcc.ExportEtcdLayout(path, exp)
}

// copySnapshot writes the backend part of the snapshot file src to dst, checking the
// SHA-256 trailer the snapshot stream ends with. A bbolt file is a whole number of pages,
// so a trailer is there when the size is 32 more than a multiple of 512 (etcd's rule).
func copySnapshot(dst, src string, skipHashCheck bool) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	size := st.Size()
	hasHash := size%512 == sha256.Size
	if !hasHash && !skipHashCheck {
		return errors.New("raftstore: restore: snapshot has no SHA-256 trailer (use the skip hash check option for a copied backend file)")
	}
	dbSize := size
	if hasHash {
		dbSize -= sha256.Size
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), io.LimitReader(f, dbSize))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("raftstore: restore: copy backend: %w", err)
	}
	if hasHash {
		want := make([]byte, sha256.Size)
		if _, err := io.ReadFull(f, want); err != nil {
			return fmt.Errorf("raftstore: restore: read hash: %w", err)
		}
		if got := h.Sum(nil); !bytes.Equal(got, want) && !skipHashCheck {
			return fmt.Errorf("raftstore: restore: snapshot hash mismatch: got %x, want %x", got, want)
		}
	}
	return nil
}

// rewriteForNewCluster makes the backend at path start over under a new raft log in the
// cluster cid: consistent index 0, no member attributes or alarms of the old cluster.
func rewriteForNewCluster(path string, cid uint64, lg *slog.Logger) error {
	st, err := mvcc.Open(mvcc.Config{Path: path, Logger: lg})
	if err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	var stale [][2][]byte
	for _, b := range [][]byte{bucketMembers, bucketAlarms} {
		err = errors.Join(err, st.ForEachAux(b, func(k, _ []byte) error {
			stale = append(stale, [2][]byte{b, bytes.Clone(k)})
			return nil
		}))
	}
	if err == nil {
		w := st.Write(0)
		for _, e := range stale {
			w.DeleteAux(e[0], e[1])
		}
		w.SetAux(bucketCluster, keyClusterID, beAppend(nil, cid))
		w.End()
		err = st.ResetConsistentIndex(0)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("raftstore: restore: rewrite backend: %w", err)
	}
	return nil
}

// bootstrapConfiguration returns the raft configuration of a new cluster of members, and
// their IDs in the same order.
func bootstrapConfiguration(members []Member, token string) (raft.Configuration, []uint64, error) {
	var conf raft.Configuration
	ids := make([]uint64, 0, len(members))
	for _, m := range members {
		addr, err := hostPort(m.PeerURLs[0])
		if err != nil {
			return raft.Configuration{}, nil, err
		}
		id := MemberID(m.PeerURLs, token)
		ids = append(ids, id)
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter, ID: serverID(id), Address: raft.ServerAddress(addr),
		})
	}
	return conf, ids, nil
}

// bootstrapLog writes a new raft log in dir whose first entry is the configuration conf,
// as Node.bootstrap does for a new cluster.
func bootstrapLog(dir string, self uint64, conf raft.Configuration, backend LogBackend, lg *slog.Logger) error {
	cfg := Config{LogBackend: backend}
	cfg.applyDefaults()
	logs, _, err := openLogStore(dir, &cfg, lg, nil)
	if err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, "snap"), 2, newHCLog(slog.New(slog.DiscardHandler)))
	if err == nil {
		rc := raft.DefaultConfig()
		rc.LocalID = serverID(self)
		_, trans := raft.NewInmemTransport("")
		err = raft.BootstrapCluster(rc, logs, logs, snaps, trans, conf)
	}
	if cerr := logs.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("raftstore: restore: bootstrap raft log: %w", err)
	}
	return nil
}

// SnapshotInfo describes a snapshot file (etcdctl snapshot status).
type SnapshotInfo struct {
	// Hash is the snapshot's HashKV at Revision: equal to every member's HashKV at that
	// revision in the cluster it was taken from (and in a cluster restored from it).
	Hash uint32
	// Revision is the store revision the snapshot holds.
	Revision int64
	// CompactRevision is its compaction revision.
	CompactRevision int64
	// TotalKeys is the number of live keys at Revision.
	TotalKeys int
	// TotalSize is the size of the backend in bytes (without the SHA-256 trailer).
	TotalSize int64
	// ConsistentIndex is the raft index the snapshot was taken at.
	ConsistentIndex uint64
	// ClusterID is the ID of the cluster the snapshot was taken from.
	ClusterID uint64
	// Leases is the number of leases it holds.
	Leases int
}

// ReadSnapshotInfo checks a snapshot file's SHA-256 (see RestoreDataDir for skipHashCheck)
// and describes its content. It reads a temporary copy, so the file is never modified.
func ReadSnapshotInfo(path string, skipHashCheck bool) (SnapshotInfo, error) {
	tmp, err := os.MkdirTemp("", "keel-snapshot-status-")
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer os.RemoveAll(tmp)
	db := filepath.Join(tmp, "kv.db")
	if err := copySnapshot(db, path, skipHashCheck); err != nil {
		return SnapshotInfo{}, err
	}
	if _, err := mvcc.ImportEtcdLayout(db, etcdBuckets); err != nil {
		return SnapshotInfo{}, err
	}
	st, err := mvcc.Open(mvcc.Config{Path: db})
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer st.Close()
	var info SnapshotInfo
	info.Hash, info.Revision, info.CompactRevision, err = st.HashKV(0)
	if err != nil {
		return SnapshotInfo{}, err
	}
	v := st.Read()
	res, err := v.Range([]byte{0}, []byte{0}, mvcc.RangeOptions{CountOnly: true})
	v.End()
	if err != nil {
		return SnapshotInfo{}, err
	}
	info.TotalKeys = res.Count
	info.TotalSize = st.BackendSize()
	info.ConsistentIndex = st.ConsistentIndex()
	if b := st.Aux(bucketCluster, keyClusterID); len(b) == 8 {
		info.ClusterID = beUint64(b)
	}
	err = st.ForEachAux(bucketLeases, func(_, _ []byte) error {
		info.Leases++
		return nil
	})
	return info, err
}
