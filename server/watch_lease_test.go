package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
)

func TestWatchReplayPrevKVAndCompaction(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client(0) // one member: it applies the compaction before acknowledging it
	ctx := ctxT(t)
	first, err := cli.Put(ctx, "w/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 5; i++ {
		if _, err := cli.Put(ctx, "w/a", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Delete(ctx, "w/a"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wc := c.Client(c.Follower()).Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(first.Header.Revision), clientv3.WithPrevKV())
	var evs []*clientv3.Event
	for len(evs) < 6 {
		resp, ok := <-wc
		if !ok || resp.Err() != nil {
			t.Fatalf("watch ended: %v", resp.Err())
		}
		evs = append(evs, resp.Events...)
	}
	for i, e := range evs {
		if e.Kv.ModRevision != first.Header.Revision+int64(i) {
			t.Fatalf("event %d at revision %d", i, e.Kv.ModRevision)
		}
		if i > 0 && (e.PrevKv == nil || string(e.PrevKv.Value) != fmt.Sprint(i)) {
			t.Fatalf("event %d prev_kv %v", i, e.PrevKv)
		}
	}
	if evs[5].Type != mvccpb.DELETE {
		t.Fatalf("last event %v, want DELETE", evs[5].Type)
	}
	if _, err := cli.Compact(ctx, first.Header.Revision+3); err != nil {
		t.Fatal(err)
	}
	old := cli.Watch(ctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(first.Header.Revision))
	resp := <-old
	if resp.Err() != rpctypes.ErrCompacted || resp.CompactRevision != first.Header.Revision+3 {
		t.Fatalf("watch below compaction: err %v compact %d", resp.Err(), resp.CompactRevision)
	}
}

func TestLeaseLifecycle(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client(c.Follower())
	ctx := ctxT(t)
	g, err := cli.Grant(ctx, 1) // raised to the minimum TTL
	if err != nil {
		t.Fatal(err)
	}
	if g.TTL < 1 || g.ID <= 0 {
		t.Fatalf("grant: %+v", g)
	}
	if _, err := cli.Put(ctx, "l/a", "x", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	ka, err := cli.KeepAliveOnce(ctx, g.ID)
	if err != nil || ka.TTL != g.TTL {
		t.Fatalf("keepalive once: %+v %v", ka, err)
	}
	ttl, err := cli.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys())
	if err != nil || ttl.TTL <= 0 || ttl.GrantedTTL != g.TTL || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != "l/a" {
		t.Fatalf("time to live: %+v %v", ttl, err)
	}
	ls, err := cli.Leases(ctx)
	if err != nil || len(ls.Leases) != 1 {
		t.Fatalf("leases: %+v %v", ls, err)
	}
	wc := cli.Watch(ctx, "l/", clientv3.WithPrefix())
	// Not kept alive: the key disappears through a DELETE event.
	deadline := time.After(time.Duration(g.TTL+10) * time.Second)
	for gone := false; !gone; {
		select {
		case resp := <-wc:
			for _, e := range resp.Events {
				gone = gone || e.Type == mvccpb.DELETE
			}
		case <-deadline:
			t.Fatal("leased key was not deleted after its TTL")
		}
	}
	if ttl, err := cli.TimeToLive(ctx, g.ID); err != nil || ttl.TTL != -1 {
		t.Fatalf("time to live of an expired lease: %+v %v", ttl, err)
	}
	if _, err := cli.Revoke(ctx, g.ID); err != rpctypes.ErrLeaseNotFound {
		t.Fatalf("revoke of an expired lease: %v", err)
	}
	if _, err := cli.Put(ctx, "l/b", "x", clientv3.WithLease(g.ID)); err != rpctypes.ErrLeaseNotFound {
		t.Fatalf("put with an expired lease: %v", err)
	}
}
