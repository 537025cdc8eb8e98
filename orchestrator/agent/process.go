package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// podRunner runs one pod's containers. Its loop goroutine owns the pod's processes and
// every field below mu's group; waiters and probers report to it through events.
type podRunner struct {
	rt  *procRuntime
	key string
	uid string
	dir string
	ip  string
	log *slog.Logger

	// mu guards latest, removed and evictReq.
	mu       sync.Mutex
	latest   *api.Pod
	removed  bool
	evictReq *evictRequest // set by the eviction manager (evictionmanager.go)
	wake     chan struct{} // capacity 1: latest or removed changed

	// Owned by the loop goroutine.
	pod         *api.Pod
	ctrs        []*ctr
	events      chan ctrEvent
	workers     sync.WaitGroup // waiters and probers
	terminal    bool           // terminal when first seen without local state: run nothing
	terminating bool
	deleted     bool
	initDone    bool          // every init container completed (or, a sidecar, started) once
	released    bool          // the pod IP went back to the pool (the pod is terminal)
	retryAt     time.Time     // when a failed store write is retried
	volumesAt   time.Time     // when the projected volumes are rewritten next (volumes.go); zero = never
	volumesOK   bool          // every volume was set up once
	evicted     *evictRequest // the pod is being evicted: its containers stop, none restarts
}

// ctr is one container of a podRunner.
type ctr struct {
	spec         api.Container
	init         bool // an init container: runs, in order, before the app containers
	sidecar      bool // an init container with restartPolicy Always: keeps running
	dir          string
	restartCount int32
	state, last  api.ContainerState
	ready        bool
	started      bool
	containerID  string
	env          []string
	user         map[string]string // the variables the spec defines, for $(VAR) in argv
	workdir      string
	pids         *shimPids // the running attempt's processes; nil when not running
	child        bool      // the shim is this process's child (reap it)
	stop         context.CancelFunc
	startedCh    chan struct{} // closed when the startup probe passed (or there is none)
	startedAt    time.Time
	backoff      time.Duration
	nextStart    time.Time          // restart due; zero = start now if not done
	restart      bool               // the next start is a restart (restartCount grows)
	killAt       time.Time          // SIGKILL due (graceful stop in progress)
	done         bool               // terminated for good, or refused
	postStarting bool               // the postStart hook of this attempt runs: not ready yet
	preStopping  bool               // the preStop hook runs: SIGTERM when it ends
	probeOK      bool               // the readiness probe's last result
	hookCancel   context.CancelFunc // of the running preStop hook
	warned       string             // the last Warning event's message (configsource.go)
}

// ctrState is <container dir>/state.json, written before each attempt starts.
type ctrState struct {
	RestartCount int32              `json:"restartCount"`
	StartedAt    time.Time          `json:"startedAt"`
	LastState    api.ContainerState `json:"lastState,omitzero"`
	Backoff      time.Duration      `json:"backoff,omitempty"`
}

// ctrEvent is a waiter's, prober's or hook's report about attempt of container ctr.
type ctrEvent struct {
	ctr     int
	attempt int32
	exit    *shimExit // the attempt ended
	probe   string    // liveness, readiness or startup
	hook    string    // postStart or preStop ended
	ok      bool
	err     error // the hook's failure
}

func newPodRunner(rt *procRuntime, p *api.Pod, dir string, ip netip.Addr) *podRunner {
	r := &podRunner{rt: rt, key: api.KeyFunc(p), uid: p.UID, dir: dir, latest: p, wake: make(chan struct{}, 1),
		events: make(chan ctrEvent, 16), log: rt.log.With("pod", api.KeyFunc(p))}
	if ip.IsValid() {
		r.ip = ip.String()
	} else {
		r.ip = p.Status.PodIP
	}
	return r
}

func (r *podRunner) update(p *api.Pod) {
	r.mu.Lock()
	r.latest = p
	r.mu.Unlock()
	r.poke()
}

func (r *podRunner) remove() {
	r.mu.Lock()
	r.removed = true
	r.mu.Unlock()
	r.poke()
}

