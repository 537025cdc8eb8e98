// Package netfault_test injects network faults between real keeld members: every member sits
// behind an internal/netfault proxy (proccluster.Config.PeerProxies) that blackholes, delays or
// drops its peer traffic in one direction or both, while clients write through clientv3. Each
// scenario checks that the cluster elects around the fault, that a cut-off member refuses
// linearizable requests, and that after Heal every acknowledged write is on every member and
// HashKV agrees (docs/RELIABILITY.md "Network faults").
package netfault_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/netfault"

	"github.com/keeldb/keel/internal/poll"
)

// A leader whose peer traffic is blackholed (both ways, only what it sends, or only what it
// receives) is replaced by a new leader among the others while writes continue; it refuses
// linearizable reads and writes meanwhile; after Heal it rejoins and every member converges
// with no acknowledged write lost.
func TestBlackholedLeader(t *testing.T) {
	for _, dir := range []netfault.Direction{netfault.Both, netfault.Tx, netfault.Rx} {
		t.Run(dir.String(), func(t *testing.T) {
			c := startCluster(t)
			ctx := scenarioCtx(t)
			old := waitLeaderAmong(t, ctx, c, []int{0, 1, 2}, -1)
			rest := others(c, old)
			w := startWatcher(t, ctx, c, old)
			l := startLoad(t, c.Client(t, rest...))
			l.waitMore(t, ctx, 50)

			c.PeerProxy(old).Blackhole(dir)
			t.Logf("m%d (leader) peer traffic blackholed: %s", old, c.PeerProxy(old).Faults())
			leader := waitLeaderAmong(t, ctx, c, rest, old)
			l.waitMore(t, ctx, 50)
			expectRefused(t, c, old)
			l.waitMore(t, ctx, 20)

			c.HealPeers()
			poll.Until(t, ctx, fmt.Sprintf("m%d following m%d after heal", old, leader), func(ctx context.Context) error {
				st, err := c.Status(ctx, old)
				if err != nil {
					return err
				}
				if st.Leader != c.MemberID(leader) {
					return fmt.Errorf("m%d reports leader %x", old, st.Leader)
				}
				return nil
			})
			l.waitMore(t, ctx, 20)
			acked, fails := l.result()
			checkConverged(t, ctx, c, acked)
			w.check(t, ctx, c.Client(t, leader), l.lastRev())
			t.Logf("new leader m%d; %d writes acknowledged, %d failed; proxy of m%d: %+v",
				leader, len(acked), fails, old, c.PeerProxy(old).Stats())
		})
	}
}

// The refusal check can fail: with keeld's test-only --unsafe-local-linearizable-reads, a
// leader blackholed away from the others answers a "linearizable" read from its own stale
// state, missing a write the new leader acknowledged, which is exactly what expectRefused
// rejects in TestBlackholedLeader.
func TestStaleReadThroughBlackholeIsVisible(t *testing.T) {
	c := startCluster(t, "--unsafe-local-linearizable-reads")
	ctx := scenarioCtx(t)
	old := waitLeaderAmong(t, ctx, c, []int{0, 1, 2}, -1)
	rest := others(c, old)
	w := c.Client(t, rest...)
	put := func(v string) {
		poll.Until(t, ctx, "put "+v, func(ctx context.Context) error {
			rctx, cancel := context.WithTimeout(ctx, opTimeout)
			defer cancel()
			_, err := w.Put(rctx, "stale/k", v)
			return err
		})
	}
	put("old")
	// The old leader must have applied "old" before it is cut off.
	r := c.Client(t, old)
	poll.Until(t, ctx, "old value on the old leader", func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		get, err := r.Get(rctx, "stale/k", clientv3.WithSerializable())
		if err != nil {
			return err
		}
		if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "old" {
			return fmt.Errorf("got %v", get.Kvs)
		}
		return nil
	})

	c.PeerProxy(old).Blackhole(netfault.Both)
	waitLeaderAmong(t, ctx, c, rest, old)
	put("new")
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	get, err := r.Get(rctx, "stale/k")
	if err != nil {
		t.Fatalf("the unsafe old leader refused the read (%v): this test no longer shows a stale read", err)
	}
	if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "old" {
		t.Fatalf("the cut-off old leader read %v, want the stale value \"old\"", get.Kvs)
	}
	t.Logf("cut-off m%d served the stale value %q after \"new\" was acknowledged", old, get.Kvs[0].Value)
	c.HealPeers()
}

