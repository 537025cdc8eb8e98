package coord_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A lease that is no longer kept alive expires no earlier than its TTL after the last
// keepalive was sent (docs/RELIABILITY.md "Invariants", I5: never early), and not much later than that after the
// last keepalive response: the leader looks every 100 ms and revokes through raft.
func TestLeaseExpiresOnTimeAfterLastKeepAlive(t *testing.T) {
	const (
		ttl = 5 * time.Second
		// maxDelay is the latest expiry accepted, measured from the last keepalive response:
		// TTL + the 100 ms expiry tick + a read index and a raft round trip, with room for a
		// loaded machine.
		maxDelay = 7 * time.Second
		// observeSlack covers the poll interval and one Get on a loaded machine: the end of the
		// first Get that sees the key gone may lag the deletion by that much.
		observeSlack = 500 * time.Millisecond
	)
	c := startKeel(t)
	cli := c.Client(t)
	ctx := timeout(t, 60*time.Second)

	g, err := cli.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if g.TTL != int64(ttl/time.Second) {
		t.Fatalf("granted TTL %d, want %d", g.TTL, int64(ttl/time.Second))
	}
	const key = "/coord/lease/expiring"
	if _, err := cli.Put(ctx, key, "v", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}

	// The last of a few keepalives; sent is when it left, acked when its answer came back.
	var sent, acked time.Time
	for range 3 {
		sent = time.Now()
		ka, err := cli.KeepAliveOnce(ctx, g.ID)
		acked = time.Now()
		if err != nil {
			t.Fatalf("keepalive: %v", err)
		}
		if ka.TTL != g.TTL {
			t.Fatalf("keepalive TTL %d, want %d", ka.TTL, g.TTL)
		}
	}

	// Poll with linearizable Gets. A Get that ended before sent+TTL reflects a state before
	// the earliest legal expiry, so it must see the key (strict lower bound, no slack).
	var lastPresentStart, goneEnd time.Time
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for goneEnd.IsZero() {
		start := time.Now()
		gctx, cancel := context.WithTimeout(ctx, opTimeout)
		get, err := cli.Get(gctx, key)
		cancel()
		end := time.Now()
		switch {
		case err != nil && ctx.Err() != nil:
			t.Fatalf("polling key %s %v after the last keepalive response: %v", key, time.Since(acked), err)
		case err != nil:
			t.Logf("get: %v (retrying)", err)
		case len(get.Kvs) == 1:
			lastPresentStart = start
			// The Get started after the bound and still saw the key: certainly late.
			if start.Sub(acked) > maxDelay {
				t.Fatalf("key %s still present %v after the last keepalive response, want gone within %v",
					key, start.Sub(acked), maxDelay)
			}
		case end.Before(sent.Add(ttl)):
			t.Fatalf("key %s gone %v after the last keepalive was sent, before its TTL %v", key, end.Sub(sent), ttl)
		default:
			goneEnd = end
		}
		select {
		case <-ctx.Done():
		case <-ticker.C:
		}
	}
	// The deletion happened after lastPresentStart and before goneEnd.
	t.Logf("lease expiry delay after the last keepalive response: between %v and %v (TTL %v; after send: <= %v)",
		lastPresentStart.Sub(acked).Round(time.Millisecond), goneEnd.Sub(acked).Round(time.Millisecond), ttl,
		goneEnd.Sub(sent).Round(time.Millisecond))
	// A Get that ended in time must have seen the deletion; this checks that the polling
	// itself kept up, so the strict check above had a chance to fire.
	if d := goneEnd.Sub(acked); d > maxDelay+observeSlack {
		t.Errorf("key %s seen gone only %v after the last keepalive response, want within %v (+%v observation slack)",
			key, d, maxDelay, observeSlack)
	}

	ttlResp, err := cli.TimeToLive(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ttlResp.TTL != -1 {
		t.Errorf("TimeToLive of the expired lease: TTL %d, want -1", ttlResp.TTL)
	}
	if _, err := cli.KeepAliveOnce(ctx, g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Errorf("keepalive of the expired lease: %v, want %v", err, rpctypes.ErrLeaseNotFound)
	}
}

// keepAliveLog drains a KeepAlive channel and remembers when the last response came.
type keepAliveLog struct {
	mu sync.Mutex
	// guarded by mu
	last     time.Time
	count    int
	closed   bool
	closedAt time.Time
	lastTTL  int64
}

func (k *keepAliveLog) drain(ch <-chan *clientv3.LeaseKeepAliveResponse) {
	for resp := range ch {
		k.mu.Lock()
		if resp.TTL > 0 {
			k.last, k.count = time.Now(), k.count+1
		}
		k.lastTTL = resp.TTL
		k.mu.Unlock()
	}
	k.mu.Lock()
	k.closed, k.closedAt = true, time.Now()
	k.mu.Unlock()
}

// errKeepAliveClosed is permanent: clientv3 closed the channel, so no later response comes.
var errKeepAliveClosed = errors.New("keepalive channel closed: the client considers the lease lost")

// after reports nil once a keepalive response arrived after t.
func (k *keepAliveLog) after(t time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		// clientv3 closes it on a TTL <= 0 answer or when no answer came for a whole TTL.
		return fmt.Errorf("%w at %v (last answer TTL %d; last live answer %v, %d in all)", errKeepAliveClosed,
			k.closedAt.Format(time.StampMilli), k.lastTTL, k.last.Format(time.StampMilli), k.count)
	}
	if !k.last.After(t) {
		return fmt.Errorf("no keepalive response since %v (last %v, %d in all)", t.Format(time.StampMilli),
			k.last.Format(time.StampMilli), k.count)
	}
	return nil
}