func (r *podRunner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run is the runner's loop; it returns when the pod is removed or ctx ends.
func (r *podRunner) run(ctx context.Context) {
	defer r.rt.wg.Done()
	r.pod = r.latest
	r.init(ctx)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.mu.Lock()
		p, removed, ev := r.latest, r.removed, r.evictReq
		r.mu.Unlock()
		r.pod = p
		if ev != nil && r.evicted == nil && !r.terminal {
			r.beginEviction(ctx, ev, time.Now())
		}
		if removed {
			r.cleanup()
			return
		}
		r.reconcile(ctx)
		timer.Reset(r.nextWake())
		select {
		case <-ctx.Done():
			r.shutdown()
			return
		case <-r.wake:
		case ev := <-r.events:
			r.handle(ctx, ev)
		case <-timer.C:
		}
	}
}

// init builds the containers, adopting the processes a previous agent left running.
func (r *podRunner) init(ctx context.Context) {
	p := r.pod
	_, err := os.Stat(filepath.Join(r.dir, "pod.json"))
	local := err == nil
	if !local && (p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed) ||
		p.Status.Phase == api.PodFailed && p.Status.Reason == EvictedReason {
		r.terminal = true // an evicted pod's containers were stopped before it was reported
		return
	}
	if !local {
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			r.log.Error("cannot create pod dir", "err", err)
		}
		_ = writeJSON(filepath.Join(r.dir, "pod.json"), podRecord{Namespace: p.Namespace, Name: p.Name, UID: p.UID, IP: r.ip})
	}
	stored := map[string]api.ContainerStatus{}
	for _, cs := range p.Status.ContainerStatuses {
		stored[cs.Name] = cs
	}
	specs := append(append([]api.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...)
	for _, cs := range p.Status.InitContainerStatuses {
		stored[cs.Name] = cs
	}
	for i, spec := range specs {
		c := &ctr{spec: spec, dir: filepath.Join(r.dir, spec.Name), init: i < len(p.Spec.InitContainers)}
		c.sidecar = c.init && spec.RestartPolicy == api.RestartAlways
		c.state = api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "ContainerCreating"}}
		r.ctrs = append(r.ctrs, c)
	}
	if refreshable(p) {
		r.volumesAt = time.Now()
	}
	r.initDone = len(p.Spec.InitContainers) == 0
	for _, c := range p.Status.Conditions {
		r.initDone = r.initDone || c.Type == "Initialized" && c.Status == api.ConditionTrue
	}
	now := time.Now()
	for i, c := range r.ctrs {
		var st ctrState
		if err := readJSON(filepath.Join(c.dir, "state.json"), &st); err == nil {
			r.adopt(ctx, i, st, stored[c.spec.Name])
			continue
		}
		cs, ok := stored[c.spec.Name]
		if !ok || cs.State.Waiting != nil && cs.LastState.Terminated == nil {
			continue // never ran
		}
		// It ran under an agent whose state is lost: carry on from the stored status.
		c.restartCount, c.last = cs.RestartCount, cs.LastState
		switch t := cs.State.Terminated; {
		case t != nil:
			c.state = api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: t.StartedAt}}
			r.exited(i, &shimExit{ExitCode: t.ExitCode, Signal: t.Signal, Reason: t.Reason, Message: t.Message,
				FinishedAt: t.FinishedAt.Time}, now)
		case cs.State.Running != nil:
			c.state = cs.State
			u := unknownTermination(now)
			r.exited(i, &shimExit{ExitCode: u.ExitCode, Reason: u.Reason, Message: u.Message, FinishedAt: now}, now)
		default: // waiting to restart
			c.restart = true
		}
	}
}

func unknownTermination(now time.Time) *api.ContainerStateTerminated {
	return &api.ContainerStateTerminated{ExitCode: 137, Reason: "ContainerStatusUnknown",
		Message: "The container could not be located when the pod was terminated", FinishedAt: api.NewTime(now)}
}