// A partition between the leader and one follower only (each still reaches the third
// member) leaves the leader and the other follower serving writes; the cut-off follower
// cannot depose the leader through the bridge member, refuses linearizable requests, and
// catches up after Heal.
func TestLeaderFollowerPartition(t *testing.T) {
	c := startCluster(t)
	ctx := scenarioCtx(t)
	leader := waitLeaderAmong(t, ctx, c, []int{0, 1, 2}, -1)
	cut, bridge := others(c, leader)[0], others(c, leader)[1]
	w := startWatcher(t, ctx, c, cut)
	l := startLoad(t, c.Client(t, leader, bridge))
	l.waitMore(t, ctx, 50)

	c.BlackholeBetween(leader, cut)
	c.BlackholeBetween(cut, leader)
	t.Logf("m%d <-/-> m%d, both reach m%d; m%d proxy: %s", leader, cut, bridge, leader, c.PeerProxy(leader).Faults())
	l.waitMore(t, ctx, 100)
	expectRefused(t, c, cut)
	l.waitMore(t, ctx, 50)
	c.HealPeers()
	l.waitMore(t, ctx, 20)
	acked, fails := l.result()
	checkConverged(t, ctx, c, acked)
	w.check(t, ctx, c.Client(t, leader), l.lastRev())
	t.Logf("%d writes acknowledged, %d failed", len(acked), fails)
}

// A follower blackholed both ways leaves the majority serving; it refuses linearizable
// requests, then catches up after Heal.
func TestBlackholedFollower(t *testing.T) {
	c := startCluster(t)
	ctx := scenarioCtx(t)
	leader := waitLeaderAmong(t, ctx, c, []int{0, 1, 2}, -1)
	cut := others(c, leader)[0]
	w := startWatcher(t, ctx, c, cut)
	l := startLoad(t, c.Client(t, others(c, cut)...))
	l.waitMore(t, ctx, 50)

	c.PeerProxy(cut).Blackhole(netfault.Both)
	l.waitMore(t, ctx, 100)
	expectRefused(t, c, cut)
	c.HealPeers()
	l.waitMore(t, ctx, 20)
	acked, fails := l.result()
	checkConverged(t, ctx, c, acked)
	w.check(t, ctx, c.Client(t, leader), l.lastRev())
	t.Logf("%d writes acknowledged, %d failed; proxy of m%d: %+v", len(acked), fails, cut, c.PeerProxy(cut).Stats())
}

// A follower blackholed both ways while the others write far past --snapshot-count falls
// behind the leader's compacted log: after Heal it catches up by installing a snapshot (its
// log must say so), with every acknowledged write (etcd's BlackholeUntilSnapshot).
func TestBlackholedFollowerInstallsSnapshot(t *testing.T) {
	c := startCluster(t, "--snapshot-count", "100", "--snapshot-catchup-entries", "50",
		"--snapshot-check-interval", "100ms", "--raft-wal-segment-bytes", "16384")
	ctx := scenarioCtx(t)
	leader := waitLeaderAmong(t, ctx, c, []int{0, 1, 2}, -1)
	cut := others(c, leader)[0]
	w := startWatcher(t, ctx, c, cut)
	l := startLoad(t, c.Client(t, others(c, cut)...))
	l.waitMore(t, ctx, 20)

	c.PeerProxy(cut).Blackhole(netfault.Both)
	l.waitMore(t, ctx, 400)
	c.HealPeers()
	waitLog(t, ctx, c.LogPath(cut), `"msg":"restored snapshot"`)
	l.waitMore(t, ctx, 20)
	acked, fails := l.result()
	checkConverged(t, ctx, c, acked)
	w.check(t, ctx, c.Client(t, leader), l.lastRev())
	t.Logf("m%d restored a snapshot; %d writes acknowledged, %d failed", cut, len(acked), fails)
}

