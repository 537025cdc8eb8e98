package coord_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

const (
	mutexPrefix = "/coord/mutex"
	// counterKey holds "<n> <round id>": the count of guarded increments and who made the last.
	counterKey = "/coord/counter"
	// mutexWorkers contend for the mutex, each with its own client and session.
	mutexWorkers = 8
	// mutexSessionTTL is short, so that sessions cut off by the failover really expire.
	mutexSessionTTL = 3
)

// round is one Lock/Unlock cycle of one worker. Only its worker writes it; other workers only
// keep a pointer to it (in overlaps), and check reads it after every worker has stopped.
type round struct {
	id string
	// worker is the index of the worker, and member the only member its client talks to.
	worker, member int
	// locked: Lock succeeded.
	locked bool
	// entered: the round took the in-memory critical-section flag.
	entered bool
	// ownerAtStart: the first IsOwner-guarded Txn, made after entering, succeeded.
	ownerAtStart bool
	// incremented: the IsOwner-guarded increment of the counter was acknowledged, as value
	// at revision rev.
	incremented bool
	value       int
	rev         int64
	// readFailed: the guarded read of the counter failed with an RPC error; no increment made.
	readFailed bool
	// indeterminate: the increment failed with an RPC error; it may or may not have applied.
	indeterminate bool
	// lost: the session ended or an IsOwner guard failed: the lock was lost during the round.
	lost bool
	// ownerAfter: an IsOwner-guarded Txn made after leaving the critical section succeeded.
	ownerAfter bool
	// unlocked: Unlock succeeded; end is when the round finished.
	unlocked bool
	end      time.Time
}

// overlap records that entrant took the lock while holder was still inside the critical section.
type overlap struct{ holder, entrant *round }

// mutexRun is the state shared by the contending workers.
type mutexRun struct {
	// inCS is the "in critical section" flag: the round inside, or nil.
	inCS atomic.Pointer[round]
	// csCount is the in-memory counter; only a round that took inCS touches it.
	csCount int

	locked       atomic.Int64 // Lock calls that succeeded
	completed    atomic.Int64 // rounds that incremented the counter and unlocked
	sessions     atomic.Int64 // sessions created
	sessionsLost atomic.Int64 // sessions whose Done channel closed
	// sessionsRetired counts sessions closed after a round of unknown outcome.
	sessionsRetired atomic.Int64

	mu sync.Mutex
	// guarded by mu
	rounds     []*round
	overlaps   []overlap
	violations []string
	// lockErrs counts failed Lock calls by member and error.
	lockErrs map[string]int
	// completedBy counts completed rounds per member, after the time in since.
	since       time.Time
	completedBy map[int]int
}

