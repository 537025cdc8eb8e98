package raftstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	keelpb "github.com/keeldb/keel/api/proto"
)

// openSingle opens a one-member cluster on raft's in-memory transport with cfg's lease
// settings and waits until it leads with its lessor promoted.
func openSingle(t *testing.T, cfg Config) *Node {
	t.Helper()
	const addr = "single:2380"
	_, tr := raft.NewInmemTransport(addr)
	cfg.Name, cfg.DataDir, cfg.NewCluster, cfg.Token = "m0", t.TempDir(), true, "single"
	cfg.InitialCluster = []Member{{Name: "m0", PeerURLs: []string{"http://" + addr}}}
	cfg.HeartbeatInterval, cfg.ElectionTimeout, cfg.Transport = 50*time.Millisecond, 500*time.Millisecond, tr
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	poll(t, 10*time.Second, func() error {
		if !n.IsLeader() || !n.lessor.Primary() {
			return fmt.Errorf("not a promoted leader yet")
		}
		return nil
	})
	return n
}

// poll calls f until it returns nil or d passes, then fails with f's last error.
func poll(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", d, err)
		}
		<-tick.C
	}
}

// leaseRecords returns the replicated lease records by ID.
func leaseRecords(t *testing.T, n *Node) map[int64]*keelpb.LeaseRecord {
	t.Helper()
	recs := map[int64]*keelpb.LeaseRecord{}
	err := n.store.ForEachAux(bucketLeases, func(_, v []byte) error {
		rec := new(keelpb.LeaseRecord)
		if err := proto.Unmarshal(v, rec); err != nil {
			return err
		}
		recs[rec.Id] = rec
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// The leader checkpoints every lease longer than the interval, many per entry, and clears the
// checkpoint of a lease renewed afterwards.
func TestLeaseCheckpointsAndClears(t *testing.T) {
	const leases = 2500 // three entries of leaseCheckpointBatch
	n := openSingle(t, Config{LeaseCheckpointInterval: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make(chan error, leases+1)
	var wg sync.WaitGroup
	for w := range int64(16) {
		wg.Go(func() {
			for id := w + 1; id <= leases+1; id += 16 {
				ttl := int64(60)
				if id == leases+1 {
					ttl = 1 // not above the interval: never checkpointed
				}
				if _, err := n.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: id, TTL: ttl}); err != nil {
					errs <- fmt.Errorf("grant %d: %w", id, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	granted := n.AppliedIndex()
	poll(t, 30*time.Second, func() error {
		for id, rec := range leaseRecords(t, n) {
			switch {
			case id == leases+1 && rec.RemainingTtl != 0:
				return fmt.Errorf("lease %d with TTL 1 checkpointed at %d", id, rec.RemainingTtl)
			case id != leases+1 && (rec.RemainingTtl <= 0 || rec.RemainingTtl >= rec.Ttl):
				return fmt.Errorf("lease %d: checkpoint %d of TTL %d", id, rec.RemainingTtl, rec.Ttl)
			}
		}
		return nil
	})
	// A pass proposes ~leases/leaseCheckpointBatch entries, not one per lease.
	if entries := n.AppliedIndex() - granted; entries >= leases/2 {
		t.Errorf("checkpointing %d leases took %d entries", leases, entries)
	}

	for id := int64(1); id <= 10; id++ {
		if ttl, err := n.LeaseRenew(ctx, id); err != nil || ttl != 60 {
			t.Fatalf("renew %d: %d, %v", id, ttl, err)
		}
	}
	poll(t, 10*time.Second, func() error {
		recs := leaseRecords(t, n)
		for id := int64(1); id <= 10; id++ {
			if r := recs[id].RemainingTtl; r != 0 {
				return fmt.Errorf("renewed lease %d still checkpointed at %d", id, r)
			}
		}
		return nil
	})
}
