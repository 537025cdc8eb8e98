package robustness_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/kvhist"
	"github.com/keeldb/keel/internal/proccluster"
	"github.com/keeldb/keel/internal/watchcheck"
)

const (
	// prefix holds every key the traffic writes; the watchers watch it.
	prefix = "robustness/"
	// opTimeout bounds one client operation. It is longer than an election, so most
	// operations survive a fault; those that do not become unknown-outcome writes or
	// dropped reads.
	opTimeout = 3 * time.Second
	// retryPause paces a client after a failed operation, so that a fault without a quorum
	// left does not flood the history with unknown-outcome writes.
	retryPause = 200 * time.Millisecond
	// warmupWrites is how many successful operations the traffic makes before the fault.
	warmupWrites = 30
	// faultWrites is how many more successful operations the traffic makes after the fault
	// (and a member replacement while the cluster is one member short).
	faultWrites = 30
	// downWrites is how many successful operations a fault waits for while a member is down
	// and a quorum is left. Clients whose requests go to a paused member wait out
	// opTimeout, so this is kept small.
	downWrites = 10
	// maxHold bounds how long a member stays down waiting for downWrites.
	maxHold = 10 * time.Second
	// faultHold is how long a member stays down when no quorum is left to make progress.
	faultHold = 1500 * time.Millisecond
	// waitTimeout bounds every wait for cluster state and traffic progress.
	waitTimeout = 60 * time.Second
	// checkTimeout bounds porcupine; a history it cannot decide in time is a violation.
	checkTimeout = 2 * time.Minute
	// defaultTrafficTime is how long a scenario's traffic runs, fault included.
	defaultTrafficTime = 6 * time.Second
	// probeIDBase is the first client ID faults take for the operations they record.
	probeIDBase = 1000
	// faultTimeout bounds one fault's injection and healing (a chain gets one per fault).
	faultTimeout = 2 * time.Minute
)

// Scenario is one robustness run: a cluster size, a traffic profile and one fault, seeded.
type Scenario struct {
	Name    string
	Members int
	Traffic Profile
	Fault   Fault
	Seed    uint64
	// TrafficTime is how long the traffic runs; 0 means defaultTrafficTime.
	TrafficTime time.Duration
	// ExtraArgs are added to every member's flags (the mutation check's unsafe flags).
	ExtraArgs []string
	// Repro is the command line that replays the scenario, printed on failure.
	Repro string
}

// Profile makes a scenario's traffic.
type Profile struct {
	Name string
	// Compacts is whether the traffic compacts the history (watchers then re-list).
	Compacts bool
	New      func(seed uint64) Traffic
}

// Traffic is a profile's clients. Start runs on the test goroutine and starts goroutines
// that Stop ends and joins (Stop is idempotent). The clients record into Env.Rec what
// porcupine checks, and keep what their own Check needs.
type Traffic interface {
	Start(env *Env)
	Stop()
	// Progress counts the traffic's successful operations so far.
	Progress() int
	// Check runs the profile's own checks on the finished scenario.
	Check(ctx context.Context, env *Env, res *result) []violation
}

// Env is what faults and traffic get to act on a scenario's cluster. Its methods that
// change the cluster must be called from the test goroutine.
type Env struct {
	T *testing.T
	C *proccluster.Cluster
	// Rand is the faults' random source (seeded by the scenario); test goroutine only.
	Rand *rand.Rand
	// Rec records the operations porcupine checks.
	Rec *kvhist.Recorder
	// Seed is the scenario's seed; traffic derives its sources from it.
	Seed uint64

	traffic Traffic
	ref     *watcher

	mu sync.Mutex
	// guarded by mu
	nextID  int
	removed []int
	notes   []string
	markers map[string]bool
	// expected maps a member to the texts of the panics faults caused on purpose in it.
	expected map[int][]string
	// fired lists the faults that were injected, in order, for the report.
	fired []string
	// compactedAt are the revisions compactions were sent at.
	compactedAt []int64
}

// Compacting records that a compaction at rev is about to be sent (it may apply even if
// the call fails): a watch event at that revision may then carry no prev_kv
// (watchcheck.Options.CompactedAt).
func (e *Env) Compacting(rev int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.compactedAt = append(e.compactedAt, rev)
}

// compactions returns what Compacting recorded.
func (e *Env) compactions() []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.compactedAt)
}

// ExpectPanic declares that member i's log may hold a panic whose message contains text (a
// failpoint's panic, caused on purpose): the panic check does not flag it.
func (e *Env) ExpectPanic(i int, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.expected == nil {
		e.expected = map[int][]string{}
	}
	e.expected[i] = append(e.expected[i], text)
}