// adopt resumes container i from its state file: still running (watch it), ended while the
// agent was away (apply the restart policy), or lost.
func (r *podRunner) adopt(ctx context.Context, i int, st ctrState, stored api.ContainerStatus) {
	c := r.ctrs[i]
	c.restartCount, c.last, c.backoff, c.startedAt = st.RestartCount, st.LastState, st.Backoff, st.StartedAt
	c.state = api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: api.NewTime(st.StartedAt)}}
	var pids shimPids
	if readJSON(pidFile(c.dir, c.restartCount), &pids) == nil {
		c.containerID = "process://" + strconv.Itoa(pids.Pid)
	}
	var ex shimExit
	if readJSON(exitFile(c.dir, c.restartCount), &ex) == nil {
		r.exited(i, &ex, ex.FinishedAt)
		return
	}
	if pids.Shim == 0 || !alive(pids.Shim, pids.ShimStart) {
		killRecorded(pids, syscall.SIGKILL)
		t := unknownTermination(time.Now())
		r.exited(i, &shimExit{ExitCode: t.ExitCode, Reason: t.Reason, Message: t.Message, FinishedAt: time.Now()}, time.Now())
		return
	}
	if err := r.prepareExec(ctx, c); err != nil {
		r.log.Warn("adopted container has an invalid spec", "container", c.spec.Name, "err", err)
	}
	same := stored.RestartCount == c.restartCount && stored.State.Running != nil
	started := c.spec.StartupProbe == nil || same && stored.Started != nil && *stored.Started
	ready := c.spec.ReadinessProbe == nil && started
	if same && c.spec.ReadinessProbe != nil {
		ready = stored.Ready
	}
	r.watch(ctx, i, &pids, false, started, ready)
	r.log.Info("adopted container", "container", c.spec.Name, "pid", pids.Pid, "restart_count", c.restartCount)
}

// prepareExec resolves c's environment and working directory for this pod.
func (r *podRunner) prepareExec(ctx context.Context, c *ctr) error {
	env, user, err := containerEnvFrom(r.pod, &c.spec, r.ip, r.rt.cfg.Address, r.rt.a.configs.source(ctx))
	if err != nil {
		return err
	}
	c.env, c.user = append(r.rt.serviceLinks(r.pod), env...), user // the container's own env wins (os/exec keeps the last)
	c.workdir = c.spec.WorkingDir
	if c.workdir == "" {
		c.workdir, _ = os.Getwd()
	}
	return nil
}

// reconcile starts due containers, drives termination and writes the status if it changed.
func (r *podRunner) reconcile(ctx context.Context) {
	now := time.Now()
	if r.pod.DeletionTimestamp != nil && !r.terminating {
		r.beginTermination(ctx, now)
	}
	for _, c := range r.ctrs {
		if c.pids != nil && !c.killAt.IsZero() && !now.Before(c.killAt) {
			killRecorded(*c.pids, syscall.SIGKILL)
			c.killAt = now.Add(time.Hour) // once; the waiter reports the end
		}
	}
	if r.terminating {
		r.finishTermination(ctx, now)
		return
	}
	if r.terminal {
		return
	}
	if ph := r.phase(); !r.volumesAt.IsZero() && !now.Before(r.volumesAt) && ph != api.PodSucceeded && ph != api.PodFailed {
		if err := r.syncVolumes(ctx); err != nil {
			r.log.Debug("volume sync failed", "err", err)
		} else {
			r.volumesOK = true
		}
		r.volumesAt = now.Add(volumeResync)
	}
	prefix := true // every init container before this one is satisfied
	for i, c := range r.ctrs {
		if (prefix || r.initDone) && c.pids == nil && !c.done && !now.Before(c.nextStart) {
			r.start(ctx, i, now)
		}
		if c.init && !c.satisfied() {
			prefix = false // init containers run one at a time, in order
		}
	}
	r.initDone = r.initDone || prefix
	if ph := r.phase(); ph == api.PodSucceeded || ph == api.PodFailed {
		// The pod is over: its sidecars are stopped, then its IP goes back to the pool
		// (the status keeps the address).
		running := false
		for _, c := range r.ctrs {
			if c.pids != nil && c.sidecar && c.killAt.IsZero() {
				r.stopContainer(ctx, c, now)
			}
			running = running || c.pids != nil
		}
		if !running && !r.released {
			r.rt.release(r.uid)
			r.released = true
		}
	}
	if now.Before(r.retryAt) {
		return
	}
	if err := r.writeStatus(ctx); err != nil && ctx.Err() == nil {
		r.log.Debug("pod status write failed", "err", err)
		r.retryAt = now.Add(time.Second)
	}
}

// nextWake returns how long the loop may sleep before a timer is due.
func (r *podRunner) nextWake() time.Duration {
	next := time.Now().Add(time.Hour)
	consider := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	for _, c := range r.ctrs {
		if c.pids != nil {
			consider(c.killAt)
		} else if !c.done && !r.terminating {
			consider(c.nextStart)
		}
	}
	consider(r.retryAt)
	if !r.terminating && !r.terminal {
		consider(r.volumesAt)
	}
	return max(time.Until(next), time.Millisecond)
}

