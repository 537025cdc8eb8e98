package robustness_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/failpoint"
	"github.com/keeldb/keel/internal/netfault"
	"github.com/keeldb/keel/internal/proccluster"
)

const (
	// fpWait bounds the wait for an armed failpoint to fire (a panic's member to exit); a
	// failpoint that never fires fails the scenario: it proved nothing.
	fpWait = 60 * time.Second
	// stepTimeout bounds one step of a fault's trigger.
	stepTimeout = 5 * time.Second
	// faultPrefix holds the keys fault triggers write: outside prefix, so the recorded
	// history and the watchers see only the traffic's keys.
	faultPrefix = "faults/"
	// sleepTerm is the term of the sleep faults: each evaluation stalls 100 ms.
	sleepTerm = "sleep(100)"
	// snapshotWrites is how many writes a member cut off from its peers waits for before it
	// is let back: more than --snapshot-count + --snapshot-catchup-entries of snapshotArgs,
	// so the leader has compacted its log past the member and must send a snapshot.
	snapshotWrites = 400
)

// snapshotArgs make every member snapshot every 100 entries (checked every 100 ms) and keep
// only 50 entries after a snapshot, in small raft-wal segments, as tests/failpoints and
// tests/chaos do, so a follower that misses a few hundred writes is sent a snapshot.
var snapshotArgs = []string{"--snapshot-count", "100", "--snapshot-catchup-entries", "50",
	"--snapshot-check-interval", "100ms", "--raft-wal-segment-bytes", "16384"}

// leaseArgs make the leader checkpoint lease TTLs every second (beforeLeaseCheckpoint).
var leaseArgs = []string{"--lease-checkpoint-interval", "1s"}

// compactArgs split a compaction into batches of 10 revisions, so it has chunks to fail between.
var compactArgs = []string{"--experimental-compaction-batch-limit", "10"}

// addArgs appends flag/value pairs to args unless the flag is already there, so that the
// faults of a chain can each ask for what they need.
func addArgs(args []string, pairs ...string) []string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if !slices.Contains(args, pairs[i]) {
			args = append(args, pairs[i], pairs[i+1])
		}
	}
	return args
}

// trigger is what makes the code reach a failpoint; the fault drives it itself, as etcd's
// robustness suite does (triggerCompact, triggerDefrag, triggerBlackholeUntilSnapshot).
type trigger int

const (
	// writes: puts through the other members (raft log append, backend commit).
	trigWrites trigger = iota
	// forward: puts through followers, which forward them to the leader (the target).
	trigForward
	// watch: a watch on the target member and puts through the others.
	trigWatch
	// snapshot: puts past --snapshot-count, so the member persists a snapshot.
	trigSnapshot
	// installSnapshot: the target follower is cut off (peer proxy blackhole) until the
	// others have compacted their logs past it, armed, then let back: the leader sends it a
	// snapshot, which it restores.
	trigInstallSnapshot
	// compact: puts of one key, then a compaction at the reference watcher's bound.
	trigCompact
	// defrag: Defragment of the target member.
	trigDefrag
	// leaseRevoke: grant, attach a key, revoke.
	trigLeaseRevoke
	// leaseCheckpoint: one long lease the leader checkpoints every second (leaseArgs).
	trigLeaseCheckpoint
)

// failpointFault arms one failpoint with a panic or a sleep term on the member target picks,
// triggers it, and heals: a panic must stop the member (else the fault fails: the failpoint
// was never hit), which is then restarted; a sleep is left armed under traffic until it has
// fired and the traffic made progress, then disarmed.
type failpointFault struct {
	fp      failpoint.Name
	term    string // "panic" or sleepTerm
	target  target
	trigger trigger
}