func (r *mutexRun) violation(format string, args ...any) {
	r.mu.Lock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// countSince restarts the per-member count of completed rounds.
func (r *mutexRun) countSince(t time.Time) {
	r.mu.Lock()
	r.since, r.completedBy = t, map[int]int{}
	r.mu.Unlock()
}

func (r *mutexRun) completedSince(member int) (all, byMember int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.completedBy {
		all += n
	}
	return all, r.completedBy[member]
}

// worker runs rounds until ctx ends. Like a user, it replaces its session when the session's
// Done channel closes: the lease is gone, and with it any lock the session held.
func (r *mutexRun) worker(ctx context.Context, w, member int, cli *clientv3.Client) {
	var s *concurrency.Session
	defer func() {
		if s != nil {
			s.Orphan()
		}
	}()
	for n := 0; ctx.Err() == nil; n++ {
		if s != nil && sessionDone(s) {
			r.sessionsLost.Add(1)
			s = nil
		}
		if s == nil {
			var err error
			s, err = concurrency.NewSession(cli, concurrency.WithTTL(mutexSessionTTL), concurrency.WithContext(ctx))
			if err != nil {
				s = nil
				// Pace the retries while the member is down.
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			r.sessions.Add(1)
		}
		rd := &round{id: fmt.Sprintf("w%d.r%d", w, n), worker: w, member: member}
		r.round(ctx, rd, s, cli)
		if rd.indeterminate || rd.locked && !rd.unlocked {
			// A write of unknown outcome may still apply later, and a failed Unlock leaves the
			// key, which the next Lock of this session would take over with the same create
			// revision: a stale increment could then pass the next round's IsOwner guard.
			// Retire the session so that no later round shares its lock key.
			r.sessionsRetired.Add(1)
			_ = s.Close()
			s = nil
		}
	}
}

func sessionDone(s *concurrency.Session) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

// round locks, increments the store counter under an IsOwner guard and unlocks.
func (r *mutexRun) round(ctx context.Context, rd *round, s *concurrency.Session, cli *clientv3.Client) {
	m := concurrency.NewMutex(s, mutexPrefix)
	// The session's context ends when its lease is lost: stop waiting for the lock then.
	lctx, cancel := context.WithTimeout(s.Ctx(), 20*time.Second)
	err := m.Lock(lctx)
	cancel()
	if err != nil {
		r.mu.Lock()
		r.lockErrs[fmt.Sprintf("m%d: %v", rd.member, err)]++
		r.mu.Unlock()
		// Back off before the next attempt, as a user would.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
		return
	}
	rd.locked = true
	r.locked.Add(1)
	r.enter(rd)

	// Finish the round even when the load stops, so that its outcome is known.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	r.increment(octx, rd, m, s, cli)
	if rd.entered && !r.inCS.CompareAndSwap(rd, nil) {
		r.violation("%s: the critical-section flag was taken from it", rd.id)
	}
	// Still the owner after leaving? Needed to judge an overlap (see checkOverlaps).
	if resp, err := cli.Txn(octx).If(m.IsOwner()).Commit(); err == nil && resp.Succeeded {
		rd.ownerAfter = true
	}
	if err := m.Unlock(octx); err == nil {
		rd.unlocked = true
	}
	rd.end = time.Now()

	r.mu.Lock()
	defer r.mu.Unlock()
	r.rounds = append(r.rounds, rd)
	if rd.incremented && rd.unlocked {
		r.completed.Add(1)
		if r.completedBy != nil && rd.end.After(r.since) {
			r.completedBy[rd.member]++
		}
	}
}

// enter takes the critical-section flag with a CompareAndSwap. If another round holds it, the
// overlap is recorded (and judged at the end) and the in-memory counter is left alone.
func (r *mutexRun) enter(rd *round) {
	for {
		if r.inCS.CompareAndSwap(nil, rd) {
			rd.entered = true
			r.csCount++
			return
		}
		if holder := r.inCS.Load(); holder != nil {
			r.mu.Lock()
			r.overlaps = append(r.overlaps, overlap{holder: holder, entrant: rd})
			r.mu.Unlock()
			return
		}
	}
}

// increment adds one to the store counter inside the lock: read it, then write n+1 only if this
// session still owns the lock and nobody wrote the counter since the read. A lost lock makes a
// guard fail, which is fine; the counter changing while the lock is still owned is not.
func (r *mutexRun) increment(ctx context.Context, rd *round, m *concurrency.Mutex, s *concurrency.Session, cli *clientv3.Client) {
	if sessionDone(s) {
		rd.lost = true
		return
	}
	read, err := cli.Txn(ctx).If(m.IsOwner()).Then(clientv3.OpGet(counterKey)).Commit()
	if err != nil {
		rd.readFailed = true
		return
	}
	if !read.Succeeded {
		rd.lost = true
		return
	}
	rd.ownerAtStart = true
	kvs := read.Responses[0].GetResponseRange().Kvs
	if len(kvs) != 1 {
		r.violation("%s: counter key missing at revision %d", rd.id, read.Header.Revision)
		return
	}
	n, _, err := parseCounter(kvs[0].Value)
	if err != nil {
		r.violation("%s: %v", rd.id, err)
		return
	}
	write, err := cli.Txn(ctx).
		If(m.IsOwner(), clientv3.Compare(clientv3.ModRevision(counterKey), "=", kvs[0].ModRevision)).
		Then(clientv3.OpPut(counterKey, fmt.Sprintf("%d %s", n+1, rd.id))).
		Else(clientv3.OpGet(m.Key()), clientv3.OpGet(counterKey)).
		Commit()
	switch {
	case err != nil:
		rd.indeterminate = true
	case write.Succeeded:
		rd.incremented, rd.value, rd.rev = true, n+1, write.Header.Revision
	case ownsKey(write.Responses[0], m):
		// Still the owner at this revision, and at the read: another writer got in between.
		cur := write.Responses[1].GetResponseRange().Kvs
		r.violation("%s: counter changed while it held the lock: read %q (mod rev %d) at rev %d, now %v at rev %d",
			rd.id, kvs[0].Value, kvs[0].ModRevision, read.Header.Revision, cur, write.Header.Revision)
	default:
		rd.lost = true
	}
}

// ownsKey reports whether a Get of the mutex key shows it with the create revision IsOwner
// compares against.
func ownsKey(resp *pb.ResponseOp, m *concurrency.Mutex) bool {
	kvs := resp.GetResponseRange().Kvs
	own := m.IsOwner()
	want := own.GetCompare().GetCreateRevision()
	return len(kvs) == 1 && kvs[0].CreateRevision == want
}

func parseCounter(v []byte) (n int, id string, err error) {
	ns, id, _ := strings.Cut(string(v), " ")
	n, err = strconv.Atoi(ns)
	if err != nil {
		return 0, "", fmt.Errorf("bad counter value %q: %w", v, err)
	}
	return n, id, nil
}

// concurrency.Mutex contended by 8 sessions keeps mutual exclusion and progress while the Keel
// leader is killed with SIGKILL and restarted.
//
// Mutual exclusion with etcd locks holds only while the holder's session lives, so the checks
// are built to be sound when sessions expire during the failover:
//   - Every holder increments a store counter with a Txn guarded by IsOwner and by the counter's
//     mod revision read under the same guard. If the lock is still owned but the counter moved,
//     two sessions owned the lock at once.
//   - The counter's full history must hold every acknowledged increment exactly once, in order,
//     and nothing else but increments whose outcome was unknown.
//   - The in-memory flag is taken with a CompareAndSwap on entry. An entrant finding another round
//     inside is a violation when both owned the lock according to the store: the entrant's
//     first guarded Txn after entering and the holder's guarded Txn after leaving both
//     succeeded (with linearizable Txns, both keys then existed at a common revision, and both
//     Locks returned: one of them was granted while an older waiter still held the lock).
//   - The in-memory counter equals the number of rounds that took the flag.
func TestMutexSurvivesLeaderKill(t *testing.T) {
	c := startKeel(t)
	ctx := timeout(t, 80*time.Second)
	admin := c.Client(t)
	if _, err := admin.Put(ctx, counterKey, "0 init"); err != nil {
		t.Fatal(err)
	}

	run := &mutexRun{lockErrs: map[string]int{}}
	load, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	clients := make([]*clientv3.Client, mutexWorkers)
	for w := range mutexWorkers {
		member := w % c.Size()
		clients[w] = c.Client(t, member)
		wg.Add(1)
		go func() {
			defer wg.Done()
			run.worker(load, w, member, clients[w])
		}()
	}

	waitCompleted := func(what string, enough func() bool) {
		t.Helper()
		deadline, cancel := context.WithTimeout(ctx, 40*time.Second)
		defer cancel()
		eventually(t, deadline, what, func(context.Context) error {
			if !enough() {
				return fmt.Errorf("%d rounds completed", run.completed.Load())
			}
			return nil
		})
	}
	atLeast := func(n int64) func() bool { return func() bool { return run.completed.Load() >= n } }

	waitCompleted("rounds before the kill", atLeast(20))
	killed, leader := killLeader(t, ctx, c)
	run.countSince(time.Now())
	t.Logf("killed Keel leader m%d at %d completed rounds; new leader m%d", killed, run.completed.Load(), leader)
	waitCompleted("rounds on the two survivors", func() bool { all, _ := run.completedSince(killed); return all >= 20 })

	c.Restart(killed)
	if err := c.WaitMember(ctx, killed); err != nil {
		t.Fatal(err)
	}
	run.countSince(time.Now())
	t.Logf("restarted m%d at %d completed rounds", killed, run.completed.Load())
	// Workers whose client talks only to the restarted member lost their sessions; they must
	// get new ones and take the lock again.
	waitCompleted("rounds after the restart, including one through the restarted member", func() bool {
		all, through := run.completedSince(killed)
		return all >= 20 && through >= 1
	})

	stopLoad()
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		for _, cli := range clients {
			_ = cli.Close()
		}
		<-stopped
		t.Fatal("workers did not stop within 30s of the end of the load")
	}
	run.check(t, ctx, admin)
}

// check judges the run once every worker has stopped.
func (r *mutexRun) check(t *testing.T, ctx context.Context, cli *clientv3.Client) {
	t.Helper()
	var entered, incremented, readFailed, indeterminate, lost, unlocked int
	for _, rd := range r.rounds {
		if rd.entered {
			entered++
		}
		if rd.incremented {
			incremented++
		}
		if rd.indeterminate {
			indeterminate++
		}
		if rd.readFailed {
			readFailed++
		}
		if rd.lost {
			lost++
		}
		if rd.unlocked {
			unlocked++
		}
	}
	t.Logf("sessions: %d created, %d lost, %d retired; Lock ok %d; rounds: %d entered the critical section, %d guarded increments acknowledged, %d failed reads, %d indeterminate, %d lost the lock, %d unlocked; overlaps seen in memory: %d",
		r.sessions.Load(), r.sessionsLost.Load(), r.sessionsRetired.Load(), r.locked.Load(), entered, incremented, readFailed, indeterminate, lost, unlocked, len(r.overlaps))

	for e, n := range r.lockErrs {
		t.Logf("Lock failed %d times: %s", n, e)
	}
	for _, v := range r.violations {
		t.Errorf("mutual exclusion violated: %s", v)
	}
	r.checkOverlaps(t)
	if int64(len(r.rounds)) != r.locked.Load() {
		t.Errorf("%d rounds recorded, %d Locks succeeded", len(r.rounds), r.locked.Load())
	}
	if r.csCount != entered || entered+len(r.overlaps) != len(r.rounds) {
		t.Errorf("in-memory counter %d, %d rounds took the flag, %d overlapped, %d rounds: lost updates",
			r.csCount, entered, len(r.overlaps), len(r.rounds))
	}
	checkCounterHistory(t, ctx, cli, r.rounds)
}

// checkOverlaps fails for every overlap in which both rounds owned the lock by the store's
// account (see TestMutexSurvivesLeaderKill) and logs the others, where a session was lost.
func (r *mutexRun) checkOverlaps(t *testing.T) {
	t.Helper()
	for _, o := range r.overlaps {
		if o.holder.ownerAfter && o.entrant.ownerAtStart {
			t.Errorf("mutual exclusion violated: %s entered the critical section while %s was inside, and both still owned the lock in the store",
				o.entrant.id, o.holder.id)
			continue
		}
		t.Logf("overlap of %s (holder, owner after: %v) and %s (entrant, owner at start: %v): a session was lost, tolerated",
			o.holder.id, o.holder.ownerAfter, o.entrant.id, o.entrant.ownerAtStart)
	}
}

// checkCounterHistory reads every version of the counter and requires each acknowledged
// increment exactly once, at its revision, in an unbroken sequence 1..n, with no write from any
// round but acknowledged or indeterminate ones.
func checkCounterHistory(t *testing.T, ctx context.Context, cli *clientv3.Client, rounds []*round) {
	t.Helper()
	byID := map[string]*round{}
	for _, rd := range rounds {
		byID[rd.id] = rd
	}
	final, err := cli.Get(ctx, counterKey)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var history []*mvccpb.KeyValue
	for wr := range cli.Watch(wctx, counterKey, clientv3.WithRev(1)) {
		if err := wr.Err(); err != nil {
			t.Fatalf("watching the counter history: %v", err)
		}
		for _, ev := range wr.Events {
			if ev.Type != mvccpb.PUT {
				t.Fatalf("counter deleted at revision %d", ev.Kv.ModRevision)
			}
			history = append(history, ev.Kv)
		}
		if len(history) > 0 && history[len(history)-1].ModRevision >= final.Kvs[0].ModRevision {
			break
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("watching the counter history: %v", ctx.Err())
	}
	seen := map[string]int64{}
	applied := 0
	for i, kv := range history {
		n, id, err := parseCounter(kv.Value)
		if err != nil {
			t.Fatal(err)
		}
		if n != i {
			t.Errorf("counter version %d at revision %d is %d, want %d", i, kv.ModRevision, n, i)
		}
		if i == 0 {
			continue
		}
		if prev, ok := seen[id]; ok {
			t.Errorf("round %s incremented twice, at revisions %d and %d", id, prev, kv.ModRevision)
		}
		seen[id] = kv.ModRevision
		rd := byID[id]
		switch {
		case rd == nil:
			t.Errorf("increment at revision %d by unknown round %s", kv.ModRevision, id)
		case rd.incremented && (rd.rev != kv.ModRevision || rd.value != n):
			t.Errorf("round %s: acknowledged %d at revision %d, history has %d at %d", id, rd.value, rd.rev, n, kv.ModRevision)
		case !rd.incremented && !rd.indeterminate:
			t.Errorf("round %s: increment at revision %d that its Txn did not report", id, kv.ModRevision)
		case rd.indeterminate:
			applied++
		}
	}
	acked := 0
	for _, rd := range rounds {
		if !rd.incremented {
			continue
		}
		acked++
		if _, ok := seen[rd.id]; !ok {
			t.Errorf("acknowledged increment of round %s (%d at revision %d) missing from the history", rd.id, rd.value, rd.rev)
		}
	}
	if n, _, _ := parseCounter(final.Kvs[0].Value); n != acked+applied || n != len(history)-1 {
		t.Errorf("final counter %d, want %d acknowledged + %d indeterminate-but-applied increments (history has %d)",
			n, acked, applied, len(history)-1)
	}
	t.Logf("counter: %d increments, %d acknowledged, %d of unknown outcome applied", len(history)-1, acked, applied)
}
