package robustness_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/kvhist"
	"github.com/keeldb/keel/internal/proccluster"
)

// Fault is one kind of fault a scenario injects while traffic runs. Inject is called once,
// on the test goroutine (it may use the cluster's lifecycle methods, which fail the test),
// after the traffic has warmed up; it injects the fault and heals it (restarts, resumes,
// re-adds) before it returns, so that the runner can check a healthy cluster afterwards.
// Process faults are here; failpoint faults in fault_failpoint_test.go, network faults in
// fault_net_test.go, chains of faults in fault_chain_test.go. A fault that needs the cluster
// built or started differently also implements ClusterConfigurer.
type Fault interface {
	// Name is the fault's short, stable name (reports, reproduce commands, TestRobustness's
	// subtest names).
	Name() string
	// Available reports whether the fault applies to a cluster of the given size.
	Available(members int) bool
	// Inject injects and heals the fault. An error fails the scenario (the fault could not
	// be injected), as opposed to a violation the checks find.
	Inject(ctx context.Context, env *Env) error
}

// ClusterConfigurer is implemented by faults that need the cluster set up for them: gofail
// endpoints (Config.GofailHTTP: the runner then builds keeld with -tags failpoints), flags,
// environment for member processes, peer proxies. The runner calls it before starting the
// cluster; it only adds to cfg, so that the faults of a chain can each ask for theirs.
type ClusterConfigurer interface {
	ConfigureCluster(cfg *proccluster.Config)
}

// target says which member a fault hits.
type target int

const (
	anyMember target = iota
	leaderMember
	followerMember
)

func (tg target) String() string {
	return [...]string{"member", "leader", "follower"}[tg]
}

// pick chooses the fault's member among the live ones.
func (tg target) pick(ctx context.Context, env *Env) (int, error) {
	live := env.Live()
	if tg == anyMember || len(live) == 1 {
		return live[env.Rand.IntN(len(live))], nil
	}
	leader, err := env.C.WaitLeader(ctx)
	if err != nil {
		return -1, err
	}
	if tg == leaderMember {
		return leader, nil
	}
	fs := slices.DeleteFunc(live, func(i int) bool { return i == leader })
	return fs[env.Rand.IntN(len(fs))], nil
}

// allFaults are the faults the suite knows, for TestRobustnessRandom.
func allFaults() []Fault {
	fs := []Fault{
		killFault{anyMember}, killFault{leaderMember}, killFault{followerMember},
		pauseFault{anyMember}, pauseFault{leaderMember}, pauseFault{followerMember},
		restartFault{anyMember}, restartFault{leaderMember}, restartFault{followerMember},
		memberReplaceFault{},
	}
	for _, f := range failpointFaults() {
		fs = append(fs, f)
	}
	for _, f := range netFaults() {
		fs = append(fs, f)
	}
	return fs
}