// expectedPanics returns the texts ExpectPanic declared for member i.
func (e *Env) expectedPanics(i int) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.expected[i])
}

// Fired records that a fault was injected and did what it should (a failpoint fired, a
// network fault bit), for the scenario's report.
func (e *Env) Fired(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fired = append(e.fired, name)
}

// firedFaults returns what Fired recorded.
func (e *Env) firedFaults() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.fired)
}

// Note records (and logs) what a fault did, for the report.
func (e *Env) Note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.mu.Lock()
	e.notes = append(e.notes, msg)
	e.mu.Unlock()
	e.T.Logf("robustness: %.1fs: %s", time.Duration(e.Rec.Now()).Seconds(), msg)
}

// NewClientID returns a client ID for recorded operations no other client uses.
func (e *Env) NewClientID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextID++
	return probeIDBase + e.nextID
}

// Live returns the members that are part of the cluster (not removed), running or not.
func (e *Env) Live() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []int
	for i := range e.C.Size() {
		if !slices.Contains(e.removed, i) {
			out = append(out, i)
		}
	}
	return out
}

// Remove marks member i as removed from the cluster for good: the checks leave it out.
func (e *Env) Remove(i int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.removed = append(e.removed, i)
}

// removedMember reports whether member i was removed.
func (e *Env) removedMember(i int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Contains(e.removed, i)
}

// IsLeader reports whether member i says it is the leader.
func (e *Env) IsLeader(ctx context.Context, i int) bool {
	st, err := e.C.Status(ctx, i)
	return err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId
}