// A lease kept alive by the client survives three successive kill -9s of the leader: after
// each failover the new leader renews it, and its key is still there at the end.
func TestLeaseKeptAliveSurvivesLeaderKills(t *testing.T) {
	// Each round waits for an answer that came after the new leader was elected, so the lease
	// cannot pass by coasting on the new leader's grace period (TTL + election timeout), and
	// the three rounds together outlast the TTL many times over. The TTL still leaves the
	// client room for a failover on a loaded machine: clientv3 gives a lease up when no
	// answer came for a whole TTL, and a kill -9 of the leader costs up to two election
	// timeouts (hashicorp/raft randomizes them) plus clientv3's 500 ms before it re-sends on
	// a new stream.
	const ttl = 8
	c := startKeel(t)
	cli := c.Client(t)
	ctx := timeout(t, 80*time.Second)

	g, err := cli.Grant(ctx, ttl)
	if err != nil {
		t.Fatal(err)
	}
	const key = "/coord/lease/kept"
	if _, err := cli.Put(ctx, key, "v", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	kaCtx, stopKA := context.WithCancel(ctx)
	ch, err := cli.KeepAlive(kaCtx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	var (
		kas  keepAliveLog
		done = make(chan struct{})
	)
	go func() { defer close(done); kas.drain(ch) }()
	t.Cleanup(func() { stopKA(); <-done })

	checkAlive := func(what string) {
		t.Helper()
		var get *clientv3.GetResponse
		eventually(t, ctx, what+": get "+key, func(ctx context.Context) (err error) {
			get, err = cli.Get(ctx, key)
			return err
		})
		if len(get.Kvs) != 1 || get.Kvs[0].Lease != int64(g.ID) {
			t.Fatalf("%s: key %s gone or detached from lease %x: %v", what, key, g.ID, get.Kvs)
		}
		eventually(t, ctx, what+": lease TimeToLive", func(ctx context.Context) error {
			r, err := cli.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys())
			if err != nil {
				return err
			}
			if r.TTL <= 0 || r.GrantedTTL != ttl || len(r.Keys) != 1 || string(r.Keys[0]) != key {
				return fmt.Errorf("lease %x: TTL %d granted %d keys %q", g.ID, r.TTL, r.GrantedTTL, r.Keys)
			}
			return nil
		})
	}

	for round := 1; round <= 3; round++ {
		killed, leader := killLeader(t, ctx, c)
		elected := time.Now()
		t.Logf("round %d: killed leader m%d, new leader m%d", round, killed, leader)
		eventually(t, ctx, fmt.Sprintf("round %d: a keepalive renewed by the new leader", round),
			func(context.Context) error {
				err := kas.after(elected)
				if errors.Is(err, errKeepAliveClosed) {
					t.Fatalf("round %d (new leader elected %v): %v", round, elected.Format(time.StampMilli), err)
				}
				return err
			})
		checkAlive(fmt.Sprintf("round %d", round))
		c.Restart(killed)
		if err := c.WaitMember(ctx, killed); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	eventually(t, ctx, "a keepalive after the last restart", func(context.Context) error { return kas.after(restarted) })
	checkAlive("end")
}