// downPhase is what the cluster does while a member is down: with a quorum left, the
// traffic goes on until it has made downWrites more successful operations or maxHold has
// passed (clients whose requests or streams went to a paused member may be stuck until it
// resumes; that is no violation); without a quorum, the member is down for faultHold.
func downPhase(ctx context.Context, env *Env, down int) error {
	if len(env.Live())-down > len(env.Live())/2 {
		hctx, cancel := context.WithTimeout(ctx, maxHold)
		defer cancel()
		if err := env.WaitProgress(hctx, downWrites); err != nil && ctx.Err() == nil {
			env.Note("traffic stalled while a member was down: %v", err)
		}
		return ctx.Err()
	}
	select {
	case <-time.After(faultHold):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// killFault is kill -9 of a member and a restart from its data dir.
type killFault struct{ target target }

func (f killFault) Name() string         { return "kill-" + f.target.String() }
func (f killFault) Available(n int) bool { return f.target != followerMember || n > 1 }
func (f killFault) Inject(ctx context.Context, env *Env) error {
	i, err := f.target.pick(ctx, env)
	if err != nil {
		return err
	}
	env.C.Kill(i)
	env.Note("SIGKILL m%d", i)
	if err := downPhase(ctx, env, 1); err != nil {
		return err
	}
	env.C.Restart(i)
	env.Note("restart m%d", i)
	return env.C.WaitHealthy(ctx)
}

// restartFault is a graceful restart (SIGTERM, then start again).
type restartFault struct{ target target }

func (f restartFault) Name() string         { return "restart-" + f.target.String() }
func (f restartFault) Available(n int) bool { return f.target != followerMember || n > 1 }
func (f restartFault) Inject(ctx context.Context, env *Env) error {
	i, err := f.target.pick(ctx, env)
	if err != nil {
		return err
	}
	env.C.Stop(i)
	env.Note("SIGTERM m%d", i)
	if err := downPhase(ctx, env, 1); err != nil {
		return err
	}
	env.C.Restart(i)
	env.Note("restart m%d", i)
	return env.C.WaitHealthy(ctx)
}

// pauseFault is SIGSTOP of a member and SIGCONT once the others have taken over (or after
// faultHold in a cluster without a quorum left). Pausing a leader also runs the stale-read
// probe: a key is written through the others and linearizable reads of it are sent to the
// paused member just before it resumes; a member that answers them from its stale state
// gives a history porcupine rejects.
type pauseFault struct{ target target }

func (f pauseFault) Name() string         { return "pause-" + f.target.String() }
func (f pauseFault) Available(n int) bool { return f.target != followerMember || n > 1 }
func (f pauseFault) Inject(ctx context.Context, env *Env) error {
	i, err := f.target.pick(ctx, env)
	if err != nil {
		return err
	}
	leader := len(env.Live()) > 1 && env.IsLeader(ctx, i)
	var probe *staleReadProbe
	if leader {
		if probe, err = newStaleReadProbe(ctx, env, i); err != nil {
			return err
		}
	}
	env.C.Pause(i)
	env.Note("SIGSTOP m%d (leader: %v)", i, leader)
	if leader {
		if _, err := env.C.WaitLeader(ctx); err != nil {
			return err
		}
	}
	if err := downPhase(ctx, env, 1); err != nil {
		return err
	}
	if probe != nil {
		if err := probe.send(ctx); err != nil {
			return err
		}
	}
	env.C.Resume(i)
	env.Note("SIGCONT m%d", i)
	if probe != nil {
		stale := probe.wait()
		env.Note("stale-read probe: %d reads sent to m%d while paused, %d answered stale", probeReads, i, stale)
	}
	return env.C.WaitHealthy(ctx)
}

// probeReads is how many reads the stale-read probe sends to the paused member.
const probeReads = 4

// staleReadProbe is the probe of pauseFault (tests/chaos's TestPauseLeader does the same).
type staleReadProbe struct {
	env         *Env
	old, others *clientv3.Client
	key         string
	writer      int
	after       string

	wg    sync.WaitGroup
	mu    sync.Mutex
	stale int // guarded by mu
}

// newStaleReadProbe writes the probe key's first value and reads it back on the leader.
func newStaleReadProbe(ctx context.Context, env *Env, leader int) (*staleReadProbe, error) {
	var others []int
	for _, j := range env.Live() {
		if j != leader {
			others = append(others, j)
		}
	}
	p := &staleReadProbe{env: env, old: env.C.Client(env.T, leader), others: env.C.Client(env.T, others...),
		key: prefix + "kv/probe", writer: env.NewClientID()}
	before := fmt.Sprintf("probe-%d-before", p.writer)
	if err := p.put(ctx, before); err != nil {
		return nil, err
	}
	if out, _, err := p.do(p.old, p.writer, kvhist.Input{Kind: kvhist.Get, Key: p.key}); err != nil || out.Value != before {
		return nil, fmt.Errorf("probe: read on the leader m%d: %q, %v", leader, out.Value, err)
	}
	return p, nil
}

// send writes the probe key through the others, then sends reads of it to the paused member.
func (p *staleReadProbe) send(ctx context.Context) error {
	p.after = fmt.Sprintf("probe-%d-after", p.writer)
	if err := p.put(ctx, p.after); err != nil {
		return err
	}
	var started sync.WaitGroup
	for range probeReads {
		id := p.env.NewClientID()
		p.wg.Add(1)
		started.Add(1)
		go func() {
			defer p.wg.Done()
			started.Done()
			out, _, err := p.do(p.old, id, kvhist.Input{Kind: kvhist.Get, Key: p.key})
			if err == nil && out.Value != p.after {
				p.mu.Lock()
				p.stale++
				p.mu.Unlock()
			}
		}()
	}
	started.Wait()
	return nil
}

// wait joins the probe's reads and returns how many were stale.
func (p *staleReadProbe) wait() int {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stale
}

func (p *staleReadProbe) put(ctx context.Context, val string) error {
	for {
		_, _, err := p.do(p.others, p.writer, kvhist.Input{Kind: kvhist.Put, Key: p.key, Value: val})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("probe put %s: %w", val, err)
		case <-time.After(retryPause):
		}
	}
}

func (p *staleReadProbe) do(cli *clientv3.Client, id int, in kvhist.Input) (kvhist.Output, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return kvhist.Do(ctx, cli, id, in, p.env.Rec)
}

// memberReplaceFault removes a follower from the cluster, stops it, and adds a fresh member
// with an empty data dir in its place (etcd's MemberReplace).
type memberReplaceFault struct{}

func (memberReplaceFault) Name() string         { return "member-replace" }
func (memberReplaceFault) Available(n int) bool { return n >= 3 }
func (memberReplaceFault) Inject(ctx context.Context, env *Env) error {
	victim, err := followerMember.pick(ctx, env)
	if err != nil {
		return err
	}
	var others []int
	for _, j := range env.Live() {
		if j != victim {
			others = append(others, j)
		}
	}
	admin := env.C.Client(env.T, others...)
	if _, err := admin.MemberRemove(ctx, env.C.MemberID(victim)); err != nil {
		return fmt.Errorf("member remove m%d: %w", victim, err)
	}
	env.Remove(victim)
	env.Note("MemberRemove m%d", victim)
	// A removed keeld stops itself once it learns of its removal; one that never hears of it
	// (it was behind) is killed.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, werr := env.C.WaitExit(wctx, victim)
	cancel()
	if werr != nil {
		env.C.Kill(victim)
	}
	if err := env.WaitProgress(ctx, faultWrites); err != nil {
		return err
	}
	n := env.C.AddSlot()
	if _, err := admin.MemberAdd(ctx, []string{env.C.AdvertisedPeerURL(n)}); err != nil {
		return fmt.Errorf("member add m%d: %w", n, err)
	}
	env.C.Restart(n)
	env.Note("MemberAdd m%d (fresh data dir) in place of m%d", n, victim)
	if err := env.C.WaitMember(ctx, n); err != nil {
		return err
	}
	return env.C.WaitHealthy(ctx)
}