// WaitProgress waits until the traffic has made n more successful operations.
func (e *Env) WaitProgress(ctx context.Context, n int) error {
	want := e.traffic.Progress() + n
	for {
		got := e.traffic.Progress()
		if got >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("traffic made %d successful operations, want %d: %w", got, want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// CompactBound is the highest revision the traffic may compact at: the reference watcher,
// whose history the checks use, must have delivered it.
func (e *Env) CompactBound() int64 { return e.ref.delivered() }

// violation is one broken guarantee a check found.
type violation struct {
	// check names the check: linearizable, lost-write, history, watch, converge, panic,
	// or a profile's own (lease, k8s, lock).
	check string
	msg   string
}

func (v violation) String() string { return v.check + ": " + v.msg }

// report is what a scenario run found.
type report struct {
	violations []violation
	// artifacts is the directory the scenario's evidence was kept in ("" if none).
	artifacts string
	summary   string
}

// has reports whether a violation of check was found.
func (r report) has(check string) bool {
	for _, v := range r.violations {
		if v.check == check {
			return true
		}
	}
	return false
}

// runScenario runs sc and checks it. With keep, a scenario with violations keeps its
// evidence in a directory the report names; otherwise nothing is kept.
func runScenario(t *testing.T, sc Scenario, keep bool) report {
	t.Helper()
	if sc.TrafficTime == 0 {
		sc.TrafficTime = defaultTrafficTime
	}
	t.Logf("robustness: scenario %s: %d members, traffic %s, fault %s, seed %d", sc.Name, sc.Members,
		sc.Traffic.Name, sc.Fault.Name(), sc.Seed)
	cfg := proccluster.Config{Binary: proccluster.BuildKeeld(t), Members: sc.Members, ExtraArgs: sc.ExtraArgs,
		LogDir: filepath.Join(t.TempDir(), "logs")}
	if d := os.Getenv(envLogDir); d != "" {
		cfg.LogDir = d
	}
	if cc, ok := sc.Fault.(ClusterConfigurer); ok {
		cc.ConfigureCluster(&cfg)
	}
	// A fault that asks for gofail endpoints needs keeld built with failpoints; proxies
	// draw their jitter and drops from the scenario's seed.
	if cfg.GofailHTTP {
		cfg.Binary = proccluster.BuildKeeldWithTags(t, "failpoints")
	}
	if cfg.PeerProxies && cfg.PeerProxySeed == 0 {
		cfg.PeerProxySeed = sc.Seed
	}
	c := proccluster.Start(t, cfg)
	env := &Env{T: t, C: c, Rand: rand.New(rand.NewPCG(sc.Seed, 0xfa17)), Rec: kvhist.NewRecorder(), Seed: sc.Seed,
		markers: map[string]bool{}}
	steps := time.Duration(faultSteps(sc.Fault))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+steps*faultTimeout)
	defer cancel()

	env.ref = startWatcher(watcherConfig{name: "reference", cli: c.Client(t), start: 1, member: -1,
		opts: watchcheck.Options{PrevKV: true}})
	t.Cleanup(env.ref.stop)
	traffic := sc.Traffic.New(sc.Seed)
	env.traffic = traffic
	began := time.Now()
	traffic.Start(env)
	t.Cleanup(traffic.Stop)
	fatal := func(what string, err error) {
		t.Helper()
		t.Fatalf("robustness: scenario %s (seed %d): %s: %v\nreproduce: %s", sc.Name, sc.Seed, what, err, sc.Repro)
	}
	if err := env.WaitProgress(ctx, warmupWrites); err != nil {
		fatal("warm-up", err)
	}
	if rest := sc.TrafficTime/4 - time.Since(began); rest > 0 {
		<-time.After(rest) // a quarter of the traffic before the fault, not a wait for state
	}
	watchers := startMemberWatchers(env, sc.Traffic.Compacts || faultCompacts(sc.Fault))

	fctx, fcancel := context.WithTimeout(ctx, steps*faultTimeout)
	err := sc.Fault.Inject(fctx, env)
	fcancel()
	if err != nil {
		fatal("fault "+sc.Fault.Name(), err)
	}
	if _, chain := sc.Fault.(chainFault); !chain {
		env.Fired(sc.Fault.Name())
	}
	t.Logf("robustness: scenario %s: faults fired: %s", sc.Name, strings.Join(env.firedFaults(), ", "))
	wctx, wcancel := context.WithTimeout(ctx, waitTimeout)
	err = env.WaitProgress(wctx, faultWrites)
	wcancel()
	if err != nil {
		fatal("traffic after the fault", err)
	}
	if rest := sc.TrafficTime - time.Since(began); rest > 0 {
		<-time.After(rest) // the traffic's duration, not a wait for state
	}
	traffic.Stop()
	if err := c.WaitHealthy(ctx); err != nil {
		fatal("healthy after the traffic", err)
	}
	return check(ctx, env, sc, traffic, watchers, keep)
}

// reproduce returns the command line that replays one scenario of the test named test.
func reproduce(test string, seed uint64) string {
	return fmt.Sprintf("go test -count=1 -v -run '%s' ./tests/robustness/ -seed=%d", test, seed)
}

// keepArtifacts writes a failed scenario's evidence to a new directory and returns it.
func keepArtifacts(t *testing.T, env *Env, sc Scenario, dir string, res *result, rep report) {
	t.Helper()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Logf("robustness: keeping %s: %v", name, err)
		}
	}
	write("history.json", historyJSON(env.Rec.Snapshot()))
	write("watch.json", jsonOf(res.refResps))
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s: %d members, traffic %s, fault %s, seed %d\nreproduce: %s\n\nfault notes:\n",
		sc.Name, sc.Members, sc.Traffic.Name, sc.Fault.Name(), sc.Seed, sc.Repro)
	env.mu.Lock()
	for _, n := range env.notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	env.mu.Unlock()
	b.WriteString("\nviolations:\n")
	for _, v := range rep.violations {
		fmt.Fprintf(&b, "  %s\n", v)
	}
	write("report.txt", []byte(b.String()))
	for i := range env.C.Size() {
		if data, err := os.ReadFile(env.C.LogPath(i)); err == nil {
			write(env.C.Name(i)+".log", data)
		}
	}
}

// artifactsDir makes the directory a scenario's evidence goes to.
func artifactsDir(t *testing.T, sc Scenario) string {
	t.Helper()
	parent := os.Getenv(envArtifacts)
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(sc.Name)
	dir, err := os.MkdirTemp(parent, fmt.Sprintf("keel-robustness-%s-%d-", name, sc.Seed))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// failOn fails the test with a scenario's violations, where its evidence is and how to
// replay it.
func failOn(t *testing.T, sc Scenario, rep report) {
	t.Helper()
	if len(rep.violations) == 0 {
		t.Logf("robustness %s: %s", sc.Name, rep.summary)
		return
	}
	for i, v := range rep.violations {
		if i == 20 {
			t.Errorf("... and %d more violations", len(rep.violations)-i)
			break
		}
		t.Errorf("violation: %s", v)
	}
	t.Errorf("robustness: scenario %s failed with seed %d; evidence (history.json, watch.json, member logs, "+
		"porcupine's keel-history-*.html when not linearizable) in %s\nreproduce: %s", sc.Name, sc.Seed, rep.artifacts, sc.Repro)
}