// failpointFaults are the failpoint faults of the random pool: a panic at every failpoint,
// on the member its trigger reaches, and sleeps where a stall matters.
func failpointFaults() []failpointFault {
	p := func(fp failpoint.Name, tg target, tr trigger) failpointFault {
		return failpointFault{fp: fp, term: "panic", target: tg, trigger: tr}
	}
	s := func(fp failpoint.Name, tg target, tr trigger) failpointFault {
		return failpointFault{fp: fp, term: sleepTerm, target: tg, trigger: tr}
	}
	return []failpointFault{
		p(failpoint.RaftBeforeSave, leaderMember, trigWrites), p(failpoint.RaftBeforeSave, followerMember, trigWrites),
		p(failpoint.RaftAfterSave, leaderMember, trigWrites), p(failpoint.RaftAfterSave, followerMember, trigWrites),
		p(failpoint.BackendBeforeCommit, anyMember, trigWrites), p(failpoint.BackendAfterCommit, anyMember, trigWrites),
		p(failpoint.RaftBeforeSaveSnap, anyMember, trigSnapshot), p(failpoint.RaftAfterSaveSnap, anyMember, trigSnapshot),
		p(failpoint.BeforeRestoreSwap, followerMember, trigInstallSnapshot),
		p(failpoint.AfterRestoreSwap, followerMember, trigInstallSnapshot),
		p(failpoint.CompactBeforeCommitBatch, anyMember, trigCompact),
		p(failpoint.CompactAfterCommitBatch, anyMember, trigCompact),
		p(failpoint.DefragBeforeCopy, anyMember, trigDefrag), p(failpoint.DefragBeforeRename, anyMember, trigDefrag),
		p(failpoint.DefragAfterCatchUp, anyMember, trigDefrag), p(failpoint.DefragAfterRename, anyMember, trigDefrag),
		p(failpoint.BeforeLeaseRevoke, anyMember, trigLeaseRevoke),
		p(failpoint.AfterLeaseRevoke, anyMember, trigLeaseRevoke),
		p(failpoint.BeforeLeaseCheckpoint, anyMember, trigLeaseCheckpoint),
		p(failpoint.BeforeForwardReply, leaderMember, trigForward),
		p(failpoint.BeforeSendWatchResponse, anyMember, trigWatch),
		s(failpoint.RaftBeforeSave, leaderMember, trigWrites), s(failpoint.RaftAfterSave, followerMember, trigWrites),
		s(failpoint.BackendBeforeCommit, anyMember, trigWrites),
		s(failpoint.CompactBeforeCommitBatch, anyMember, trigCompact),
		s(failpoint.DefragBeforeRename, anyMember, trigDefrag),
		s(failpoint.BeforeForwardReply, leaderMember, trigForward),
		s(failpoint.BeforeSendWatchResponse, anyMember, trigWatch),
	}
}

func (f failpointFault) Name() string {
	return fmt.Sprintf("%s-%s-%s", f.fp, strings.SplitN(f.term, "(", 2)[0], f.target)
}

func (f failpointFault) Available(n int) bool {
	switch {
	case f.trigger == trigInstallSnapshot:
		return n >= 3 // a quorum stays while the target is cut off
	case f.trigger == trigForward:
		return n > 1 // only a follower forwards
	case f.target == followerMember:
		return n > 1
	}
	return true
}

// ConfigureCluster asks for keeld built with failpoints and a gofail endpoint on every
// member (the runner builds the binary), plus the flags and proxies the trigger needs.
func (f failpointFault) ConfigureCluster(cfg *proccluster.Config) {
	cfg.GofailHTTP = true
	switch f.trigger {
	case trigSnapshot:
		cfg.ExtraArgs = addArgs(cfg.ExtraArgs, snapshotArgs...)
	case trigInstallSnapshot:
		cfg.ExtraArgs = addArgs(cfg.ExtraArgs, snapshotArgs...)
		cfg.PeerProxies = true
	case trigCompact:
		cfg.ExtraArgs = addArgs(cfg.ExtraArgs, compactArgs...)
	case trigLeaseCheckpoint:
		cfg.ExtraArgs = addArgs(cfg.ExtraArgs, leaseArgs...)
	}
}

// compacts reports whether the fault compacts the history (the member watchers must then be
// ready to re-list).
func (f failpointFault) compacts() bool { return f.trigger == trigCompact }

