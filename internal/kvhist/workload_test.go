package kvhist_test

import (
	"context"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/kvhist"
	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/internal/watchcheck"
)

// The workload against a healthy in-process cluster, checked as the chaos tests check it:
// every kind of operation happens, the history is linearizable, and the MVCC history holds
// exactly the acknowledged writes (and perhaps unknown ones) and a probe's own operations.
func TestWorkload(t *testing.T) {
	const (
		prefix  = "wl/"
		clients = 3
		writes  = 150
	)
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed=%d)", seed, seed)
	c := testcluster.Start(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	rec := kvhist.NewRecorder()
	clis := make([]*clientv3.Client, clients)
	for i := range clis {
		clis[i] = c.Client(i)
	}
	w := kvhist.StartWorkload(rec, clis, kvhist.WorkloadConfig{Prefix: prefix, Seed: seed})
	t.Cleanup(w.Stop)
	for rec.AckedWrites() < writes {
		select {
		case <-ctx.Done():
			t.Fatalf("the workload acknowledged %d writes, want %d: %v", rec.AckedWrites(), writes, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}

	// A probe records its own operations under a client ID after the workload's.
	probe := c.Client()
	if _, _, err := kvhist.Do(ctx, probe, clients, kvhist.Input{Kind: kvhist.Put, Key: prefix + "probe", Value: "probe-1"}, rec); err != nil {
		t.Fatalf("probe put: %v", err)
	}
	if out, _, err := kvhist.Do(ctx, probe, clients, kvhist.Input{Kind: kvhist.Get, Key: prefix + "probe"}, rec); err != nil || out.Value != "probe-1" {
		t.Fatalf("probe get: got %q, %v, want %q", out.Value, err, "probe-1")
	}
	if _, _, err := kvhist.Do(ctx, probe, clients, kvhist.Input{Kind: kvhist.Kind(9), Key: prefix + "probe"}, rec); err == nil {
		t.Error("an operation of no known kind was performed")
	}
	w.Stop()

	marker, err := probe.Put(ctx, prefix+"final", "final")
	if err != nil {
		t.Fatal(err)
	}
	hist, err := watchcheck.ReadHistory(ctx, probe, prefix, 1, marker.Header.Revision)
	if err != nil {
		t.Fatal(err)
	}
	h := rec.Snapshot()
	kinds := map[kvhist.Kind]int{}
	for _, op := range h.Ops {
		kinds[op.Input.(kvhist.Input).Kind]++
	}
	t.Logf("%d operations (%d puts, %d gets, %d cas; %d unknown, %d failed reads), %d revisions",
		len(h.Ops), kinds[kvhist.Put], kinds[kvhist.Get], kinds[kvhist.CAS], h.Unknown, h.FailedReads, len(hist))
	if kinds[kvhist.Put] == 0 || kinds[kvhist.Get] == 0 || kinds[kvhist.CAS] == 0 {
		t.Errorf("got %v operations by kind, want every kind", kinds)
	}
	if res, _ := kvhist.CheckLinearizable(h.Ops, time.Minute, ""); res != porcupine.Ok {
		t.Errorf("linearizable: got %v, want %v", res, porcupine.Ok)
	}
	lost, extra := kvhist.CheckWrites(hist, h.Writes, map[string]bool{"final": true})
	for _, l := range lost {
		t.Errorf("lost: %s", l)
	}
	for _, e := range extra {
		t.Errorf("extra: %s", e)
	}
	for _, v := range h.Violations {
		t.Errorf("violation: %s", v)
	}
}