// start starts container i's next attempt.
func (r *podRunner) start(ctx context.Context, i int, now time.Time) {
	c := r.ctrs[i]
	refuse := func(msg string) {
		c.state = api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: msg}}
		c.done = true
	}
	if len(c.spec.Command) == 0 {
		refuse("process runtime needs a command")
		return
	}
	if r.ip == "" {
		refuse("no pod IP")
		return
	}
	mounts, wait, err := r.prepareVolumes(ctx, c)
	if err != nil {
		r.warn(c, "FailedMount", err.Error())
		refuse(err.Error())
		return
	}
	if wait != "" {
		r.warn(c, "FailedMount", wait)
		c.state = api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "ContainerCreating", Message: wait}}
		c.nextStart = now.Add(configRetry)
		return
	}
	if err := r.prepareExec(ctx, c); err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			// As kubelet: the container waits and the start is retried.
			r.warn(c, "Failed", "Error: "+ce.msg)
			c.state = api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: ce.msg}}
			c.nextStart = now.Add(configRetry)
			return
		}
		refuse(err.Error())
		return
	}
	var cgroups []string
	l := limitsOf(&c.spec)
	l.podPids = max(r.rt.cfg.PodMaxPids, 0)
	if l != (containerLimits{}) {
		r.rt.cgOnce.Do(func() { r.rt.cg = detectCgroups() })
		dirs, err := r.rt.cg.create(r.uid, c.spec.Name, l)
		if err != nil {
			// Limits are enforced or the container does not run (rather than run unlimited).
			msg := "cannot enforce resources.limits: " + err.Error()
			r.warn(c, "Failed", "Error: "+msg)
			refuse(msg)
			return
		}
		cgroups = dirs
	}
	argv := containerArgv(&c.spec, c.user)
	if c.restart {
		c.restartCount++
		c.restart = false
	}
	n := c.restartCount
	c.startedAt = now
	c.nextStart = time.Time{}
	c.state = api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: api.NewTime(now)}}
	startErr := func(err error) {
		msg := err.Error()
		if f, ferr := os.OpenFile(logFile(c.dir, n), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644); ferr == nil {
			fmt.Fprintf(f, "cannot start container: %s\n", msg)
			_ = f.Close()
		}
		r.exited(i, &shimExit{ExitCode: 128, Reason: "StartError", Message: msg, FinishedAt: now}, now)
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		startErr(err)
		return
	}
	if err := writeJSON(filepath.Join(c.dir, "state.json"), ctrState{RestartCount: n, StartedAt: now, LastState: c.last, Backoff: c.backoff}); err != nil {
		startErr(err)
		return
	}
	for _, old := range []int32{n - 2, n - 3} { // keep this run's log and the previous one
		if old >= 0 {
			_ = os.Remove(logFile(c.dir, old))
			_ = os.Remove(pidFile(c.dir, old))
			_ = os.Remove(exitFile(c.dir, old))
		}
	}
	_ = os.Remove(pidFile(c.dir, n))
	_ = os.Remove(exitFile(c.dir, n))
	path := argv[0]
	if filepath.Base(path) != path && !filepath.IsAbs(path) {
		path = filepath.Join(c.workdir, path)
	}
	path, err = exec.LookPath(path)
	if err != nil {
		startErr(err)
		return
	}
	f, err := os.OpenFile(logFile(c.dir, n), os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		startErr(err)
		return
	}
	shim := r.rt.cfg.ShimCommand
	args := append(append([]string(nil), shim[1:]...), "--dir", c.dir, "--attempt", strconv.Itoa(int(n)),
		"--workdir", c.workdir, "--path", path)
	if len(mounts) > 0 {
		mf := filepath.Join(c.dir, "mounts.json")
		if err := writeJSON(mf, mounts); err != nil {
			startErr(err)
			return
		}
		args = append(args, "--mounts", mf)
	}
	if len(cgroups) > 0 {
		args = append(args, "--cgroups", strings.Join(cgroups, ","))
		if r.rt.cfg.PodMaxPids > 0 {
			args = append(args, "--cgroups-in-command")
		}
	}
	args = append(args, "--")
	cmd := exec.Command(shim[0], append(args, argv...)...)
	if shim[0] == "/proc/self/exe" {
		cmd.Args[0] = os.Args[0] // what ps shows
	}
	cmd.Env, cmd.Stdout, cmd.Stderr = c.env, f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if len(mounts) > 0 {
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS // the shim's private mount namespace
	}
	err = cmd.Start()
	_ = f.Close()
	if err != nil {
		startErr(fmt.Errorf("start shim: %w", err))
		return
	}
	shimPid := cmd.Process.Pid
	_ = cmd.Process.Release()
	pids := r.waitStarted(c, n, shimPid)
	c.containerID = ""
	if pids.Pid != 0 {
		c.containerID = "process://" + strconv.Itoa(pids.Pid)
	}
	started := c.spec.StartupProbe == nil
	actx := r.watch(ctx, i, pids, true, started, started && c.spec.ReadinessProbe == nil)
	r.log.Info("container started", "container", c.spec.Name, "pid", pids.Pid, "restart_count", n)
	if lc := c.spec.Lifecycle; lc != nil && lc.PostStart != nil {
		c.postStarting, c.ready = true, false
		r.goHook(actx, i, n, "postStart", lc.PostStart, c)
	}
}