// With every member's outgoing peer traffic delayed by 50-100 ms (so a round trip between two
// members takes 100-200 ms), the cluster keeps serving writes and linearizable reads through
// every member, and converges after Heal.
func TestDelayedPeerTraffic(t *testing.T) {
	c := startCluster(t)
	ctx := scenarioCtx(t)
	waitLeaderAmong(t, ctx, c, []int{0, 1, 2}, -1)
	for i := range c.Size() {
		c.PeerProxy(i).Delay(netfault.Tx, 50*time.Millisecond, 50*time.Millisecond)
	}
	l := startLoad(t, c.Client(t))
	for i := range c.Size() {
		cli := c.Client(t, i)
		for n := range 3 {
			k, v := fmt.Sprintf("delayed/m%d/%d", i, n), fmt.Sprint(n)
			poll.Until(t, ctx, "a write through m"+fmt.Sprint(i), func(ctx context.Context) error {
				rctx, cancel := context.WithTimeout(ctx, opTimeout)
				defer cancel()
				_, err := cli.Put(rctx, k, v)
				return err
			})
			poll.Until(t, ctx, "a linearizable read through m"+fmt.Sprint(i), func(ctx context.Context) error {
				rctx, cancel := context.WithTimeout(ctx, opTimeout)
				defer cancel()
				get, err := cli.Get(rctx, k)
				if err != nil {
					return err
				}
				if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != v {
					t.Fatalf("linearizable read of %s through m%d right after its write: %v", k, i, get.Kvs)
				}
				return nil
			})
		}
	}
	l.waitMore(t, ctx, 50)
	c.HealPeers()
	acked, fails := l.result()
	checkConverged(t, ctx, c, acked)
	st := c.PeerProxy(0).Stats()
	if st.Tx.ForwardedBytes == 0 {
		t.Fatalf("m0's proxy forwarded nothing: %+v", st)
	}
	t.Logf("%d writes acknowledged, %d failed", len(acked), fails)
}

// Dropped chunks (each one resets its connection) and resets of every peer connection make
// members reconnect and resend, but corrupt nothing: writes continue, and after Heal the
// members converge with every acknowledged write.
func TestDroppedPeerTraffic(t *testing.T) {
	c := startCluster(t)
	ctx := scenarioCtx(t)
	waitLeaderAmong(t, ctx, c, []int{0, 1, 2}, -1)
	l := startLoad(t, c.Client(t))
	l.waitMore(t, ctx, 20)
	for i := range c.Size() {
		c.PeerProxy(i).Drop(netfault.Both, 0.05)
	}
	poll.Until(t, ctx, "connections dropped on every member's proxy", func(context.Context) error {
		for i := range c.Size() {
			st := c.PeerProxy(i).Stats()
			if st.Rx.DroppedConns+st.Tx.DroppedConns == 0 {
				return fmt.Errorf("m%d's proxy has dropped nothing yet: %+v", i, st)
			}
		}
		return nil
	})
	for range 3 {
		for i := range c.Size() {
			c.PeerProxy(i).ResetConns()
		}
		l.waitMore(t, ctx, 10)
	}
	c.HealPeers()
	l.waitMore(t, ctx, 50)
	acked, fails := l.result()
	checkConverged(t, ctx, c, acked)
	for i := range c.Size() {
		t.Logf("proxy of m%d: %+v", i, c.PeerProxy(i).Stats())
	}
	t.Logf("%d writes acknowledged, %d failed", len(acked), fails)
}
