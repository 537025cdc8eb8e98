package raftstore

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	keelpb "github.com/keeldb/keel/api/proto"
	"github.com/keeldb/keel/internal/failpoint"
	"github.com/keeldb/keel/lease"
	"github.com/keeldb/keel/mvcc"
)

var bucketLeases = []byte("leases")

// rangeAll reads every live key at the current revision.
var rangeAll = mvcc.RangeOptions{}

// Lease errors (lease.ErrNotFound, lease.ErrExists and lease.ErrTTLTooLarge are returned too).
var errLeaseNotPrimary = lease.ErrNotPrimary

// minLeaseTTL is etcd's minimum TTL: ceil(1.5 × election timeout) in seconds.
func (n *Node) minLeaseTTL() int64 {
	return int64(math.Ceil(1.5 * n.cfg.ElectionTimeout.Seconds()))
}

// Lessor returns the member's lessor (read it; the FSM and the leader loops change it).
func (n *Node) Lessor() *lease.Lessor { return n.lessor }

var leaseSeq atomic.Uint64

// newLeaseID returns a positive ID unlikely to collide across members: the member ID's low
// bits, the time and a sequence. A collision is caught by the FSM (ErrExists) and retried.
func (n *Node) newLeaseID() int64 {
	v := (n.id&0xffff)<<47 ^ uint64(time.Now().UnixNano())<<8 ^ leaseSeq.Add(1)
	id := int64(v & math.MaxInt64)
	if id == 0 {
		id = 1
	}
	return id
}

// LeaseGrant proposes a new lease. A zero ID is chosen here; the TTL is raised to the minimum.
func (n *Node) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	req := &pb.LeaseGrantRequest{ID: r.ID, TTL: max(r.TTL, n.minLeaseTTL())}
	if req.TTL > lease.MaxTTL {
		return nil, lease.ErrTTLTooLarge
	}
	for attempt := 0; ; attempt++ {
		if r.ID == 0 {
			req.ID = n.newLeaseID()
		}
		resp, err := proposeAs(ctx, n, &keelpb.Command{Cmd: &keelpb.Command_LeaseGrant{LeaseGrant: mustMarshal(req)}},
			new(pb.LeaseGrantResponse))
		if errors.Is(err, lease.ErrExists) && r.ID == 0 && attempt < 5 {
			continue
		}
		return resp, err
	}
}

// LeaseRevoke proposes the revocation of a lease and the deletion of its keys.
func (n *Node) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	return proposeAs(ctx, n, &keelpb.Command{Cmd: &keelpb.Command_LeaseRevoke{LeaseRevoke: mustMarshal(r)}},
		new(pb.LeaseRevokeResponse))
}

// LeaseRenew renews lease id on the leader (forwarding if needed) and returns its TTL, or 0
// if the lease does not exist. The leader confirms its leadership first, so a deposed or
// paused leader never acknowledges a keepalive.
func (n *Node) LeaseRenew(ctx context.Context, id int64) (int64, error) {
	for {
		if n.IsLeader() {
			ttl, err := n.renewLocal(ctx, id)
			if errors.Is(err, ErrNotLeader) || errors.Is(err, errLeaseNotPrimary) {
				if err := n.waitChange(ctx, nil); err != nil {
					return 0, err
				}
				continue
			}
			return ttl, err
		}
		addr, _, err := n.waitLeader(ctx)
		if err != nil {
			return 0, err
		}
		if addr == n.trans.LocalAddr() {
			if err := n.waitChange(ctx, nil); err != nil {
				return 0, err
			}
			continue
		}
		ttl, err := n.peers.leaseRenew(ctx, string(addr), id)
		if errors.Is(err, ErrNotLeader) || errors.Is(err, errUnreachable) || errors.Is(err, errLeaseNotPrimary) {
			if err := n.waitChange(ctx, nil); err != nil {
				return 0, err
			}
			continue
		}
		return ttl, err
	}
}

// LeaseRenewBatch renews several leases as LeaseRenew does, in order, and returns their TTLs
// (0 for a lease that does not exist). On the leader one leadership confirmation covers them
// all: a keepalive stream hands over every request that queued while its previous batch was
// in flight, so one stream's keepalives (clientv3 sends all of a client's leases on one)
// share a read index round instead of each waiting for its own. Elsewhere each renewal finds
// the leader on its own, concurrently, and the leader confirms them in shared rounds.
func (n *Node) LeaseRenewBatch(ctx context.Context, ids []int64) ([]int64, error) {
	if n.IsLeader() {
		ttls, err := n.renewLocalBatch(ctx, ids)
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, errLeaseNotPrimary) {
			return ttls, err
		}
	}
	return n.renewEach(ctx, ids)
}