func (f failpointFault) Inject(ctx context.Context, env *Env) error {
	i, err := f.target.pick(ctx, env)
	if err != nil {
		return err
	}
	role := f.target.String()
	if f.target == anyMember && len(env.Live()) > 1 {
		role = map[bool]string{true: "leader", false: "follower"}[env.IsLeader(ctx, i)]
	}
	if f.term == "panic" {
		env.ExpectPanic(i, "failpoint "+string(f.fp)+":")
	}
	if f.trigger == trigInstallSnapshot {
		return f.injectAtInstall(ctx, env, i)
	}
	if err := env.C.ArmFailpoint(ctx, i, f.fp, f.term); err != nil {
		return err
	}
	env.Note("armed %s=%s on m%d (%s)", f.fp, f.term, i, role)
	tr := startTrigger(ctx, env, f.trigger, i)
	defer tr.stop()
	if f.term == "panic" {
		if err := f.waitPanic(ctx, env, i); err != nil {
			return err
		}
		tr.stop()
		env.C.Restart(i)
		env.Note("restart m%d", i)
		// The new process starts with nothing armed: the restart disarmed it.
		return env.C.WaitHealthy(ctx)
	}
	// A sleep: wait until it has fired, keep it armed while the traffic makes progress.
	if _, err := waitFired(ctx, env, i, f.fp); err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, maxHold)
	if err := env.WaitProgress(hctx, faultWrites); err != nil && ctx.Err() == nil {
		env.Note("traffic stalled while %s slept on m%d: %v", f.fp, i, err)
	}
	cancel()
	n, err := env.C.FailpointCount(ctx, i, f.fp)
	if err != nil {
		return err
	}
	if err := env.C.DisarmFailpoint(ctx, i, f.fp); err != nil {
		return err
	}
	tr.stop()
	env.Note("disarmed %s on m%d after it fired %d times", f.fp, i, n)
	return env.C.WaitHealthy(ctx)
}

