package raftstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// readIndexRounds returns how many leadership confirmations the read indexer has run.
func readIndexRounds(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "keel_raft_read_index_batch_size" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// A batch of renewals on the leader costs one leadership confirmation, and answers each lease
// in order: its TTL, or 0 when it does not exist or has expired.
func TestLeaseRenewBatchConfirmsLeadershipOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := openSingle(t, Config{Registerer: reg})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ids []int64
	for id := int64(1); id <= 100; id++ {
		if _, err := n.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: id, TTL: 30}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	ids = append(ids, 999, 1)
	before := readIndexRounds(t, reg)
	ttls, err := n.LeaseRenewBatch(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if rounds := readIndexRounds(t, reg) - before; rounds != 1 {
		t.Errorf("%d leases renewed with %d read index rounds, want 1", len(ids), rounds)
	}
	want := slices.Repeat([]int64{30}, 100)
	want = append(want, 0, 30)
	if !slices.Equal(ttls, want) {
		t.Fatalf("TTLs %v, want %v", ttls, want)
	}
}
