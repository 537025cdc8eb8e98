package agent_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/agent"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

const (
	procNode    = "pnode"
	procAddress = "127.0.77.1"
	procCIDR    = "127.77.1.0/24"
)

func processAgent(cli *clientv3.Client, root string, stopOnExit bool) *agent.Agent {
	return agent.New(cli, agent.Config{NodeName: procNode, Runtime: agent.RuntimeProcess, HeartbeatInterval: 200 * time.Millisecond,
		Process: agent.ProcessConfig{Address: procAddress, PodCIDR: procCIDR, RootDir: root, Port: -1, StopPodsOnExit: stopOnExit,
			BackoffBase: 400 * time.Millisecond, BackoffMax: 2 * time.Second, PollInterval: 20 * time.Millisecond}})
}

// podRoot returns a process runtime's root directory for the test; the pods left running
// under it are stopped at cleanup.
func podRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	t.Cleanup(func() {
		if err := agent.StopPods(root); err != nil {
			t.Error(err)
		}
	})
	return root
}

// pidOf returns the pid in a container's "process://<pid>" ID.
func pidOf(t *testing.T, cs api.ContainerStatus) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimPrefix(cs.ContainerID, "process://"))
	if err != nil {
		t.Fatalf("container %s: ID %q: %v", cs.Name, cs.ContainerID, err)
	}
	return pid
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

