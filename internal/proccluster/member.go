package proccluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keeldb/keel/internal/netfault"
)

// member is one server process slot: fixed name, URLs, data dir and flags, and the process
// currently running in it, if any.
type member struct {
	idx       int
	name      string
	dataDir   string
	clientURL string
	peerURL   string
	// advPeerURL is the advertised peer URL (peerURL unless Config.AdvertisePeerURL maps it).
	advPeerURL string
	logPath    string
	args       []string
	// proxy is the member's network fault proxy (Config.PeerProxies); nil without.
	proxy *netfault.Proxy

	// mu guards the fields below.
	mu sync.Mutex
	// proc is the latest process started in this slot; nil before the first start.
	proc *process
	// wantRunning is true from start until Kill or Stop: an exit while it is set is a crash.
	wantRunning bool
	// paused is true between Pause and Resume.
	paused bool
	// id is the member ID learned from Status; 0 until known.
	id uint64
}

// process is one started server process. Its reaper goroutine, started in member.start, owns
// cmd.Wait and closes done when the process has exited and been reaped.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	// err is cmd.Wait's result; read it only after done is closed.
	err error
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// start launches a new process in the slot. The slot must not have a live process.
func (m *member) start(binary string, env []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil && !m.proc.exited() {
		return fmt.Errorf("%s is already running (pid %d)", m.name, m.proc.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "==== proccluster: %s: exec %s %s\n", time.Now().Format(time.RFC3339Nano), binary, strings.Join(m.args, " "))
	cmd := exec.Command(binary, m.args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", m.name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		fmt.Fprintf(logf, "==== proccluster: %s: exited: %v\n", time.Now().Format(time.RFC3339Nano), p.err)
		logf.Close()
		close(p.done)
	}()
	m.proc, m.wantRunning, m.paused = p, true, false
	return nil
}

// running reports whether the slot has a live (possibly paused) process.
func (m *member) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc != nil && !m.proc.exited()
}

// state returns what the wait helpers need: whether the member should be queried, and a
// non-nil error if it crashed (exited although nobody stopped it).
func (m *member) state() (query bool, crashed error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil || !m.wantRunning {
		return false, nil
	}
	if m.proc.exited() {
		return false, fmt.Errorf("%s exited unexpectedly: %v (log %s)", m.name, m.proc.err, m.logPath)
	}
	return !m.paused, nil
}

// kill SIGKILLs the live process, if any, and waits until it has been reaped.
func (m *member) kill() {
	m.mu.Lock()
	p := m.proc
	m.wantRunning = false
	m.mu.Unlock()
	if p == nil {
		return
	}
	if !p.exited() {
		// A stopped (SIGSTOPped) process dies on SIGKILL too.
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
	m.mu.Lock()
	m.paused = false
	m.mu.Unlock()
}

// terminate SIGTERMs the live process (resuming it first if paused) and waits up to timeout.
// It returns whether the process exited and its exit error.
func (m *member) terminate(timeout time.Duration) (exited bool, err error) {
	m.mu.Lock()
	p := m.proc
	m.wantRunning = false
	paused := m.paused
	m.paused = false
	m.mu.Unlock()
	if p == nil || p.exited() {
		return true, nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if paused {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return true, p.err
	case <-timer.C:
		return false, nil
	}
}

// signalPause sends SIGSTOP (pause) or SIGCONT (resume) to the live process.
func (m *member) signalPause(pause bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil || m.proc.exited() {
		return errors.New("not running")
	}
	sig := syscall.SIGCONT
	if pause {
		sig = syscall.SIGSTOP
	}
	if err := m.proc.cmd.Process.Signal(sig); err != nil {
		return err
	}
	m.paused = pause
	return nil
}

// setID records the member ID seen in a Status header.
func (m *member) setID(id uint64) {
	m.mu.Lock()
	m.id = id
	m.mu.Unlock()
}
