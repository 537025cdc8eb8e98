package snapshot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

// source is what was written to the original cluster.
type source struct {
	kvs       map[string]string
	rev       int64
	hash      uint32 // HashKV at rev
	compact   int64
	clusterID uint64
	lease     clientv3.LeaseID
	leased    string // the key attached to lease
}

// writeSource writes keys (with overwrites, deletes, a compaction and a leased key) to c.
func writeSource(t *testing.T, ctx context.Context, c *proccluster.Cluster) source {
	t.Helper()
	cli := c.Client(t)
	s := source{kvs: map[string]string{}}
	for i := range 200 {
		k, v := fmt.Sprintf("key/%03d", i%120), fmt.Sprintf("value-%d", i)
		if _, err := cli.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
		s.kvs[k] = v
	}
	for i := range 10 {
		k := fmt.Sprintf("key/%03d", i*7)
		if _, err := cli.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		delete(s.kvs, k)
	}
	mid, err := cli.Get(ctx, "key/000")
	if err != nil {
		t.Fatal(err)
	}
	s.compact = mid.Header.Revision - 50
	if _, err := cli.Compact(ctx, s.compact, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	grant, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	s.lease, s.leased = grant.ID, "leased/key"
	resp, err := cli.Put(ctx, s.leased, "attached", clientv3.WithLease(grant.ID))
	if err != nil {
		t.Fatal(err)
	}
	s.kvs[s.leased] = "attached"
	s.rev, s.clusterID = resp.Header.Revision, resp.Header.ClusterId
	// HashKV is served from each member's applied state: wait until all agree.
	eventually(t, ctx, "source members agree on HashKV", func(ctx context.Context) error {
		for i, ep := range c.Endpoints() {
			hk, err := cli.HashKV(ctx, ep, s.rev)
			if err != nil {
				return err
			}
			if i > 0 && hk.Hash != s.hash {
				return fmt.Errorf("hash %d on %s, %d on the first member", hk.Hash, ep, s.hash)
			}
			s.hash = hk.Hash
		}
		return nil
	})
	return s
}

// restoreInto stops every member of c, replaces its data dir with one restored from snap by
// keelctl (with the member's own --name, --initial-cluster, token and peer URL) and starts
// it again.
func restoreInto(t *testing.T, ctx context.Context, c *proccluster.Cluster, tool, snap string) {
	t.Helper()
	for i := range c.Size() {
		c.Stop(i)
	}
	for i := range c.Size() {
		args := c.Args(i)
		if err := os.RemoveAll(c.DataDir(i)); err != nil {
			t.Fatal(err)
		}
		runTool(t, ctx, cleanEnv(), tool, "snapshot", "restore", snap,
			"--name", flagValue(args, "--name"),
			"--data-dir", c.DataDir(i),
			"--initial-cluster", flagValue(args, "--initial-cluster"),
			"--initial-cluster-token", flagValue(args, "--initial-cluster-token"),
			"--initial-advertise-peer-urls", flagValue(args, "--initial-advertise-peer-urls"))
	}
	for i := range c.Size() {
		c.Restart(i)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("restored cluster: %v", err)
	}
}

func TestSnapshotSaveWithEtcdctlRestoreWithKeelctl(t *testing.T) {
	etcdctl := proccluster.EtcdctlBinary(t)
	keelctl := buildKeelctl(t)
	keeld := proccluster.BuildKeeld(t)
	ctx := poll.Context(t, 4*time.Minute)

	orig := proccluster.Start(t, proccluster.Config{Binary: keeld, Members: 3})
	src := writeSource(t, ctx, orig)
	snap := filepath.Join(t.TempDir(), "snapshot.db")
	out := runTool(t, ctx, cleanEnv("ETCDCTL_API=3"), etcdctl, "--endpoints="+orig.Endpoint(1), "snapshot", "save", snap)
	if !strings.Contains(out, "Snapshot saved at") {
		t.Fatalf("etcdctl snapshot save: %s", out)
	}
	var status struct {
		Hash     uint32 `json:"hash"`
		Revision int64  `json:"revision"`
		TotalKey int    `json:"totalKey"`
	}
	if err := json.Unmarshal([]byte(runTool(t, ctx, cleanEnv(), keelctl, "snapshot", "status", snap, "-w", "json")), &status); err != nil {
		t.Fatal(err)
	}
	if status.Revision != src.rev || status.Hash != src.hash || status.TotalKey != len(src.kvs) {
		t.Fatalf("keelctl snapshot status = %+v; want revision %d, hash %d, %d keys", status, src.rev, src.hash, len(src.kvs))
	}

	// The new cluster: its own ports, token and member IDs; started once so that proccluster
	// knows its flags, then restarted on the restored data dirs.
	dst := proccluster.Start(t, proccluster.Config{Binary: keeld, Members: 3})
	restoreInto(t, ctx, dst, keelctl, snap)

	for i := range dst.Size() {
		cli := dst.Client(t, i)
		resp, err := cli.Get(ctx, "", clientv3.WithFromKey())
		if err != nil {
			t.Fatalf("m%d: get: %v", i, err)
		}
		got := map[string]string{}
		for _, kv := range resp.Kvs {
			got[string(kv.Key)] = string(kv.Value)
		}
		if !maps.Equal(got, src.kvs) {
			t.Errorf("m%d: %d keys after restore, want %d; missing or different: %v", i, len(got), len(src.kvs),
				diff(got, src.kvs))
		}
		if resp.Header.Revision != src.rev {
			t.Errorf("m%d: revision %d after restore, want %d", i, resp.Header.Revision, src.rev)
		}
		if resp.Header.ClusterId == src.clusterID || resp.Header.ClusterId == 0 {
			t.Errorf("m%d: cluster ID %x after restore, want a new one (old %x)", i, resp.Header.ClusterId, src.clusterID)
		}
		if _, err := cli.Get(ctx, "key/001", clientv3.WithRev(src.compact-1)); err == nil {
			t.Errorf("m%d: read below the restored compaction revision %d succeeded", i, src.compact)
		}
		ttl, err := cli.TimeToLive(ctx, src.lease, clientv3.WithAttachedKeys())
		if err != nil || ttl.TTL <= 0 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != src.leased {
			t.Errorf("m%d: lease after restore = %+v, %v; want it alive with %s", i, ttl, err, src.leased)
		}
		if al, err := cli.AlarmList(ctx); err != nil || len(al.Alarms) != 0 {
			t.Errorf("m%d: alarms after restore = %v, %v", i, al, err)
		}
	}
	cli := dst.Client(t)
	eventually(t, ctx, "restored members publish their names and client URLs", func(ctx context.Context) error {
		ml, err := cli.MemberList(ctx)
		if err != nil {
			return err
		}
		var names []string
		for _, m := range ml.Members {
			if len(m.ClientURLs) == 0 {
				return fmt.Errorf("member %x has no client URLs yet", m.ID)
			}
			names = append(names, m.Name)
		}
		slices.Sort(names)
		if strings.Join(names, ",") != "m0,m1,m2" {
			return fmt.Errorf("members %v", names)
		}
		return nil
	})
	checkHashes(t, ctx, dst, cli, src.rev, src.hash)

	resp, err := cli.Put(ctx, "after/restore", "x")
	if err != nil {
		t.Fatalf("put after restore: %v", err)
	}
	if resp.Header.Revision != src.rev+1 {
		t.Errorf("first write after restore at revision %d, want %d", resp.Header.Revision, src.rev+1)
	}
	checkHashes(t, ctx, dst, cli, resp.Header.Revision, 0)
}

// checkHashes waits until every member's HashKV at rev agrees (and equals want unless 0).
func checkHashes(t *testing.T, ctx context.Context, c *proccluster.Cluster, cli *clientv3.Client, rev int64, want uint32) {
	t.Helper()
	eventually(t, ctx, fmt.Sprintf("HashKV at %d agrees across members", rev), func(ctx context.Context) error {
		var hashes []uint32
		for _, ep := range c.Endpoints() {
			hk, err := cli.HashKV(ctx, ep, rev)
			if err != nil {
				return err
			}
			hashes = append(hashes, hk.Hash)
		}
		for _, h := range hashes {
			if h != hashes[0] || (want != 0 && h != want) {
				return fmt.Errorf("hashes %v, want all equal to %d", hashes, want)
			}
		}
		return nil
	})
}

// diff lists up to ten keys whose values differ between got and want.
func diff(got, want map[string]string) []string {
	var out []string
	for k, v := range want {
		if got[k] != v {
			out = append(out, fmt.Sprintf("%s: got %q want %q", k, got[k], v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, k+": unexpected")
		}
	}
	slices.Sort(out)
	return out[:min(len(out), 10)]
}