// waitStarted waits (up to 10 s) for the shim to record the container's pid or its end.
func (r *podRunner) waitStarted(c *ctr, n int32, shimPid int) *shimPids {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var p shimPids
		if readJSON(pidFile(c.dir, n), &p) == nil {
			return &p
		}
		if _, err := os.Stat(exitFile(c.dir, n)); err == nil {
			break
		}
		var ws syscall.WaitStatus
		if pid, _ := syscall.Wait4(shimPid, &ws, syscall.WNOHANG, nil); pid == shimPid {
			break // the shim is gone; the waiter reports how
		}
		time.Sleep(2 * time.Millisecond)
	}
	start, _ := procStart(shimPid)
	return &shimPids{Shim: shimPid, ShimStart: start}
}

// watch starts the waiter and the probers of container i's current attempt, and returns
// the attempt's context (cancelled when the attempt ends).
func (r *podRunner) watch(ctx context.Context, i int, pids *shimPids, child, started, ready bool) context.Context {
	c := r.ctrs[i]
	actx, cancel := context.WithCancel(ctx)
	c.pids, c.child, c.stop, c.killAt = pids, child, cancel, time.Time{}
	c.started, c.ready, c.probeOK = started, ready, ready
	c.postStarting, c.preStopping = false, false
	c.startedCh = make(chan struct{})
	if started {
		close(c.startedCh)
	}
	n := c.restartCount
	r.workers.Add(1)
	go func() {
		defer r.workers.Done()
		r.wait(actx, i, n, c.dir, *pids, child)
	}()
	target := r.probeTarget(c)
	for _, pr := range []struct {
		kind  string
		probe *api.Probe
	}{{"startup", c.spec.StartupProbe}, {"liveness", c.spec.LivenessProbe}, {"readiness", c.spec.ReadinessProbe}} {
		if pr.probe == nil || pr.kind == "startup" && started {
			continue
		}
		initial := pr.kind == "liveness" || pr.kind == "readiness" && ready
		r.workers.Add(1)
		go func() {
			defer r.workers.Done()
			r.runProbe(actx, i, n, pr.kind, pr.probe, target, c.startedAt, initial, c.startedCh)
		}()
	}
	return actx
}

