package compat_test

import (
	"context"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/keeldb/keel/internal/proccluster"
)

// TestLeaseCompat replays leaseScript against two clusters: etcd against etcd (proving the
// sequence is deterministic) and Keel against etcd. The harness is in watch_compat_test.go.
//
// Compared loosely, and only here: a server-chosen lease ID must be non-zero and is then
// masked wherever it appears; TimeToLive's remaining TTL must be in (0, grantedTTL]; lease keys
// and the lease list are sorted (etcd builds both from maps).
func TestLeaseCompat(t *testing.T) {
	steps := leaseScript()
	checkSteps(t, steps)
	t.Run("etcd-vs-etcd", func(t *testing.T) {
		etcd := proccluster.EtcdBinary(t)
		runSequence(t, steps, startEnv(t, "etcd-a", etcd, true), startEnv(t, "etcd-b", etcd, true))
	})
	t.Run("keel-vs-etcd", func(t *testing.T) {
		etcd := proccluster.EtcdBinary(t)
		keeld := proccluster.BuildKeeld(t)
		runSequence(t, steps, startEnv(t, "keel", keeld, false), startEnv(t, "etcd", etcd, true))
	})
}

// Lease IDs the script chooses. unknownLease is never granted.
const (
	clientLease  = 0x1000
	unknownLease = 0x7777
	autoLease    = -1 // stands for the side's server-chosen lease in requests
)

// leaseID resolves autoLease to the side's server-chosen ID.
func (e *env) leaseID(id int64) int64 {
	if id == autoLease {
		return e.autoLease
	}
	return id
}

// leaseStep sends one Lease request to member m, after a linearizable read on m when prime is
// set (for requests answered from the member's local state).
func leaseStep(name string, prime bool, do func(ctx context.Context, e *env, lc pb.LeaseClient) (proto.Message, error)) seqStep {
	return seqStep{name: name, do: func(ctx context.Context, e *env, m int) ([]proto.Message, error) {
		if prime {
			if _, err := e.prime(ctx, m); err != nil {
				return nil, err
			}
		}
		r, err := do(ctx, e, e.leases[m])
		if err != nil {
			return nil, err
		}
		return []proto.Message{r}, nil
	}}
}

func grant(name string, id, ttl int64) seqStep {
	return leaseStep(name, false, func(ctx context.Context, _ *env, lc pb.LeaseClient) (proto.Message, error) {
		return lc.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: id, TTL: ttl})
	})
}

func timeToLive(name string, id int64, keys bool) seqStep {
	return leaseStep(name, true, func(ctx context.Context, e *env, lc pb.LeaseClient) (proto.Message, error) {
		return lc.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: e.leaseID(id), Keys: keys})
	})
}

func revoke(name string, id int64) seqStep {
	return leaseStep(name, false, func(ctx context.Context, e *env, lc pb.LeaseClient) (proto.Message, error) {
		return lc.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: e.leaseID(id)})
	})
}

func leaseList(name string) seqStep {
	return leaseStep(name, true, func(ctx context.Context, _ *env, lc pb.LeaseClient) (proto.Message, error) {
		return lc.LeaseLeases(ctx, &pb.LeaseLeasesRequest{})
	})
}

// putLease writes key=value attached to lease id (autoLease for the server-chosen one).
func putLease(name, key, value string, id int64, wantRev int64) seqStep {
	return seqStep{name: name, do: func(ctx context.Context, e *env, m int) ([]proto.Message, error) {
		return write(name, wantRev, func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
			return kv.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte(value), Lease: e.leaseID(id), PrevKv: true})
		}).do(ctx, e, m)
	}}
}

// grantAuto grants a lease with a server-chosen ID, which must be non-zero; the side remembers
// it, and responses show it masked.
func grantAuto(name string) seqStep {
	return seqStep{name: name, do: func(ctx context.Context, e *env, m int) ([]proto.Message, error) {
		r, err := e.leases[m].LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 600})
		if err != nil {
			return nil, err
		}
		if r.ID == 0 {
			return []proto.Message{r}, fmt.Errorf("%w: server-chosen lease ID is 0", errHarness)
		}
		e.autoLeases[r.ID], e.autoLease = true, r.ID
		return []proto.Message{r}, nil
	}}
}

// revokeWatched watches prefix l/ on member m with prev_kv, revokes id through the next member
// and expects every attached key's DELETE event in one response at the revoke's revision.
func revokeWatched(name string, id int64) seqStep {
	return seqStep{name: name, do: func(ctx context.Context, e *env, m int) ([]proto.Message, error) {
		var out []proto.Message
		if _, err := e.prime(ctx, m); err != nil {
			return out, err
		}
		w, err := e.openWatch(ctx, m, &out)
		if err != nil {
			return out, err
		}
		req := watchPrefix("l/", 0)
		req.PrevKv = true
		c, err := w.create(req)
		if err != nil || !watchCreated(c) {
			return out, err
		}
		r, err := e.leases[e.other(m)].LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: e.leaseID(id)})
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if err := w.untilRev(r.Header.Revision); err != nil {
			return out, err
		}
		return out, w.cancel(c.WatchId)
	}}
}