// waitFired polls failpoint fp's count on member i until it has fired.
func waitFired(ctx context.Context, env *Env, i int, fp failpoint.Name) (int, error) {
	wctx, cancel := context.WithTimeout(ctx, fpWait)
	defer cancel()
	for {
		n, err := env.C.FailpointCount(wctx, i, fp)
		if err == nil && n > 0 {
			return n, nil
		}
		select {
		case <-wctx.Done():
			return 0, fmt.Errorf("%s armed on m%d never fired (count %d, %v): the fault proved nothing", fp, i, n, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitPanic polls until member i has exited, and checks that its log names the failpoint's
// panic since its last start.
func (f failpointFault) waitPanic(ctx context.Context, env *Env, i int) error {
	wctx, cancel := context.WithTimeout(ctx, fpWait)
	defer cancel()
	for env.C.Running(i) {
		select {
		case <-wctx.Done():
			n, err := env.C.FailpointCount(ctx, i, f.fp)
			return fmt.Errorf("m%d still running %v after %s=panic was armed (fired %d times, %v): the fault proved nothing",
				i, fpWait, f.fp, n, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if _, err := env.C.WaitExit(wctx, i); err != nil {
		return err
	}
	b, _ := os.ReadFile(env.C.LogPath(i))
	log := string(b)
	if j := strings.LastIndex(log, ": exec "); j >= 0 {
		log = log[j:] // since its last start (proccluster logs "... : exec ..." at every start)
	}
	if want := "failpoint " + string(f.fp) + ":"; !strings.Contains(log, want) {
		return fmt.Errorf("m%d exited, but its log has no %q since its last start", i, want)
	}
	env.Note("m%d panicked at %s", i, f.fp)
	return nil
}

// injectAtInstall cuts follower i off until the leader must send it a snapshot, arms the
// failpoint, lets it back, and waits for it to panic while restoring the snapshot.
func (f failpointFault) injectAtInstall(ctx context.Context, env *Env, i int) error {
	arm := func() error {
		if err := env.C.ArmFailpoint(ctx, i, f.fp, f.term); err != nil {
			return err
		}
		env.Note("armed %s=%s on m%d (follower, cut off)", f.fp, f.term, i)
		return nil
	}
	if err := blackholeUntilSnapshot(ctx, env, i, arm); err != nil {
		return err
	}
	if err := f.waitPanic(ctx, env, i); err != nil {
		return err
	}
	env.C.Restart(i)
	env.Note("restart m%d", i)
	return env.C.WaitHealthy(ctx)
}

// blackholeUntilSnapshot blackholes member i's peer traffic both ways until the others have
// made snapshotWrites writes (past a snapshot and its catch-up entries), runs beforeHeal, and
// heals (etcd's triggerBlackholeUntilSnapshot).
func blackholeUntilSnapshot(ctx context.Context, env *Env, i int, beforeHeal func() error) error {
	px := env.C.PeerProxy(i)
	px.Blackhole(netfault.Both)
	env.Note("blackhole m%d both ways until a snapshot", i)
	err := func() error {
		others := env.C.Client(env.T, othersThan(env, i)...)
		var seq atomic.Int64
		for n := 0; n < snapshotWrites; {
			if err := putFault(ctx, others, &seq); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("writes while m%d was cut off: %w", i, err)
				}
				continue
			}
			n++
		}
		if st := px.Stats(); st.Rx.BlackholedBytes+st.Tx.BlackholedBytes == 0 {
			return fmt.Errorf("blackhole of m%d discarded nothing", i)
		}
		return beforeHeal()
	}()
	env.C.HealPeers()
	env.Note("heal m%d", i)
	return err
}

// othersThan returns the live members other than i (i itself in a one-member cluster).
func othersThan(env *Env, i int) []int {
	out := slices.DeleteFunc(env.Live(), func(j int) bool { return j == i })
	if len(out) == 0 {
		return []int{i}
	}
	return out
}

// putFault writes one fresh key under faultPrefix.
func putFault(ctx context.Context, cli *clientv3.Client, seq *atomic.Int64) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	_, err := cli.Put(ctx, fmt.Sprintf("%sw/%d", faultPrefix, seq.Add(1)), "v")
	return err
}

// triggerLoop runs a trigger's steps in its own goroutine until stop, which joins it.
type triggerLoop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *triggerLoop) stop() {
	l.cancel()
	<-l.done
}

// startTrigger starts the steps that make the code reach the failpoint on member i. Clients
// are made here, on the test goroutine.
func startTrigger(ctx context.Context, env *Env, tr trigger, i int) *triggerLoop {
	ctx, cancel := context.WithCancel(ctx)
	l := &triggerLoop{cancel: cancel, done: make(chan struct{})}
	others := env.C.Client(env.T, othersThan(env, i)...)
	target := env.C.Client(env.T, i)
	endpoint := env.C.Endpoint(i)
	var seq atomic.Int64
	put := func(ctx context.Context) error { return putFault(ctx, others, &seq) }
	var step func(ctx context.Context) error
	switch tr {
	case trigWrites, trigForward, trigSnapshot:
		step = put
	case trigWatch:
		// Each step watches the target (in the step's goroutine: opening a watch on a dead
		// member blocks until it is back), writes through the others and waits for the event.
		step = func(ctx context.Context) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			wch := target.Watch(clientv3.WithRequireLeader(ctx), faultPrefix, clientv3.WithPrefix())
			if err := put(ctx); err != nil {
				return err
			}
			select {
			case <-wch:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	case trigCompact:
		step = func(ctx context.Context) error {
			for range 12 {
				if _, err := others.Put(ctx, faultPrefix+"compact", "v"); err != nil {
					return err
				}
			}
			rev := env.CompactBound()
			env.Compacting(rev)
			_, err := others.Compact(ctx, rev)
			_ = err // an older bound than the last compaction is refused; the next step retries
			return nil
		}
	case trigDefrag:
		step = func(ctx context.Context) error {
			if env.C.Running(i) {
				_, _ = others.Defragment(ctx, endpoint)
			}
			return put(ctx)
		}
	case trigLeaseRevoke:
		step = func(ctx context.Context) error {
			l, err := others.Grant(ctx, 60)
			if err != nil {
				return err
			}
			if _, err := others.Put(ctx, faultPrefix+"lease", "v", clientv3.WithLease(l.ID)); err != nil {
				return err
			}
			_, err = others.Revoke(ctx, l.ID)
			return err
		}
	case trigLeaseCheckpoint:
		granted := false
		step = func(ctx context.Context) error {
			if !granted {
				_, err := others.Grant(ctx, 120)
				granted = err == nil
			}
			return put(ctx)
		}
	}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			sctx, scancel := context.WithTimeout(ctx, stepTimeout)
			err := step(sctx)
			scancel()
			if err != nil {
				select { // pace a failing step (the member may be down); not a wait for state
				case <-ctx.Done():
				case <-time.After(retryPause):
				}
			}
		}
	}()
	return l
}