// maxRenewForwards bounds the renewals one LeaseRenewBatch forwards to the leader at once.
const maxRenewForwards = 64

// renewEach renews every lease with LeaseRenew, at most maxRenewForwards at a time, and
// returns when all are done.
func (n *Node) renewEach(ctx context.Context, ids []int64) ([]int64, error) {
	ttls := make([]int64, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, maxRenewForwards)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ttls[i], errs[i] = n.LeaseRenew(ctx, id)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ttls, nil
}

// renewLocal renews one lease as the leader; see renewLocalBatch.
func (n *Node) renewLocal(ctx context.Context, id int64) (int64, error) {
	ttls, err := n.renewLocalBatch(ctx, []int64{id})
	if err != nil {
		return 0, err
	}
	return ttls[0], nil
}

// renewLocalBatch renews leases as the leader. Leadership is confirmed first, by a read index
// round that starts after the requests arrived, so a deposed or paused leader never
// acknowledges a keepalive; a lease that does not exist, or is past its deadline, gets TTL 0.
// A renewed lease that carries a checkpoint must not come back on a new leader with its old,
// shorter time: the lessor records the clear it owes, and runLeaseCheckpoints proposes it.
func (n *Node) renewLocalBatch(ctx context.Context, ids []int64) ([]int64, error) {
	if _, err := n.localReadIndex(ctx); err != nil {
		return nil, err
	}
	ttls := make([]int64, len(ids))
	for i, id := range ids {
		ttl, _, err := n.lessor.Renew(id)
		switch {
		case errors.Is(err, lease.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			ttls[i] = ttl
		}
	}
	return ttls, nil
}

// LeaseTimeToLive returns a lease's granted and remaining TTL (remaining -1 when it does not
// exist), as the leader, which alone tracks deadlines, sees them.
func (n *Node) LeaseTimeToLive(ctx context.Context, id int64) (remaining, granted int64, err error) {
	for {
		if n.IsLeader() {
			if _, err := n.localReadIndex(ctx); err != nil {
				if errors.Is(err, ErrNotLeader) {
					continue
				}
				return 0, 0, err
			}
			info, err := n.lessor.Lookup(id)
			if errors.Is(err, lease.ErrNotFound) {
				return -1, 0, nil
			}
			return info.Remaining, info.TTL, err
		}
		addr, _, err := n.waitLeader(ctx)
		if err != nil {
			return 0, 0, err
		}
		if addr == n.trans.LocalAddr() {
			if err := n.waitChange(ctx, nil); err != nil {
				return 0, 0, err
			}
			continue
		}
		remaining, granted, err = n.peers.leaseTimeToLive(ctx, string(addr), id)
		if errors.Is(err, ErrNotLeader) || errors.Is(err, errUnreachable) {
			if err := n.waitChange(ctx, nil); err != nil {
				return 0, 0, err
			}
			continue
		}
		return remaining, granted, err
	}
}

// applyLeaseGrant applies a grant decided by the proposer.
func (n *Node) applyLeaseGrant(index uint64, r *pb.LeaseGrantRequest) *applyResult {
	w := n.store.Write(index)
	defer w.End()
	if err := n.lessor.Grant(r.ID, r.TTL); err != nil {
		return &applyResult{err: err}
	}
	w.SetAux(bucketLeases, beAppend(nil, uint64(r.ID)), mustMarshal(&keelpb.LeaseRecord{Id: r.ID, Ttl: r.TTL}))
	return &applyResult{resp: &pb.LeaseGrantResponse{ID: r.ID, TTL: r.TTL, Header: &pb.ResponseHeader{Revision: n.store.Rev()}}}
}

// applyLeaseRevoke deletes a lease's keys in one revision and forgets the lease.
func (n *Node) applyLeaseRevoke(index uint64, r *pb.LeaseRevokeRequest) *applyResult {
	failpoint.Inject(failpoint.BeforeLeaseRevoke)
	keys, err := n.lessor.Revoke(r.ID)
	if err != nil {
		n.store.Write(index).End()
		return &applyResult{err: err}
	}
	w := n.store.Write(index)
	for _, k := range keys {
		w.DeleteRange([]byte(k), nil)
	}
	w.DeleteAux(bucketLeases, beAppend(nil, uint64(r.ID)))
	n.publish(w.End())
	failpoint.Inject(failpoint.AfterLeaseRevoke)
	return &applyResult{resp: &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: n.store.Rev()}}}
}

