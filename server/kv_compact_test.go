package server_test

import (
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
)

// TestPhysicalCompactionWaitsForTheAnsweringMember compacts through a follower: a physical
// compaction answers once that member's store has committed every removal; a non-physical
// one is then finished on every member in the background.
func TestPhysicalCompactionWaitsForTheAnsweringMember(t *testing.T) {
	c := testcluster.Start(t, 3)
	f := c.Follower()
	cli := c.Client(f)
	ctx := ctxT(t)
	var last int64
	for i := range 60 {
		resp, err := cli.Put(ctx, fmt.Sprintf("c/%02d", i%10), fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		last = resp.Header.Revision
	}

	rev := last - 20
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if got := c.Members[f].Node.Store().FinishedCompactRev(); got < rev {
		t.Fatalf("physical compaction answered with the member's finished compaction at %d, want >= %d", got, rev)
	}
	if _, err := cli.Get(ctx, "c/00", clientv3.WithRev(rev-1)); err == nil {
		t.Fatal("read below the compaction succeeded")
	}
	// 60 versions of 10 keys compacted at rev-20: at least 30 removed.
	removed, removedWant := atLeast(30)
	one, oneWant := exactly(1)
	some, someWant := atLeast(1)
	waitMetrics(t, c.Members[f].Endpoint, []metricCheck{
		check("etcd_debugging_mvcc_db_compaction_keys_total", removed, removedWant),
		check("etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_count", one, oneWant),
		check("etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds_count", some, someWant),
		check("etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds_count", some, someWant),
	})

	if _, err := cli.Compact(ctx, last); err != nil {
		t.Fatal(err)
	}
	for i, m := range c.Members {
		if err := m.Node.Store().WaitCompacted(ctx, last); err != nil {
			t.Fatalf("member %d: compaction finished at %d, want %d: %v", i, m.Node.Store().FinishedCompactRev(), last, err)
		}
	}
}