// wait polls for the end of attempt n: the shim's exit record, or the shim gone without one.
func (r *podRunner) wait(ctx context.Context, i int, n int32, dir string, pids shimPids, child bool) {
	t := time.NewTicker(r.rt.cfg.PollInterval)
	defer t.Stop()
	for {
		if child {
			var ws syscall.WaitStatus
			if pid, _ := syscall.Wait4(pids.Shim, &ws, syscall.WNOHANG, nil); pid == pids.Shim {
				child = false
			}
		}
		var ex shimExit
		found := readJSON(exitFile(dir, n), &ex) == nil
		if !found && !alive(pids.Shim, pids.ShimStart) {
			// The shim writes the record before it exits: look once more.
			if found = readJSON(exitFile(dir, n), &ex) == nil; !found {
				killRecorded(pids, syscall.SIGKILL)
				t := unknownTermination(time.Now())
				ex = shimExit{ExitCode: t.ExitCode, Reason: t.Reason, Message: "the container's shim exited without recording its end",
					FinishedAt: time.Now()}
				found = true
			}
		}
		if found {
			select {
			case r.events <- ctrEvent{ctr: i, attempt: n, exit: &ex}:
			case <-ctx.Done():
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// handle applies a waiter's or prober's report.
func (r *podRunner) handle(ctx context.Context, ev ctrEvent) {
	c := r.ctrs[ev.ctr]
	if ev.attempt != c.restartCount || c.pids == nil {
		return // about an attempt that is over
	}
	switch {
	case ev.exit != nil:
		r.exited(ev.ctr, ev.exit, time.Now())
	case ev.hook == "preStop":
		if c.preStopping {
			c.preStopping = false
			if ev.err != nil {
				r.log.Info("preStop hook failed", "container", c.spec.Name, "err", ev.err)
			}
			r.signal(c, syscall.SIGTERM)
			// As the kubelet, SIGTERM gets at least 2 s even when the hook used the grace period.
			c.killAt = maxTime(c.killAt, time.Now().Add(minGraceAfterPreStop))
		}
	case ev.hook == "postStart":
		c.postStarting = false
		if ev.err == nil {
			c.ready = c.started && (c.spec.ReadinessProbe == nil || c.probeOK)
		} else if c.killAt.IsZero() {
			r.log.Info("postStart hook failed, killing the container", "container", c.spec.Name, "err", ev.err)
			r.stopContainer(ctx, c, time.Now())
		}
	case ev.probe == "readiness":
		c.probeOK = ev.ok
		c.ready = ev.ok && c.started && !c.postStarting
	case ev.probe == "startup" && ev.ok:
		c.started = true
		c.ready = c.spec.ReadinessProbe == nil && !c.postStarting
		close(c.startedCh)
	default: // liveness or startup failure: restart per policy
		if c.killAt.IsZero() {
			r.log.Info("container failed its probe, killing it", "container", c.spec.Name, "probe", ev.probe)
			r.stopContainer(ctx, c, time.Now())
		}
	}
}

// signal sends sig to container c's process group (or to its shim, which forwards it, when
// the group is not known yet).
func (r *podRunner) signal(c *ctr, sig syscall.Signal) {
	if c.pids == nil {
		return
	}
	if c.pids.Pid != 0 && alive(c.pids.Pid, c.pids.PidStart) {
		_ = syscall.Kill(-c.pids.Pid, sig)
	} else if alive(c.pids.Shim, c.pids.ShimStart) {
		_ = syscall.Kill(c.pids.Shim, sig)
	}
}

// exited records the end of container i's current attempt and decides on a restart.
func (r *podRunner) exited(i int, ex *shimExit, now time.Time) {
	c := r.ctrs[i]
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
	c.pids, c.killAt, c.ready, c.started = nil, time.Time{}, false, false
	term := &api.ContainerStateTerminated{ExitCode: ex.ExitCode, Signal: ex.Signal, Reason: ex.Reason, Message: ex.Message,
		FinishedAt: api.NewTime(ex.FinishedAt)}
	if c.state.Running != nil {
		term.StartedAt = c.state.Running.StartedAt
	}
	policy := r.pod.Spec.RestartPolicy
	var restart bool
	switch {
	case r.terminating || r.evicted != nil:
	case c.sidecar:
		restart = !r.appsFinished()
	case c.init:
		restart = ex.ExitCode != 0 && policy != api.RestartNever
	default:
		restart = policy == api.RestartAlways || policy == "" || policy == api.RestartOnFailure && ex.ExitCode != 0
	}
	if !restart {
		c.state = api.ContainerState{Terminated: term}
		c.done = true
		return
	}
	if ex.FinishedAt.Sub(c.startedAt) >= 2*r.rt.cfg.BackoffMax {
		c.backoff = 0
	}
	delay := c.backoff
	if c.backoff == 0 {
		c.backoff = r.rt.cfg.BackoffBase
	} else {
		c.backoff = min(2*c.backoff, r.rt.cfg.BackoffMax)
	}
	c.last = api.ContainerState{Terminated: term}
	c.restart = true
	c.nextStart = now.Add(delay)
	if delay > 0 {
		c.state = api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, c.spec.Name,
				r.pod.Name, r.pod.Namespace, r.pod.UID)}}
	} else {
		c.state = api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "ContainerCreating"}}
	}
}

