package orche2e_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/proccluster"
	"github.com/keeldb/keel/orchestrator/registry"
)

// system is a whole Keel deployment on this machine: a 3-member Keel cluster of keeld
// processes and orch processes (schedulers, controller-managers, process-mode agents),
// each its own OS process talking to the store over gRPC.
type system struct {
	t      *testing.T
	keel   *proccluster.Cluster
	orch   string // orch binary
	eps    string // comma-separated client endpoints
	dir    string // logs and agent roots
	net    int    // second octet of this run's loopback addresses: 127.<net>.x.y
	cli    *clientv3.Client
	stores *registry.Stores

	mu    sync.Mutex
	procs map[string]*proc
}

// proc is one running orch process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func newSystem(t *testing.T) *system {
	t.Helper()
	keeld := proccluster.BuildKeeld(t)
	s := &system{t: t, orch: proccluster.BuildOrch(t), dir: t.TempDir(), procs: map[string]*proc{},
		net: 100 + rand.IntN(100)}
	s.keel = proccluster.Start(t, proccluster.Config{Binary: keeld})
	s.eps = strings.Join(s.keel.Endpoints(), ",")
	s.cli = s.keel.Client(t)
	s.stores = registry.NewStores(s.cli, registry.Config{})
	t.Cleanup(s.teardown)
	return s
}

// agentAddress is node i's InternalIP (i from 1), on which its agent serves and its Service
// proxy listens.
func (s *system) agentAddress(i int) string { return fmt.Sprintf("127.%d.1.%d", s.net, i) }

// agentRoot is the agent's root directory (logs, pod state).
func (s *system) agentRoot(i int) string { return filepath.Join(s.dir, fmt.Sprintf("agent-n%d", i)) }

// start runs `orch args... --endpoints EPS` as the process called name, its output in
// <dir>/<name>.log. A name that was used before is reused (its log is appended to).
func (s *system) start(name string, args ...string) {
	s.t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.orch, append(args, "--endpoints", s.eps)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = s.dir
	// Pods run `orch hello-server`, found on the agents' PATH.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(s.orch)+string(os.PathListSeparator)+os.Getenv("PATH"))
	// An aborted test run must not leave components behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		s.t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs[name] = p
	s.mu.Unlock()
}

// startAgent starts the process-mode agent of node n<i>.
func (s *system) startAgent(i int) {
	s.t.Helper()
	s.start(fmt.Sprintf("agent-n%d", i), "agent", "--runtime", "process", "--node", fmt.Sprintf("n%d", i),
		"--address", s.agentAddress(i), "--pod-cidr", fmt.Sprintf("127.%d.%d.0/24", s.net, 10+i),
		"--root-dir", s.agentRoot(i), "--labels", "zone=z"+strconv.Itoa(i))
}

// startAll starts 2 schedulers, 2 controller-managers and 3 agents, as `make run` does.
func (s *system) startAll() {
	s.t.Helper()
	s.start("s1", "scheduler", "--id", "s1")
	s.start("s2", "scheduler", "--id", "s2")
	s.start("cm1", "controller-manager", "--id", "cm1")
	s.start("cm2", "controller-manager", "--id", "cm2")
	for i := 1; i <= 3; i++ {
		s.startAgent(i)
	}
}

// kill SIGKILLs the named process and waits for it.
func (s *system) kill(name string) { s.signal(name, syscall.SIGKILL) }

// stop SIGTERMs the named process and waits for it to exit.
func (s *system) stop(name string) { s.signal(name, syscall.SIGTERM) }

func (s *system) signal(name string, sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	p := s.procs[name]
	s.mu.Unlock()
	if p == nil {
		s.t.Fatalf("no process %s", name)
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		s.t.Errorf("%s did not exit within 30s of %v", name, sig)
	}
}

// ctl runs `orch ctl args...` and returns its standard output.
func (s *system) ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.orch, append(append([]string{"ctl"}, args...), "--endpoints", s.eps)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("orch ctl %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// mustCtl is ctl that fails the test on error.
func (s *system) mustCtl(args ...string) string {
	s.t.Helper()
	out, err := s.ctl(args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// teardown stops every component, kills the pod processes agents left behind (they outlive a
// killed agent, as containers outlive a kubelet), and prints the logs of a failed test.
func (s *system) teardown() {
	s.mu.Lock()
	procs := s.procs
	s.mu.Unlock()
	for _, p := range procs {
		_ = p.cmd.Process.Kill()
	}
	for _, p := range procs {
		<-p.done
	}
	killPodProcesses(s.dir, fmt.Sprintf("127.%d.", s.net))
	if s.t.Failed() {
		names, _ := filepath.Glob(filepath.Join(s.dir, "*.log"))
		for _, n := range names {
			b, _ := os.ReadFile(n)
			if len(b) > 12<<10 {
				b = b[len(b)-12<<10:]
			}
			s.t.Logf("---- %s (tail) ----\n%s", filepath.Base(n), b)
		}
	}
}

// killPodProcesses SIGKILLs every process whose command line mentions dir or an address of
// this run, which covers pod processes and their shims.
func killPodProcesses(dir, addrPrefix string) {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmdline := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		if strings.Contains(cmdline, dir) || strings.Contains(cmdline, "--listen "+addrPrefix) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