// applyLeaseRevokes applies a batch of expiry revokes (LeaseRevokes): it revokes each listed
// lease that still exists, in the order given, and deletes its keys (sorted) and its record.
//
// Everything happens in this entry's one mvcc write transaction, so every deletion of the
// batch shares one revision: watchers get them in one response, like the deletions of a
// txn, and lease TimeToLive answers -1 for all of them from that revision on. One write
// transaction per raft entry is what keeps a restart safe: mvcc stores the applied raft index
// with the data of the transaction that carries it, and entries at or below the stored index
// are skipped after a restart. With a transaction per lease, a backend commit could fall
// between two of them; after a crash the entry would count as applied with only its first
// leases revoked, while the other members revoked them all.
//
// Leases already gone (revoked by a client, or by an earlier batch of a leader that retried)
// are skipped: the outcome depends only on replicated state, so every member skips the same
// ones. The entry carries no time and the FSM reads no clock: expiry is the proposer's
// decision, taken after confirming its leadership (see runLeaseExpiry).
func (n *Node) applyLeaseRevokes(index uint64, r *keelpb.LeaseRevokes) *applyResult {
	failpoint.Inject(failpoint.BeforeLeaseRevoke)
	w := n.store.Write(index)
	for _, id := range r.Ids {
		keys, err := n.lessor.Revoke(id)
		if err != nil {
			continue // already gone
		}
		for _, k := range keys {
			w.DeleteRange([]byte(k), nil)
		}
		w.DeleteAux(bucketLeases, beAppend(nil, uint64(id)))
	}
	n.publish(w.End())
	failpoint.Inject(failpoint.AfterLeaseRevoke)
	return &applyResult{}
}

func (n *Node) applyLeaseCheckpoints(index uint64, c *keelpb.LeaseCheckpoints) *applyResult {
	failpoint.Inject(failpoint.BeforeLeaseCheckpoint)
	w := n.store.Write(index)
	defer w.End()
	for _, cp := range c.Checkpoints {
		ttl, err := n.lessor.Checkpoint(cp.Id, cp.RemainingTtl)
		if err != nil {
			continue // revoked meanwhile
		}
		w.SetAux(bucketLeases, beAppend(nil, uint64(cp.Id)),
			mustMarshal(&keelpb.LeaseRecord{Id: cp.Id, Ttl: ttl, RemainingTtl: cp.RemainingTtl}))
	}
	return &applyResult{}
}

// trackLeases keeps the lessor's key attachments in step with applied events.
func (n *Node) trackLeases(evs []mvccpb.Event) {
	for i := range evs {
		e := &evs[i]
		key := string(e.Kv.Key)
		if e.PrevKv != nil && e.PrevKv.Lease != 0 && (e.Type == mvccpb.DELETE || e.PrevKv.Lease != e.Kv.Lease) {
			n.lessor.Detach(e.PrevKv.Lease, key)
		}
		if e.Type == mvccpb.PUT && e.Kv.Lease != 0 {
			_ = n.lessor.Attach(e.Kv.Lease, key)
		}
	}
}

// rebuildLessor loads leases from the replicated state and re-attaches keys.
func (n *Node) rebuildLessor() error {
	n.lessor.Reset()
	err := n.store.ForEachAux(bucketLeases, func(_, v []byte) error {
		var rec keelpb.LeaseRecord
		if err := proto.Unmarshal(v, &rec); err != nil {
			return err
		}
		if err := n.lessor.Grant(rec.Id, rec.Ttl); err != nil {
			return err
		}
		if rec.RemainingTtl > 0 {
			_, err := n.lessor.Checkpoint(rec.Id, rec.RemainingTtl)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n.lessor.Len() == 0 {
		// No lease, so no key is attached to one: skip reading every key back (1.3 s of a
		// restart with a million keys).
		return nil
	}
	view := n.store.Read()
	defer view.End()
	res, err := view.Range([]byte{0}, []byte{0}, rangeAll)
	if err != nil {
		return err
	}
	for i := range res.KVs {
		if kv := &res.KVs[i]; kv.Lease != 0 {
			_ = n.lessor.Attach(kv.Lease, string(kv.Key))
		}
	}
	return nil
}
