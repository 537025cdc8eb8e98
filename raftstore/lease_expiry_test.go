package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/keeldb/keel/apply"
	"github.com/keeldb/keel/raftstore"
)

// deletionLog records, per member, every DELETE event the member's FSM applies: when, and at
// which revision. Subscribe delivers events on the apply goroutine, so the time is when the
// member applied the deletion.
type deletionLog struct {
	mu sync.Mutex
	// guarded by mu: member → key → deletions
	byMember []map[string][]deletion
}

type deletion struct {
	at  time.Time
	rev int64
}

func (d *deletionLog) subscribe(nodes []*raftstore.Node) {
	d.byMember = make([]map[string][]deletion, len(nodes))
	for i, n := range nodes {
		d.byMember[i] = map[string][]deletion{}
		n.Subscribe(func(rev int64, evs []mvccpb.Event) {
			now := time.Now()
			d.mu.Lock()
			defer d.mu.Unlock()
			for j := range evs {
				if e := &evs[j]; e.Type == mvccpb.DELETE {
					k := string(e.Kv.Key)
					d.byMember[i][k] = append(d.byMember[i][k], deletion{at: now, rev: rev})
				}
			}
		}, func(int64) {})
	}
}

// expiringLease is one lease of TestExpiredLeasesAreRevokedOnceAndNeverEarly.
type expiringLease struct {
	id  int64
	key string
	put bool // the key was written under the lease
	// unsure: the put failed with ErrLeaderChanged, so it may have been applied or not (the
	// CPU of a shared machine can cost the in-process cluster its leader).
	unsure bool
	// notBefore is the earliest time the lease may be revoked: when its grant or its last
	// successful keepalive was sent, plus its TTL.
	notBefore time.Time
}

// Many leases left to expire together are all revoked, each exactly once (one DELETE of its
// key on every member), and never before their TTL has run from the last grant or keepalive
// sent for them. The lower bound is a correctness check with no slack: the leader starts a
// deadline when it applies the grant (or confirms the keepalive), after the request was sent,
// and every member applies the revoke after the leader decided it.
func TestExpiredLeasesAreRevokedOnceAndNeverEarly(t *testing.T) {
	const (
		leases  = 2000
		ttl     = 2 // seconds; the minimum here is ceil(1.5 × 500 ms) = 1
		workers = 32
	)
	c := newCluster(t, 3)
	var dels deletionLog
	dels.subscribe(c.nodes)
	leader := c.nodes[c.leader(t)]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	all := make([]*expiringLease, leases)
	var (
		errMu sync.Mutex
		errs  []error
	)
	fail := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		errs = append(errs, err)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < leases; i += workers {
				lc := &expiringLease{key: fmt.Sprintf("exp/%04d", i)}
				all[i] = lc
				sent := time.Now()
				g, err := leader.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: ttl})
				for errors.Is(err, raftstore.ErrLeaderChanged) && ctx.Err() == nil {
					// A lease granted all the same has no key and expires like the others.
					sent = time.Now()
					g, err = leader.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: ttl})
				}
				if err != nil {
					fail(fmt.Errorf("grant %d: %w", i, err))
					continue
				}
				lc.id, lc.notBefore = g.ID, sent.Add(ttl*time.Second)
				_, err = leader.Put(ctx, &pb.PutRequest{Key: []byte(lc.key), Value: []byte("v"), Lease: g.ID})
				switch {
				case errors.Is(err, apply.ErrLeaseNotFound) && time.Now().Before(lc.notBefore):
					fail(fmt.Errorf("put %s: lease %x gone before its TTL", lc.key, g.ID))
				case errors.Is(err, apply.ErrLeaseNotFound):
					// A slow put: the lease expired first, as it may.
				case errors.Is(err, raftstore.ErrLeaderChanged):
					lc.unsure = true
				case err != nil:
					fail(fmt.Errorf("put %s: %w", lc.key, err))
				default:
					lc.put = true
				}
			}
		})
	}
	wg.Wait()
	// One keepalive for every tenth lease moves its lower bound.
	for i := 0; i < leases; i += 10 {
		lc := all[i]
		if lc.id == 0 {
			continue
		}
		sent := time.Now()
		got, err := leader.LeaseRenew(ctx, lc.id)
		switch {
		case errors.Is(err, raftstore.ErrLeaderChanged):
			// Renewed or not, the lease lives at least until its bound so far.
		case err != nil:
			fail(fmt.Errorf("keepalive of lease %x: %w", lc.id, err))
		case got == 0 && time.Now().Before(lc.notBefore):
			fail(fmt.Errorf("keepalive of lease %x: expired before its TTL", lc.id))
		case got > 0:
			lc.notBefore = sent.Add(time.Duration(got) * time.Second)
		}
	}
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}

	eventually(t, time.Minute, func() error {
		for i, n := range c.nodes {
			if left := n.Lessor().Len(); left != 0 {
				return fmt.Errorf("member %d still has %d leases", i, left)
			}
			view := n.Store().Read()
			r, err := apply.Range(view, &pb.RangeRequest{Key: []byte("exp/"), RangeEnd: []byte("exp0"), CountOnly: true})
			view.End()
			if err != nil {
				return err
			}
			if r.Count != 0 {
				return fmt.Errorf("member %d still has %d leased keys", i, r.Count)
			}
		}
		return nil
	})

	dels.mu.Lock()
	defer dels.mu.Unlock()
	for m, byKey := range dels.byMember {
		revs := map[int64]int{}
		for _, lc := range all {
			d := byKey[lc.key]
			switch {
			case lc.unsure && len(d) > 1:
				t.Errorf("member %d: key %s of lease %x deleted %d times, want at most once", m, lc.key, lc.id, len(d))
			case lc.unsure && len(d) == 1 && d[0].at.Before(lc.notBefore):
				t.Errorf("member %d: lease %x revoked %v before its TTL ran out", m, lc.id, lc.notBefore.Sub(d[0].at))
			case lc.unsure:
			case !lc.put && len(d) != 0:
				t.Errorf("member %d: key %s was never written but deleted %d times", m, lc.key, len(d))
			case lc.put && len(d) != 1:
				t.Errorf("member %d: key %s of lease %x deleted %d times, want once", m, lc.key, lc.id, len(d))
			case lc.put && d[0].at.Before(lc.notBefore):
				t.Errorf("member %d: lease %x revoked %v before its TTL ran out", m, lc.id, lc.notBefore.Sub(d[0].at))
			case lc.put:
				revs[d[0].rev]++
			}
		}
		t.Logf("member %d: %d leased keys deleted in %d revisions", m, sum(revs), len(revs))
	}
	f := c.follower(t)
	for _, lc := range all[:10] {
		if remaining, _, err := c.nodes[f].LeaseTimeToLive(ctx, lc.id); err != nil || remaining != -1 {
			t.Errorf("TimeToLive of revoked lease %x: %d, %v; want -1", lc.id, remaining, err)
		}
	}
}

func sum(m map[int64]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}

// LeaseRenewBatch through a follower forwards the renewals to the leader and answers each in
// order, as on the leader.
func TestLeaseRenewBatchThroughAFollower(t *testing.T) {
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := c.nodes[c.follower(t)]
	var ids, want []int64
	for i := range 100 {
		g, err := f.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: int64(10 + i%3)})
		if err != nil {
			t.Fatal(err)
		}
		ids, want = append(ids, g.ID), append(want, g.TTL)
	}
	ids, want = append(ids, 0x7777), append(want, 0)
	got, err := f.LeaseRenewBatch(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("TTLs %v, want %v", got, want)
	}
}
