// Package cluster_test runs multi-process keeld clusters: kill -9, SIGSTOP and restarts
// against real binaries on loopback, checked through the etcd client.
package cluster_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/proccluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

func startKeel(t *testing.T) *proccluster.Cluster {
	t.Helper()
	return proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t), Members: 3})
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func followers(t *testing.T, c *proccluster.Cluster) (leader int, fs []int) {
	t.Helper()
	leader, err := c.WaitLeader(timeout(t, 20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Size() {
		if i != leader {
			fs = append(fs, i)
		}
	}
	return leader, fs
}

// Writes sent to a follower succeed; a linearizable read on the other follower right after
// sees them; a member cut off from the others still answers serializable reads.
func TestFollowerWritesAndIsolatedSerializableReads(t *testing.T) {
	c := startKeel(t)
	leader, fs := followers(t, c)
	w, r := c.Client(t, fs[0]), c.Client(t, fs[1])
	ctx := timeout(t, 60*time.Second)
	for i := range 20 {
		if _, err := w.Put(ctx, fmt.Sprintf("f/%02d", i), fmt.Sprint(i)); err != nil {
			t.Fatalf("put via follower: %v", err)
		}
		get, err := r.Get(ctx, fmt.Sprintf("f/%02d", i))
		if err != nil || len(get.Kvs) != 1 || string(get.Kvs[0].Value) != fmt.Sprint(i) {
			t.Fatalf("linearizable get on the other follower: %v %v", get, err)
		}
	}
	// Cut fs[1] off: pause everyone else.
	c.Pause(leader)
	c.Pause(fs[0])
	t.Cleanup(func() { c.Resume(leader); c.Resume(fs[0]) })
	get, err := r.Get(ctx, "f/", clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil || len(get.Kvs) != 20 {
		t.Fatalf("serializable read on the cut-off member: %d keys, %v", len(get.Kvs), err)
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := r.Get(lctx, "f/00"); err == nil {
		t.Fatal("linearizable read on the cut-off member succeeded")
	}
}

// kill -9 of the leader during a write load: a new leader is elected, every acknowledged
// write survives the old leader's restart, and all members agree on HashKV.
func TestKillLeaderDuringWriteLoad(t *testing.T) {
	c := startKeel(t)
	cli := c.Client(t)
	ctx := timeout(t, 120*time.Second)
	oldLeader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked = map[string]string{}
		wg    sync.WaitGroup
	)
	load, stopLoad := context.WithCancel(ctx)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; load.Err() == nil; i++ {
				k, v := fmt.Sprintf("load/%d/%06d", w, i), fmt.Sprint(i)
				pctx, cancel := context.WithTimeout(load, 5*time.Second)
				_, err := cli.Put(pctx, k, v)
				cancel()
				if err == nil {
					mu.Lock()
					acked[k] = v
					mu.Unlock()
				}
			}
		}()
	}
	countAcked := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitAcked := func(n int) {
		deadline := time.Now().Add(30 * time.Second)
		for countAcked() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d writes acknowledged, want %d", countAcked(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitAcked(200)
	c.Kill(oldLeader)
	newLeader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatalf("no new leader after kill -9: %v", err)
	}
	if newLeader == oldLeader {
		t.Fatalf("killed member %d is still reported leader", oldLeader)
	}
	waitAcked(countAcked() + 200)
	c.Restart(oldLeader)
	if err := c.WaitMember(ctx, oldLeader); err != nil {
		t.Fatal(err)
	}
	waitAcked(countAcked() + 100)
	stopLoad()
	wg.Wait()
	t.Logf("acknowledged writes: %d", len(acked))

	// One linearizable read pins the final revision; every member must reach it.
	final, err := cli.Get(ctx, "load/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	rev := final.Header.Revision
	var hashes []uint32
	for i := range c.Size() {
		mc := c.Client(t, i)
		var get *clientv3.GetResponse
		deadline := time.Now().Add(30 * time.Second)
		for {
			get, err = mc.Get(ctx, "load/", clientv3.WithPrefix(), clientv3.WithSerializable())
			if err == nil && get.Header.Revision >= rev {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %d did not reach revision %d: %v %v", i, rev, get, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		have := map[string]string{}
		for _, kv := range get.Kvs {
			have[string(kv.Key)] = string(kv.Value)
		}
		for k, v := range acked {
			if have[k] != v {
				t.Fatalf("member %d lost acknowledged write %s=%s (has %q)", i, k, v, have[k])
			}
		}
		h, err := mc.HashKV(ctx, c.Endpoint(i), rev)
		if err != nil {
			t.Fatalf("hashkv on member %d: %v", i, err)
		}
		hashes = append(hashes, h.Hash)
	}
	for i := 1; i < len(hashes); i++ {
		if hashes[i] != hashes[0] {
			t.Fatalf("HashKV at revision %d differs: %v", rev, hashes)
		}
	}
}