// leaseScript is the lease sequence of TestLeaseCompat; both clusters start empty at revision
// 1. Leases: clientLease (ID chosen by the client) and one server-chosen lease (autoLease),
// both with a TTL far longer than the test. Keys: l/a, l/b on clientLease; l/c, l/f on
// autoLease; l/d detached, l/e deleted.
func leaseScript() []seqStep {
	b := func(s string) []byte { return []byte(s) }
	return []seqStep{
		grant("grant/client-id", clientLease, 600),
		grantAuto("grant/server-id"),
		grant("grant/duplicate-id", clientLease, 600),
		grant("grant/ttl-too-large", 0x3000, 9_000_000_001),
		putLease("put/l/a-client-lease", "l/a", "a", clientLease, 2),
		putLease("put/l/b-client-lease", "l/b", "b", clientLease, 3),
		putLease("put/l/c-server-lease", "l/c", "c", autoLease, 4),
		putLease("put/l/d-client-lease", "l/d", "d", clientLease, 5),
		putLease("put/l/d-detach", "l/d", "d2", 0, 6),
		putLease("put/l/e-client-lease", "l/e", "e", clientLease, 7),
		write("put/l/e-delete", 8, wDel(&pb.DeleteRangeRequest{Key: b("l/e"), PrevKv: true})),
		putLease("put/l/f-client-lease", "l/f", "f", clientLease, 9),
		putLease("put/l/f-move-to-server-lease", "l/f", "f2", autoLease, 10),
		putLease("put/unknown-lease", "l/x", "x", unknownLease, 0),
		write("put/txn-unknown-lease", 0, func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
			return kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{opPut("l/y", "y"),
				opPutReq(&pb.PutRequest{Key: b("l/x"), Value: b("x"), Lease: unknownLease})}})
		}),
		rng("range/leased-keys", prefixRange("l/")).asSeq(),
		timeToLive("ttl/client-keys", clientLease, true),
		timeToLive("ttl/client-no-keys", clientLease, false),
		timeToLive("ttl/server-keys", autoLease, true),
		timeToLive("ttl/unknown", unknownLease, true),
		leaseList("leases/two"),
		keepAlive("keepalive/server", autoLease),
		keepAlive("keepalive/unknown", unknownLease),
		revokeWatched("revoke/client-watched", clientLease),
		rng("range/after-revoke", prefixRange("l/")).asSeq(),
		timeToLive("ttl/revoked", clientLease, true),
		leaseList("leases/one"),
		revoke("revoke/again", clientLease),
		revoke("revoke/unknown", unknownLease),
		revoke("revoke/server", autoLease),
		replay("revoke/history", func() *pb.WatchCreateRequest {
			r := watchPrefix("l/", 11)
			r.PrevKv = true
			return r
		}(), true),
		leaseList("leases/none"),
		// Below the minimum TTL (etcd: ceil(1.5 election timeouts) = 2 s). These leases expire
		// during the test, so nothing after them may depend on them.
		grant("grant/ttl-1", 0x2001, 1),
		grant("grant/ttl-0", 0x2002, 0),
		grant("grant/ttl-negative", 0x2003, -1),
	}
}

// keepAlive sends one keepalive for id on a fresh stream to primed member m and returns the
// answer: the full granted TTL, or TTL 0 for an unknown lease.
func keepAlive(name string, id int64) seqStep {
	return seqStep{name: name, do: func(ctx context.Context, e *env, m int) ([]proto.Message, error) {
		if _, err := e.prime(ctx, m); err != nil {
			return nil, err
		}
		st, err := e.leases[m].LeaseKeepAlive(ctx)
		if err != nil {
			return nil, err
		}
		if err := st.Send(&pb.LeaseKeepAliveRequest{ID: e.leaseID(id)}); err != nil {
			return nil, err
		}
		r, err := st.Recv()
		if err != nil {
			return nil, err
		}
		return []proto.Message{r}, st.CloseSend()
	}}
}

// asSeq runs a KV step of TestKVCompat's kind on member m.
func (s step) asSeq() seqStep {
	return seqStep{name: s.name, do: func(ctx context.Context, e *env, m int) ([]proto.Message, error) {
		r, err := s.do(ctx, e.kvs[m])
		if err != nil {
			return nil, err
		}
		return []proto.Message{r}, nil
	}}
}