// gracePeriod is the pod's termination grace period, capped by MaxGracePeriod.
func (r *podRunner) gracePeriod() time.Duration {
	if r.evicted != nil {
		return min(r.evicted.grace, r.rt.cfg.MaxGracePeriod)
	}
	secs := int64(30)
	if g := r.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		secs = *g
	}
	if g := r.pod.DeletionGracePeriodSeconds; g != nil && r.pod.DeletionTimestamp != nil {
		secs = *g
	}
	return min(time.Duration(max(secs, 0))*time.Second, r.rt.cfg.MaxGracePeriod)
}

// beginEviction stops the containers within the eviction's grace period; none restarts,
// and once none runs the pod is reported Failed with reason Evicted (phase, applyStatus).
func (r *podRunner) beginEviction(ctx context.Context, ev *evictRequest, now time.Time) {
	r.evicted = ev
	for _, c := range r.ctrs {
		if c.pids != nil && c.killAt.IsZero() {
			r.stopContainer(ctx, c, now)
		}
		if c.pids == nil {
			c.done = true
		}
	}
	r.log.Info("evicting pod", "grace_period", r.gracePeriod())
}

func (r *podRunner) beginTermination(ctx context.Context, now time.Time) {
	r.terminating = true
	for _, c := range r.ctrs {
		if c.pids != nil && c.killAt.IsZero() {
			r.stopContainer(ctx, c, now)
		}
	}
	r.log.Info("terminating pod", "grace_period", r.gracePeriod())
}

// finishTermination deletes the pod once none of its containers runs.
func (r *podRunner) finishTermination(ctx context.Context, now time.Time) {
	if r.deleted || now.Before(r.retryAt) {
		return
	}
	for _, c := range r.ctrs {
		if c.pids != nil {
			return
		}
	}
	_, err := r.rt.a.stores.Pods.Delete(ctx, r.pod.Namespace, r.pod.Name, registry.DeleteOptions{UID: r.uid, GracePeriodSeconds: registry.GracePeriod(0)})
	if err != nil && !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrConflict) {
		if ctx.Err() == nil {
			r.log.Debug("pod delete failed", "err", err)
		}
		r.retryAt = now.Add(time.Second)
		return
	}
	r.deleted = true
}

// cleanup kills what is left of a pod that is gone from the store, and forgets it.
func (r *podRunner) cleanup() {
	var recs []shimPids
	for _, c := range r.ctrs {
		if c.stop != nil {
			c.stop()
		}
		if c.pids != nil && killRecorded(*c.pids, syscall.SIGKILL) {
			recs = append(recs, *c.pids)
		}
	}
	r.cancelHooks()
	r.workers.Wait()
	waitGone(recs, 5*time.Second)
	killDir(r.dir)
	r.cleanupVolumes()
	r.rt.cg.removePod(r.uid)
	if err := os.RemoveAll(r.dir); err != nil {
		r.log.Warn("cannot remove pod dir", "err", err)
	}
	r.rt.release(r.uid)
	r.log.Info("pod removed")
}

// shutdown stops the runner when the agent stops: the processes keep running unless
// StopPodsOnExit, in which case they get SIGTERM and, after the grace period (at most
// 10 s), SIGKILL.
func (r *podRunner) shutdown() {
	for _, c := range r.ctrs {
		if c.stop != nil {
			c.stop()
		}
	}
	r.cancelHooks()
	r.workers.Wait()
	if !r.rt.cfg.StopPodsOnExit {
		return
	}
	var recs []shimPids
	for _, c := range r.ctrs {
		if c.pids != nil {
			r.signal(c, syscall.SIGTERM)
			recs = append(recs, *c.pids)
		}
	}
	waitGone(recs, min(r.gracePeriod(), 10*time.Second))
	for _, p := range recs {
		killRecorded(p, syscall.SIGKILL)
	}
	waitGone(recs, 5*time.Second)
}

// satisfied reports whether init container c lets the next one start: it completed, or it
// is a sidecar that has started.
func (c *ctr) satisfied() bool {
	if c.sidecar {
		return c.pids != nil && c.started
	}
	return c.done && c.state.Terminated != nil && c.state.Terminated.ExitCode == 0
}

// appsFinished reports whether every app container has terminated for good.
func (r *podRunner) appsFinished() bool {
	for _, c := range r.ctrs {
		if !c.init && !c.done {
			return false
		}
	}
	return true
}
