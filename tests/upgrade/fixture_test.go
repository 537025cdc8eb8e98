package upgrade_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// writeFixture runs a cluster of the keeld at bin (an earlier release), gives it history worth
// upgrading — versions, deletes, a compaction, leases with keys, raft snapshots with a
// truncated log behind them — and writes testdata/<fixtureName>.tar.gz with the members' data
// dirs and testdata/<fixtureName>.json with what they hold.
func writeFixture(t *testing.T, bin string) {
	dir := t.TempDir()
	c := &cluster{t: t, bin: bin, dir: dir}
	c.start()
	cli := c.client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		must(cli.Put(ctx, fmt.Sprintf("k%03d", i), fmt.Sprintf("v1-%d", i)))
	}
	for i := range 100 {
		must(cli.Put(ctx, fmt.Sprintf("k%03d", i), fmt.Sprintf("v2-%d", i)))
	}
	must(cli.Delete(ctx, "k150", clientv3.WithRange("k160")))
	resp, err := cli.Get(ctx, "k000")
	must(resp, err)
	must(cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()))
	for _, l := range []struct {
		ttl  int64
		keys []string
	}{{3600, []string{"leased/a", "leased/b"}}, {7200, []string{"leased/c"}}} {
		g, err := cli.Grant(ctx, l.ttl)
		must(g, err)
		for _, k := range l.keys {
			must(cli.Put(ctx, k, "x", clientv3.WithLease(g.ID)))
		}
	}
	for i := 200; i < 300; i++ {
		must(cli.Put(ctx, fmt.Sprintf("k%03d", i), fmt.Sprintf("v1-%d", i)))
	}
	// Every member has a raft snapshot (--snapshot-count 50), so its log starts after it.
	deadline := time.Now().Add(60 * time.Second)
	for i := range size {
		for {
			entries, _ := os.ReadDir(filepath.Join(dir, fmt.Sprintf("u%d", i), "member", "snap", "snapshots"))
			if slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return !strings.HasSuffix(e.Name(), ".tmp") }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("u%d took no raft snapshot", i)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	var want expectation
	all, err := cli.Get(ctx, "", clientv3.WithFromKey())
	must(all, err)
	want.Revision, want.CompactRevision = all.Header.Revision, resp.Header.Revision
	for _, x := range all.Kvs {
		want.KVs = append(want.KVs, kv{Key: string(x.Key), Value: string(x.Value), CreateRevision: x.CreateRevision,
			ModRevision: x.ModRevision, Version: x.Version, Lease: x.Lease})
	}
	ls, err := cli.Leases(ctx)
	must(ls, err)
	want.Leases = map[string]lease{}
	for _, l := range ls.Leases {
		ttl, err := cli.TimeToLive(ctx, l.ID, clientv3.WithAttachedKeys())
		must(ttl, err)
		var keys []string
		for _, k := range ttl.Keys {
			keys = append(keys, string(k))
		}
		slices.Sort(keys)
		want.Leases[fmt.Sprintf("%x", int64(l.ID))] = lease{TTL: ttl.GrantedTTL, Keys: keys}
	}
	c.stop()

	b, err := json.MarshalIndent(want, "", "  ")
	must(b, err)
	if err := os.WriteFile(filepath.Join("testdata", fixtureName+".json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	writeArchive(t, dir, filepath.Join("testdata", fixtureName+".tar.gz"))
	t.Logf("wrote testdata/%s.{tar.gz,json}: revision %d, %d keys, %d leases", fixtureName, want.Revision,
		len(want.KVs), len(want.Leases))
}

// writeArchive tars the members' data dirs (u0..u2, not the logs) under dir into archive.
func writeArchive(t *testing.T, dir, archive string) {
	t.Helper()
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for i := range size {
		root := filepath.Join(dir, fmt.Sprintf("u%d", i))
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			h, err := tar.FileInfoHeader(info, "")
			if err != nil {
				return err
			}
			h.Name = filepath.ToSlash(rel)
			h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname = time.Unix(0, 0), 0, 0, "", ""
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if d.Type().IsRegular() {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				_, err = tw.Write(b)
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
