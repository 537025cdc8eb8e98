package snapshot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

// Migration both ways (README "Moving from etcd"): a snapshot of Debian's etcd restores into
// Keel with keelctl, and a snapshot of Keel restores into etcd with etcdctl, each with its
// keys (revisions and versions), compaction revision and leases; a leased key expires on the
// other side once its lease runs out.

// shortTTL is the short lease's TTL: the restored side gives it afresh (etcd's lessor
// refreshes every lease when it becomes primary), so its key goes within about that long.
const shortTTL = 5

// longTTL is the long lease's TTL: it stays for the whole test.
const longTTL = 3600

// migrationSource is what was written to the source cluster.
type migrationSource struct {
	kvs               []*mvccpb.KeyValue // every live key at rev, sorted by key
	rev, compact      int64
	short, long       clientv3.LeaseID
	shortKey, longKey string
}

// writeMigrationSource writes keys with overwrites and deletes, compacts, and attaches a key
// to a long lease and another to a short one (last, so that it is still alive when the
// snapshot is saved right after).
func writeMigrationSource(t *testing.T, ctx context.Context, cli *clientv3.Client) migrationSource {
	t.Helper()
	for i := range 60 {
		if _, err := cli.Put(ctx, fmt.Sprintf("key/%02d", i%40), fmt.Sprintf("value-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := cli.Delete(ctx, fmt.Sprintf("key/%02d", i*7)); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := cli.Get(ctx, "key/01")
	if err != nil {
		t.Fatal(err)
	}
	s := migrationSource{compact: resp.Header.Revision - 20, shortKey: "leased/short", longKey: "leased/long"}
	if _, err := cli.Compact(ctx, s.compact, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		ttl int64
		id  *clientv3.LeaseID
		key string
	}{{longTTL, &s.long, s.longKey}, {shortTTL, &s.short, s.shortKey}} {
		g, err := cli.Grant(ctx, l.ttl)
		if err != nil {
			t.Fatal(err)
		}
		*l.id = g.ID
		if _, err := cli.Put(ctx, l.key, "attached", clientv3.WithLease(g.ID)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := cli.Get(ctx, "", clientv3.WithFromKey())
	if err != nil {
		t.Fatal(err)
	}
	s.kvs, s.rev = all.Kvs, all.Header.Revision
	return s
}

// checkMigrated checks c (restored from a snapshot of src) member by member: every key at
// the snapshot's revision with its value, revisions, version and lease; the compaction
// revision; both leases listed; then that the short lease's key expires and the long lease
// stays with its TTL.
func checkMigrated(t *testing.T, ctx context.Context, c *proccluster.Cluster, src migrationSource) {
	t.Helper()
	for i := range c.Size() {
		cli := c.Client(t, i)
		resp, err := cli.Get(ctx, "", clientv3.WithFromKey(), clientv3.WithRev(src.rev), clientv3.WithSerializable())
		if err != nil {
			t.Fatalf("m%d: get at %d: %v", i, src.rev, err)
		}
		if resp.Header.Revision < src.rev {
			t.Errorf("m%d: revision %d after restore, want at least %d", i, resp.Header.Revision, src.rev)
		}
		if len(resp.Kvs) != len(src.kvs) {
			t.Errorf("m%d: %d keys at %d, want %d", i, len(resp.Kvs), src.rev, len(src.kvs))
		}
		for j := range min(len(resp.Kvs), len(src.kvs)) {
			got, want := resp.Kvs[j], src.kvs[j]
			if string(got.Key) != string(want.Key) || string(got.Value) != string(want.Value) ||
				got.CreateRevision != want.CreateRevision || got.ModRevision != want.ModRevision ||
				got.Version != want.Version || got.Lease != want.Lease {
				t.Errorf("m%d: key %d = %v, want %v", i, j, got, want)
			}
		}
		_, err = cli.Get(ctx, "key/01", clientv3.WithRev(src.compact-1), clientv3.WithSerializable())
		if !errors.Is(err, rpctypes.ErrCompacted) {
			t.Errorf("m%d: read below the compaction revision %d: %v, want %v", i, src.compact, err, rpctypes.ErrCompacted)
		}
	}
	cli := c.Client(t)
	ll, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []clientv3.LeaseID
	for _, l := range ll.Leases {
		ids = append(ids, l.ID)
	}
	if !slices.Contains(ids, src.long) {
		t.Errorf("leases %v after restore, want %x among them", ids, src.long)
	}
	eventually(t, ctx, "the short lease's key expires", func(ctx context.Context) error {
		r, err := cli.Get(ctx, src.shortKey)
		if err != nil {
			return err
		}
		if len(r.Kvs) != 0 {
			return fmt.Errorf("%s still there", src.shortKey)
		}
		ttl, err := cli.TimeToLive(ctx, src.short)
		if err != nil {
			return err
		}
		if ttl.TTL != -1 {
			return fmt.Errorf("short lease TTL %d, want -1 (gone)", ttl.TTL)
		}
		return nil
	})
	ttl, err := cli.TimeToLive(ctx, src.long, clientv3.WithAttachedKeys())
	if err != nil || ttl.GrantedTTL != longTTL || ttl.TTL <= 0 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != src.longKey {
		t.Errorf("long lease after restore = %+v, %v; want TTL %d with %s", ttl, err, longTTL, src.longKey)
	}
	if r, err := cli.Get(ctx, src.longKey); err != nil || len(r.Kvs) != 1 {
		t.Errorf("%s after the short lease expired: %v, %v", src.longKey, r, err)
	}
}

// saveWithEtcdctl saves a snapshot of endpoint with Debian's etcdctl.
func saveWithEtcdctl(t *testing.T, ctx context.Context, etcdctl, endpoint string) string {
	t.Helper()
	snap := filepath.Join(t.TempDir(), "snapshot.db")
	out := runTool(t, ctx, cleanEnv("ETCDCTL_API=3"), etcdctl, "--endpoints="+endpoint, "snapshot", "save", snap)
	if !strings.Contains(out, "Snapshot saved at") {
		t.Fatalf("etcdctl snapshot save: %s", out)
	}
	return snap
}

func TestMigrateEtcdToKeel(t *testing.T) {
	etcd := proccluster.EtcdBinary(t)
	etcdctl := proccluster.EtcdctlBinary(t)
	keelctl := buildKeelctl(t)
	keeld := proccluster.BuildKeeld(t)
	ctx := poll.Context(t, 2*time.Minute)

	orig := proccluster.Start(t, proccluster.Config{Binary: etcd, Members: 1})
	src := writeMigrationSource(t, ctx, orig.Client(t))
	snap := saveWithEtcdctl(t, ctx, etcdctl, orig.Endpoint(0))
	var status struct {
		Revision int64 `json:"revision"`
		TotalKey int   `json:"totalKey"`
	}
	if err := json.Unmarshal([]byte(runTool(t, ctx, cleanEnv(), keelctl, "snapshot", "status", snap, "-w", "json")), &status); err != nil {
		t.Fatal(err)
	}
	if status.Revision != src.rev || status.TotalKey != len(src.kvs) {
		t.Fatalf("keelctl snapshot status of etcd's snapshot = %+v; want revision %d, %d keys", status, src.rev, len(src.kvs))
	}

	dst := proccluster.Start(t, proccluster.Config{Binary: keeld, Members: 3})
	restoreInto(t, ctx, dst, keelctl, snap)
	checkMigrated(t, ctx, dst, src)
}

func TestMigrateKeelToEtcd(t *testing.T) {
	etcd := proccluster.EtcdBinary(t)
	etcdctl := proccluster.EtcdctlBinary(t)
	keeld := proccluster.BuildKeeld(t)
	ctx := poll.Context(t, 2*time.Minute)

	orig := proccluster.Start(t, proccluster.Config{Binary: keeld, Members: 3})
	src := writeMigrationSource(t, ctx, orig.Client(t))
	snap := saveWithEtcdctl(t, ctx, etcdctl, orig.Endpoint(0))

	dst := proccluster.Start(t, proccluster.Config{Binary: etcd, Members: 1})
	restoreInto(t, ctx, dst, etcdctl, snap)
	checkMigrated(t, ctx, dst, src)
}
