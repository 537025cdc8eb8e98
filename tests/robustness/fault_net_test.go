package robustness_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/keeldb/keel/internal/netfault"
	"github.com/keeldb/keel/internal/proccluster"
)

// netKind is a kind of network fault between members, made with the peer proxies of
// internal/netfault (docs/RELIABILITY.md "Network faults" maps etcd's to these).
type netKind int

const (
	// netBlackhole discards everything the member sends and receives.
	netBlackhole netKind = iota
	// netBlackholeTx discards what the member sends (one way).
	netBlackholeTx
	// netBlackholeRx discards what the member receives (one way).
	netBlackholeRx
	// netBlackholeUntilSnapshot cuts the member off until the leader must send it a snapshot.
	netBlackholeUntilSnapshot
	// netPartitionPair cuts the member and one other apart, both ways; both still reach the rest.
	netPartitionPair
	// netDelay delays the member's traffic both ways 25 to 125 ms (etcd's 75 ± 50 ms).
	netDelay
	// netDrop resets the member's connections at random (2 % of chunks) and all of them once.
	netDrop
)

// netKinds lists every kind, for the coverage test.
func netKinds() []netKind {
	return []netKind{netBlackhole, netBlackholeTx, netBlackholeRx, netBlackholeUntilSnapshot, netPartitionPair,
		netDelay, netDrop}
}

func (k netKind) String() string {
	return [...]string{"blackhole", "blackhole-tx", "blackhole-rx", "blackhole-until-snapshot", "partition-pair",
		"delay", "drop"}[k]
}

// netFault injects one network fault on the member target picks, holds it while the traffic
// makes progress (once the proxy's counters show it bit), and heals every proxy.
type netFault struct {
	kind   netKind
	target target
}

// netFaults are the network faults of the random pool.
func netFaults() []netFault {
	return []netFault{
		{netBlackhole, leaderMember}, {netBlackhole, followerMember},
		{netBlackholeTx, leaderMember}, {netBlackholeTx, followerMember},
		{netBlackholeRx, leaderMember}, {netBlackholeRx, followerMember},
		{netBlackholeUntilSnapshot, followerMember},
		{netPartitionPair, leaderMember},
		{netDelay, anyMember}, {netDrop, anyMember},
	}
}

func (f netFault) Name() string { return fmt.Sprintf("net-%s-%s", f.kind, f.target) }

func (f netFault) Available(n int) bool {
	if f.kind == netBlackholeUntilSnapshot {
		return n >= 3
	}
	return n > 1 // peer traffic needs peers
}

// ConfigureCluster puts a peer proxy in front of every member.
func (f netFault) ConfigureCluster(cfg *proccluster.Config) {
	cfg.PeerProxies = true
	if f.kind == netBlackholeUntilSnapshot {
		cfg.ExtraArgs = addArgs(cfg.ExtraArgs, snapshotArgs...)
	}
}

func (f netFault) Inject(ctx context.Context, env *Env) error {
	i, err := f.target.pick(ctx, env)
	if err != nil {
		return err
	}
	if f.kind == netBlackholeUntilSnapshot {
		const restored = `"msg":"restored snapshot"`
		had := logCount(env, i, restored)
		if err := blackholeUntilSnapshot(ctx, env, i, func() error { return nil }); err != nil {
			return err
		}
		if err := waitLogCount(ctx, env, i, restored, had+1); err != nil {
			return err
		}
		env.Note("m%d restored a snapshot from the leader", i)
		return env.C.WaitHealthy(ctx)
	}
	px := env.C.PeerProxy(i)
	before := px.Stats()
	// bit reports whether the fault has acted on traffic since it was injected.
	var bit func(s netfault.Stats) bool
	blackholed := func(d func(netfault.Stats) netfault.DirStats) func(netfault.Stats) bool {
		return func(s netfault.Stats) bool { return d(s).BlackholedBytes > d(before).BlackholedBytes }
	}
	rx := func(s netfault.Stats) netfault.DirStats { return s.Rx }
	tx := func(s netfault.Stats) netfault.DirStats { return s.Tx }
	down := 1
	switch f.kind {
	case netBlackhole:
		px.Blackhole(netfault.Both)
		bit = blackholed(tx)
	case netBlackholeTx:
		px.Blackhole(netfault.Tx)
		bit = blackholed(tx)
	case netBlackholeRx:
		px.Blackhole(netfault.Rx)
		bit = blackholed(rx)
	case netPartitionPair:
		j := othersThan(env, i)[env.Rand.IntN(len(othersThan(env, i)))]
		env.C.BlackholeBetween(i, j)
		env.C.BlackholeBetween(j, i)
		env.Note("partition m%d | m%d", i, j)
		bit = blackholed(tx)
	case netDelay:
		px.Delay(netfault.Both, 25*time.Millisecond, 100*time.Millisecond)
		bit = func(s netfault.Stats) bool { return s.Tx.ForwardedBytes > before.Tx.ForwardedBytes }
		down = 0
	case netDrop:
		px.Drop(netfault.Both, 0.02)
		px.ResetConns()
		bit = func(s netfault.Stats) bool {
			return s.Rx.DroppedConns+s.Tx.DroppedConns > before.Rx.DroppedConns+before.Tx.DroppedConns
		}
		down = 0
	}
	env.Note("%s on m%d (%s): %s", f.kind, i, f.target, px.Faults())
	err = func() error {
		wctx, cancel := context.WithTimeout(ctx, fpWait)
		defer cancel()
		for !bit(px.Stats()) {
			select {
			case <-wctx.Done():
				return fmt.Errorf("%s on m%d never acted on its traffic (%+v): the fault proved nothing", f.kind, i, px.Stats())
			case <-time.After(50 * time.Millisecond):
			}
		}
		if down == 0 {
			// Nothing is down: hold the fault while the traffic makes faultWrites operations
			// through it (at most maxHold).
			hctx, cancel := context.WithTimeout(ctx, maxHold)
			defer cancel()
			if err := env.WaitProgress(hctx, faultWrites); err != nil && ctx.Err() == nil {
				env.Note("traffic slow under %s on m%d: %v", f.kind, i, err)
			}
			return ctx.Err()
		}
		return downPhase(ctx, env, down)
	}()
	env.C.HealPeers()
	env.Note("heal peers (m%d proxy: %+v)", i, px.Stats())
	if err != nil {
		return err
	}
	return env.C.WaitHealthy(ctx)
}

// logCount counts the occurrences of want in member i's log.
func logCount(env *Env, i int, want string) int {
	b, _ := os.ReadFile(env.C.LogPath(i))
	return strings.Count(string(b), want)
}

// waitLogCount polls member i's log until it holds want n times.
func waitLogCount(ctx context.Context, env *Env, i int, want string, n int) error {
	wctx, cancel := context.WithTimeout(ctx, fpWait)
	defer cancel()
	for logCount(env, i, want) < n {
		select {
		case <-wctx.Done():
			return fmt.Errorf("m%d log has %d of %q, want %d", i, logCount(env, i, want), want, n)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