func condition(p *api.Pod, typ string) string {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

// TestProcessRuntime runs real processes as pods on one process-runtime node.
func TestProcessRuntime(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stores := registry.NewStores(cli, registry.Config{})
	root := podRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	stop := startAgent(t, ctx, processAgent(cli, root, false))

	var logsBase string
	poll.Eventually(t, 20*time.Second, func() error {
		n, err := stores.Nodes.Get(ctx, "", procNode)
		if err != nil {
			return err
		}
		port := n.Status.DaemonEndpoints.KubeletEndpoint.Port
		if readyStatus(n) != api.ConditionTrue || port == 0 || n.Spec.PodCIDR != procCIDR {
			return fmt.Errorf("node: ready %q, port %d, podCIDR %q", readyStatus(n), port, n.Spec.PodCIDR)
		}
		if len(n.Status.Addresses) == 0 || n.Status.Addresses[0] != (api.NodeAddress{Type: "InternalIP", Address: procAddress}) {
			return fmt.Errorf("addresses %v", n.Status.Addresses)
		}
		logsBase = fmt.Sprintf("http://%s:%d/containerLogs/", procAddress, port)
		return nil
	})
	getLogs := func(t *testing.T, path string) (int, string) {
		t.Helper()
		resp, err := http.Get(logsBase + path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	create := func(t *testing.T, name, policy string, grace int64, cs ...api.Container) *api.Pod {
		t.Helper()
		for i := range cs {
			cs[i].Image = "local"
		}
		p, err := stores.Pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: name},
			Spec: api.PodSpec{NodeName: procNode, RestartPolicy: policy, TerminationGracePeriodSeconds: &grace, Containers: cs}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	waitPod := func(t *testing.T, name string, cond func(p *api.Pod) error) *api.Pod {
		t.Helper()
		var got *api.Pod
		poll.Eventually(t, 30*time.Second, func() error {
			p, err := stores.Pods.Get(ctx, "default", name)
			if err != nil {
				return err
			}
			got = p
			if err := cond(p); err != nil {
				return fmt.Errorf("%w (status %+v)", err, p.Status)
			}
			return nil
		})
		return got
	}
	running := func(p *api.Pod) error {
		if p.Status.Phase != api.PodRunning || condition(p, "Ready") != api.ConditionTrue {
			return fmt.Errorf("phase %q, ready %q", p.Status.Phase, condition(p, "Ready"))
		}
		return nil
	}

	var sleeper *api.Pod
	t.Run("runs a process", func(t *testing.T) {
		create(t, "sleeper", "", 5, api.Container{Name: "main", Command: []string{"sh", "-c"},
			Args: []string{"echo hi; echo \"$(GREETING) from $MY_NAME at $MY_IP\"; echo '$$(GREETING)'; exec sleep 1000"},
			Env: []api.EnvVar{{Name: "GREETING", Value: "hello"},
				{Name: "MY_NAME", ValueFrom: &api.EnvVarSource{FieldRef: &api.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "MY_IP", ValueFrom: &api.EnvVarSource{FieldRef: &api.ObjectFieldSelector{FieldPath: "status.podIP"}}}}})
		sleeper = waitPod(t, "sleeper", running)
		ip, err := netip.ParseAddr(sleeper.Status.PodIP)
		if err != nil || !netip.MustParsePrefix(procCIDR).Contains(ip) {
			t.Errorf("podIP %q, want an address in %s", sleeper.Status.PodIP, procCIDR)
		}
		if sleeper.Status.HostIP != procAddress {
			t.Errorf("hostIP %q, want %s", sleeper.Status.HostIP, procAddress)
		}
		cs := sleeper.Status.ContainerStatuses[0]
		if cs.State.Running == nil || !cs.Ready || cs.RestartCount != 0 || !processAlive(pidOf(t, cs)) {
			t.Errorf("container status %+v", cs)
		}
		want := "hi\nhello from sleeper at " + sleeper.Status.PodIP + "\n$(GREETING)\n"
		poll.Eventually(t, 10*time.Second, func() error {
			if code, body := getLogs(t, "default/sleeper/main"); code != http.StatusOK || body != want {
				return fmt.Errorf("logs: %d %q, want %q", code, body, want)
			}
			return nil
		})
		if code, body := getLogs(t, "default/sleeper/main?tailLines=1"); body != "$(GREETING)\n" {
			t.Errorf("tailLines=1: %d %q", code, body)
		}
		if code, body := getLogs(t, "default/nope/main"); code != http.StatusNotFound || !strings.Contains(body, "not found") {
			t.Errorf("unknown pod: %d %q", code, body)
		}
		if code, body := getLogs(t, "default/sleeper/nope"); code != http.StatusNotFound || !strings.Contains(body, "not valid") {
			t.Errorf("unknown container: %d %q", code, body)
		}
	})

	t.Run("refuses a container without command", func(t *testing.T) {
		create(t, "nocmd", "", 1, api.Container{Name: "c"})
		waitPod(t, "nocmd", func(p *api.Pod) error {
			if p.Status.Phase != api.PodPending || !strings.Contains(p.Status.Message, "process runtime needs a command") {
				return fmt.Errorf("phase %q, message %q", p.Status.Phase, p.Status.Message)
			}
			return nil
		})
	})

	t.Run("readiness gates Ready", func(t *testing.T) {
		flag := filepath.Join(t.TempDir(), "ready")
		create(t, "web", "", 5, api.Container{Name: "web", Command: []string{exe, "test-http-server", "$(POD_IP):8080", flag},
			Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}},
			Env:   []api.EnvVar{{Name: "POD_IP", ValueFrom: &api.EnvVarSource{FieldRef: &api.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
			ReadinessProbe: &api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/healthz", Port: api.FromString("http")},
				PeriodSeconds: 1, FailureThreshold: 1},
			LivenessProbe: &api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(8080)}, PeriodSeconds: 1}})
		p := waitPod(t, "web", func(p *api.Pod) error {
			if p.Status.Phase != api.PodRunning || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running == nil {
				return errors.New("not running")
			}
			return nil
		})
		poll.Eventually(t, 10*time.Second, func() error {
			resp, err := http.Get("http://" + p.Status.PodIP + ":8080/")
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			return nil
		})
		if got := condition(p, "Ready"); got != api.ConditionFalse {
			t.Errorf("Ready = %q before the probe passes, want False", got)
		}
		if err := os.WriteFile(flag, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		waitPod(t, "web", running)
		if err := os.Remove(flag); err != nil {
			t.Fatal(err)
		}
		p = waitPod(t, "web", func(p *api.Pod) error {
			if condition(p, "Ready") != api.ConditionFalse {
				return errors.New("still ready")
			}
			return nil
		})
		if cs := p.Status.ContainerStatuses[0]; cs.RestartCount != 0 || cs.State.Running == nil {
			t.Errorf("a readiness failure restarted the container: %+v", cs)
		}
	})

	t.Run("restart policies", func(t *testing.T) {
		create(t, "job-ok", api.RestartOnFailure, 1, api.Container{Name: "c", Command: []string{"sh", "-c", "echo done"}})
		create(t, "job-fail", api.RestartNever, 1, api.Container{Name: "c", Command: []string{"sh", "-c", "exit 3"}})
		create(t, "crasher", api.RestartAlways, 1, api.Container{Name: "c", Command: []string{"sh", "-c", "echo crash; exit 1"}})
		p := waitPod(t, "job-ok", func(p *api.Pod) error {
			if p.Status.Phase != api.PodSucceeded {
				return fmt.Errorf("phase %q", p.Status.Phase)
			}
			return nil
		})
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "Completed" || term.ExitCode != 0 {
			t.Errorf("job-ok container: %+v", p.Status.ContainerStatuses[0])
		}
		// A finished run's log is followed to its end, then the stream ends.
		if code, body := getLogs(t, "default/job-ok/c?follow=true"); code != http.StatusOK || body != "done\n" {
			t.Errorf("follow a completed container: %d %q", code, body)
		}
		p = waitPod(t, "job-fail", func(p *api.Pod) error {
			if p.Status.Phase != api.PodFailed {
				return fmt.Errorf("phase %q", p.Status.Phase)
			}
			return nil
		})
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "Error" || term.ExitCode != 3 {
			t.Errorf("job-fail container: %+v", p.Status.ContainerStatuses[0])
		}
		sawBackOff := false
		p = waitPod(t, "crasher", func(p *api.Pod) error {
			if len(p.Status.ContainerStatuses) == 0 {
				return errors.New("no container status")
			}
			cs := p.Status.ContainerStatuses[0]
			if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
				sawBackOff = true
			}
			if cs.RestartCount < 3 || !sawBackOff {
				return fmt.Errorf("restartCount %d, CrashLoopBackOff seen %v", cs.RestartCount, sawBackOff)
			}
			return nil
		})
		if p.Status.Phase != api.PodRunning {
			t.Errorf("crasher phase %q, want Running", p.Status.Phase)
		}
		if last := p.Status.ContainerStatuses[0].LastState.Terminated; last == nil || last.ExitCode != 1 {
			t.Errorf("crasher lastTerminationState %+v", p.Status.ContainerStatuses[0].LastState)
		}
		if code, body := getLogs(t, "default/crasher/c?previous=true"); code != http.StatusOK || body != "crash\n" {
			t.Errorf("previous logs: %d %q", code, body)
		}
	})

	t.Run("init containers run first", func(t *testing.T) {
		dir := t.TempDir()
		p, err := stores.Pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "inited"}, Spec: api.PodSpec{NodeName: procNode,
			InitContainers: []api.Container{
				{Name: "one", Image: "local", Command: []string{"sh", "-c", "echo 1 >> " + dir + "/order"}},
				{Name: "two", Image: "local", Command: []string{"sh", "-c", "echo 2 >> " + dir + "/order"}}},
			Containers: []api.Container{{Name: "app", Image: "local", Command: []string{"sh", "-c", "cat " + dir + "/order; exec sleep 1000"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		p = waitPod(t, p.Name, running)
		if n := len(p.Status.InitContainerStatuses); n != 2 {
			t.Fatalf("%d init container statuses, want 2", n)
		}
		for _, cs := range p.Status.InitContainerStatuses {
			if term := cs.State.Terminated; term == nil || term.Reason != "Completed" {
				t.Errorf("init container %s: %+v", cs.Name, cs.State)
			}
		}
		poll.Eventually(t, 10*time.Second, func() error {
			if code, body := getLogs(t, "default/inited/app"); body != "1\n2\n" {
				return fmt.Errorf("app logs %d %q", code, body)
			}
			return nil
		})
		_, err = stores.Pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "badinit"}, Spec: api.PodSpec{NodeName: procNode,
			RestartPolicy:  api.RestartNever,
			InitContainers: []api.Container{{Name: "fail", Image: "local", Command: []string{"false"}}},
			Containers:     []api.Container{{Name: "app", Image: "local", Command: []string{"sleep", "1000"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		p = waitPod(t, "badinit", func(p *api.Pod) error {
			if p.Status.Phase != api.PodFailed {
				return fmt.Errorf("phase %q", p.Status.Phase)
			}
			return nil
		})
		if w := p.Status.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != "PodInitializing" {
			t.Errorf("app container of a failed init: %+v", p.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("liveness failure restarts", func(t *testing.T) {
		create(t, "unwell", api.RestartAlways, 1, api.Container{Name: "c", Command: []string{"sleep", "1000"},
			LivenessProbe: &api.Probe{Exec: &api.ExecAction{Command: []string{"false"}}, PeriodSeconds: 1, FailureThreshold: 1}})
		p := waitPod(t, "unwell", func(p *api.Pod) error {
			if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount < 1 {
				return errors.New("not restarted")
			}
			return nil
		})
		if last := p.Status.ContainerStatuses[0].LastState.Terminated; last == nil || last.Signal != int32(syscall.SIGTERM) {
			t.Errorf("lastTerminationState %+v, want killed by SIGTERM", p.Status.ContainerStatuses[0].LastState)
		}
	})

	t.Run("deletion stops the process", func(t *testing.T) {
		create(t, "doomed", "", 5, api.Container{Name: "c", Command: []string{"sleep", "1000"}})
		p := waitPod(t, "doomed", running)
		pid := pidOf(t, p.Status.ContainerStatuses[0])
		if _, err := stores.Pods.Delete(ctx, "default", "doomed", registry.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, 20*time.Second, func() error {
			if _, err := stores.Pods.Get(ctx, "default", "doomed"); !errors.Is(err, registry.ErrNotFound) {
				return fmt.Errorf("pod still there (err %v)", err)
			}
			if processAlive(pid) {
				return fmt.Errorf("process %d alive", pid)
			}
			return nil
		})
	})

	t.Run("lifecycle hooks", func(t *testing.T) {
		dir := t.TempDir()
		trace, started, release := filepath.Join(dir, "trace"), filepath.Join(dir, "started"), filepath.Join(dir, "release")
		waitFile := func(f string) string { return "while [ ! -e " + f + " ]; do sleep 0.05; done" }
		create(t, "hooked", "", 30, api.Container{Name: "c", Command: []string{"sh", "-c",
			"trap 'echo term >> " + trace + "; exit 0' TERM; while :; do sleep 0.05; done"},
			Lifecycle: &api.Lifecycle{
				PostStart: &api.LifecycleHandler{Exec: &api.ExecAction{Command: []string{"sh", "-c", "echo poststart >> " + trace + "; " + waitFile(started)}}},
				PreStop:   &api.LifecycleHandler{Exec: &api.ExecAction{Command: []string{"sh", "-c", "echo prestop >> " + trace + "; " + waitFile(release)}}},
			}})
		readTrace := func() string { b, _ := os.ReadFile(trace); return string(b) }
		// postStart runs: the container runs but is not ready until the hook ends.
		poll.Eventually(t, 20*time.Second, func() error {
			if got := readTrace(); got != "poststart\n" {
				return fmt.Errorf("trace %q, want the postStart hook's line", got)
			}
			return nil
		})
		if p, err := stores.Pods.Get(ctx, "default", "hooked"); err != nil || condition(p, "Ready") == api.ConditionTrue {
			t.Fatalf("pod Ready while its postStart hook runs (%v)", err)
		}
		if err := os.WriteFile(started, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		waitPod(t, "hooked", running)
		// Deleted: preStop runs first, the object stays (terminating), no SIGTERM yet.
		if _, err := stores.Pods.Delete(ctx, "default", "hooked", registry.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, 20*time.Second, func() error {
			if got := readTrace(); got != "poststart\nprestop\n" {
				return fmt.Errorf("trace %q, want the preStop hook's line", got)
			}
			return nil
		})
		p, err := stores.Pods.Get(ctx, "default", "hooked")
		if err != nil || p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 30 {
			t.Fatalf("pod during preStop: %v (err %v), want it terminating with grace 30", p, err)
		}
		if err := os.WriteFile(release, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		// The hook ends: SIGTERM, the container exits, the agent removes the pod.
		poll.Eventually(t, 20*time.Second, func() error {
			if _, err := stores.Pods.Get(ctx, "default", "hooked"); !errors.Is(err, registry.ErrNotFound) {
				return fmt.Errorf("pod still there (err %v)", err)
			}
			return nil
		})
		if got := readTrace(); got != "poststart\nprestop\nterm\n" {
			t.Errorf("trace %q, want postStart, preStop, then SIGTERM", got)
		}
	})

	t.Run("failing postStart kills the container", func(t *testing.T) {
		create(t, "badhook", api.RestartAlways, 1, api.Container{Name: "c", Command: []string{"sleep", "1000"},
			Lifecycle: &api.Lifecycle{PostStart: &api.LifecycleHandler{Exec: &api.ExecAction{Command: []string{"false"}}}}})
		waitPod(t, "badhook", func(p *api.Pod) error {
			if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount < 1 {
				return errors.New("not restarted")
			}
			if condition(p, "Ready") == api.ConditionTrue {
				return errors.New("Ready despite a failing postStart")
			}
			return nil
		})
	})

	t.Run("force deletion kills the process", func(t *testing.T) {
		create(t, "evicted", "", 30, api.Container{Name: "c", Command: []string{"sleep", "1000"}})
		p := waitPod(t, "evicted", running)
		pid := pidOf(t, p.Status.ContainerStatuses[0])
		if _, err := stores.Pods.Delete(ctx, "default", "evicted", registry.DeleteOptions{GracePeriodSeconds: registry.GracePeriod(0)}); err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, 20*time.Second, func() error {
			if processAlive(pid) {
				return fmt.Errorf("process %d alive", pid)
			}
			if _, err := os.Stat(filepath.Join(root, "pods", "default_evicted_"+p.UID)); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("pod dir still there (%v)", err)
			}
			return nil
		})
	})

	t.Run("restarted agent adopts processes", func(t *testing.T) {
		stop()
		before, err := stores.Pods.Get(ctx, "default", "sleeper")
		if err != nil {
			t.Fatal(err)
		}
		pid := pidOf(t, before.Status.ContainerStatuses[0])
		if !processAlive(pid) {
			t.Fatalf("sleeper's process %d died with the agent", pid)
		}
		victim, err := stores.Pods.Get(ctx, "default", "web")
		if err != nil {
			t.Fatal(err)
		}
		victimPid := pidOf(t, victim.Status.ContainerStatuses[0])
		// Force-deleted while the agent is away: the next agent kills its processes.
		if _, err := stores.Pods.Delete(ctx, "default", "web", registry.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		stop2 := startAgent(t, ctx, processAgent(cli, root, true))
		create(t, "after", "", 1, api.Container{Name: "c", Command: []string{"sleep", "1000"}})
		p := waitPod(t, "after", running)
		afterPid := pidOf(t, p.Status.ContainerStatuses[0])
		poll.Eventually(t, 10*time.Second, func() error {
			if processAlive(victimPid) {
				return fmt.Errorf("force-deleted pod's process %d alive", victimPid)
			}
			return nil
		})
		cur, err := stores.Pods.Get(ctx, "default", "sleeper")
		if err != nil {
			t.Fatal(err)
		}
		if cur.ResourceVersion != before.ResourceVersion {
			t.Errorf("sleeper rewritten: resourceVersion %s, was %s; status %+v", cur.ResourceVersion, before.ResourceVersion, cur.Status)
		}
		if got := pidOf(t, cur.Status.ContainerStatuses[0]); got != pid || !processAlive(pid) {
			t.Errorf("sleeper pid %d (alive %v), want %d", got, processAlive(pid), pid)
		}
		if cs := cur.Status.ContainerStatuses[0]; cs.RestartCount != 0 || cs.State.Running == nil {
			t.Errorf("sleeper container after adoption: %+v", cs)
		}
		// With StopPodsOnExit the second agent stops the pods' processes when it stops.
		stop2()
		if processAlive(afterPid) || processAlive(pid) {
			t.Errorf("processes %d, %d survive an agent with StopPodsOnExit", afterPid, pid)
		}
	})
}
