package compat_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/proccluster"
)

// TestEtcdctlCoord drives etcdctl's long-running commands (watch, lease keep-alive, lock, elect)
// against both binaries: the etcd run proves the expectations, the keel run checks Keel.
func TestEtcdctlCoord(t *testing.T) {
	t.Run("etcd", func(t *testing.T) {
		etcdctlCoordSuite(t, proccluster.EtcdctlBinary(t), proccluster.EtcdBinary(t))
	})
	t.Run("keel", func(t *testing.T) {
		etcdctlCoordSuite(t, proccluster.EtcdctlBinary(t), proccluster.BuildKeeld(t))
	})
}

// lineTimeout bounds the wait for one expected output line of a running etcdctl. It is a hang
// guard, not a timing check.
const lineTimeout = 30 * time.Second

// running is an etcdctl process whose stdout is read line by line.
type running struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	lines chan string
	// stderr collects the process's standard error for failure messages.
	stderr *syncBuffer
	done   chan struct{}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start launches etcdctl with args against the cluster (endpoints given by eps, all members when
// empty) and returns it running. It is killed by t.Cleanup if still running.
func (x ctl) start(eps []string, args ...string) *running {
	x.t.Helper()
	if len(eps) == 0 {
		eps = x.c.Endpoints()
	}
	full := append([]string{"--endpoints=" + strings.Join(eps, ","), "--dial-timeout=10s"}, args...)
	cmd := exec.Command(x.etcdctl, full...)
	cmd.Env = append(etcdctlFreeEnv(), "ETCDCTL_API=3")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		x.t.Fatal(err)
	}
	r := &running{t: x.t, name: strings.Join(args, " "), cmd: cmd, lines: make(chan string, 1024), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		x.t.Fatalf("etcdctl %s: %v", r.name, err)
	}
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(r.done)
	}()
	x.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.done
	})
	return r
}

// next returns the next stdout line, failing the test if none comes within lineTimeout.
func (r *running) next() string {
	r.t.Helper()
	select {
	case l, ok := <-r.lines:
		if !ok {
			r.t.Fatalf("etcdctl %s: exited before the expected output; stderr:\n%s", r.name, r.stderr.String())
		}
		return l
	case <-time.After(lineTimeout):
		r.t.Fatalf("etcdctl %s: no output line within %v; stderr:\n%s", r.name, lineTimeout, r.stderr.String())
	}
	return ""
}

// expect reads the next len(want) lines and requires them equal to want.
func (r *running) expect(want ...string) {
	r.t.Helper()
	for i, w := range want {
		if got := r.next(); got != w {
			r.t.Fatalf("etcdctl %s: line %d = %q, want %q (expected %q)", r.name, i, got, w, want)
		}
	}
}

// quiet fails the test if a line is already waiting: the process must not have printed anything
// yet. It does not wait (that would be a timing check); callers use it after an observable
// point that orders the output.
func (r *running) quiet() {
	r.t.Helper()
	select {
	case l, ok := <-r.lines:
		if ok {
			r.t.Fatalf("etcdctl %s: unexpected output %q", r.name, l)
		}
	default:
	}
}

// stop sends sig and waits for the process to exit.
func (r *running) stop(sig syscall.Signal) {
	r.t.Helper()
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.done:
	case <-time.After(lineTimeout):
		r.t.Fatalf("etcdctl %s: did not exit after %v", r.name, sig)
	}
}

var leaseGranted = regexp.MustCompile(`^lease ([0-9a-f]+) granted with TTL\((\d+)s\)$`)

func etcdctlCoordSuite(t *testing.T, etcdctl, binary string) {
	c := proccluster.Start(t, proccluster.Config{Binary: binary, Members: 3})

	t.Run("watch-prefix", func(t *testing.T) {
		x := ctl{t: t, etcdctl: etcdctl, c: c}
		// Writes before the watch: replayed with --rev. Revisions start at 2 on a new cluster
		// (the lease and lock subtests run after this one).
		x.must("", "put", "/w/a", "1")   // 2
		x.must("", "put", "/other", "x") // 3
		x.must("", "put", "/w/b", "2")   // 4
		x.must("", "del", "/w/a")        // 5
		w := x.start([]string{c.Endpoint(1)}, "watch", "/w/", "--prefix", "--rev", "2", "--prev-kv")
		w.expect("PUT", "/w/a", "1", "PUT", "/w/b", "2", "DELETE", "/w/a", "1", "/w/a", "")
		// A live event after the replay: the watcher is synced once the replay has arrived.
		x.must("", "put", "/w/c", "3")
		w.expect("PUT", "/w/c", "3")
		x.must("", "put", "/other", "y") // outside the prefix: nothing
		x.must("", "put", "/w/b", "22")
		w.expect("PUT", "/w/b", "2", "/w/b", "22")
		w.stop(syscall.SIGTERM)
	})

	t.Run("lease", func(t *testing.T) {
		x := ctl{t: t, etcdctl: etcdctl, c: c}
		out := strings.TrimSpace(x.must("", "lease", "grant", "60"))
		m := leaseGranted.FindStringSubmatch(out)
		if m == nil || m[2] != "60" {
			t.Fatalf("lease grant 60: %q, want %q", out, "lease <id> granted with TTL(60s)")
		}
		id := m[1]
		x.must("", "put", "--lease="+id, "/l/k1", "v1")
		x.must("", "put", "--lease="+id, "/l/k2", "v2")
		if out := x.must("", "lease", "list"); !strings.Contains(out, id) {
			t.Errorf("lease list: %q does not name %s", out, id)
		}
		ttl := strings.TrimSpace(x.must("", "lease", "timetolive", id, "--keys"))
		ttlRe := regexp.MustCompile(`^lease ` + id + ` granted with TTL\(60s\), remaining\((\d+)s\), attached keys\(\[(.*)\]\)$`)
		if m := ttlRe.FindStringSubmatch(ttl); m == nil || (m[2] != "/l/k1 /l/k2" && m[2] != "/l/k2 /l/k1") {
			t.Errorf("lease timetolive --keys: %q, want TTL 60 with keys /l/k1 /l/k2", ttl)
		}
		if out, want := strings.TrimSpace(x.must("", "lease", "keep-alive", "--once", id)), "lease "+id+" keepalived with TTL(60)"; out != want {
			t.Errorf("lease keep-alive --once: %q, want %q", out, want)
		}
		// The streaming keep-alive, from a follower: it prints one line per renewal.
		ka := x.start([]string{c.Endpoint(2)}, "lease", "keep-alive", id)
		ka.expect("lease " + id + " keepalived with TTL(60)")
		ka.stop(syscall.SIGTERM)

		if out, want := strings.TrimSpace(x.must("", "lease", "revoke", id)), "lease "+id+" revoked"; out != want {
			t.Errorf("lease revoke: %q, want %q", out, want)
		}
		if out := x.must("", "get", "/l/", "--prefix"); out != "" {
			t.Errorf("keys of the revoked lease: %q, want none", out)
		}
		if out, want := strings.TrimSpace(x.must("", "lease", "timetolive", id)), "lease "+id+" already expired"; out != want {
			t.Errorf("timetolive of the revoked lease: %q, want %q", out, want)
		}
		_, errOut, ok := x.run("", "put", "--lease="+id, "/l/k3", "v3")
		if ok || !strings.Contains(errOut, "etcdserver: requested lease not found") {
			t.Errorf("put with the revoked lease: ok=%v stderr %q, want the lease-not-found error", ok, errOut)
		}
	})

	t.Run("lock", func(t *testing.T) {
		x := ctl{t: t, etcdctl: etcdctl, c: c}
		first := x.start([]string{c.Endpoint(0)}, "lock", "mylock")
		key1 := first.next()
		if !strings.HasPrefix(key1, "mylock/") {
			t.Fatalf("lock: first line %q, want the lock key under mylock/", key1)
		}
		second := x.start([]string{c.Endpoint(1)}, "lock", "mylock", "echo", "second holder")
		// The second waiter is queued once its own key exists under the prefix.
		pollKeys(t, x, "mylock/", 2)
		second.quiet()
		first.stop(syscall.SIGTERM) // releases the lock
		second.expect("second holder")
		select {
		case <-second.done:
		case <-time.After(lineTimeout):
			t.Fatal("lock with a command did not exit after the command ran")
		}
		pollKeys(t, x, "mylock/", 0)
	})

	t.Run("elect", func(t *testing.T) {
		x := ctl{t: t, etcdctl: etcdctl, c: c}
		a := x.start([]string{c.Endpoint(0)}, "elect", "myelection", "alpha")
		keyA := a.next()
		if !strings.HasPrefix(keyA, "myelection/") {
			t.Fatalf("elect: first line %q, want the candidate key", keyA)
		}
		a.expect("alpha")
		obs := x.start([]string{c.Endpoint(2)}, "elect", "-l", "myelection")
		if k := obs.next(); k != keyA {
			t.Fatalf("observer: leader key %q, want %q", k, keyA)
		}
		obs.expect("alpha")
		b := x.start([]string{c.Endpoint(1)}, "elect", "myelection", "beta")
		pollKeys(t, x, "myelection/", 2)
		b.quiet()
		a.stop(syscall.SIGTERM) // resigns
		keyB := b.next()
		if !strings.HasPrefix(keyB, "myelection/") || keyB == keyA {
			t.Fatalf("second candidate: key %q, want a new key under myelection/", keyB)
		}
		b.expect("beta")
		if k := obs.next(); k != keyB {
			t.Fatalf("observer after the handover: key %q, want %q", k, keyB)
		}
		obs.expect("beta")
		b.stop(syscall.SIGTERM)
		obs.stop(syscall.SIGTERM)
	})
}

// pollKeys waits until exactly n keys exist under prefix.
func pollKeys(t *testing.T, x ctl, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), lineTimeout)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		last = x.must("", "get", prefix, "--prefix", "--keys-only")
		if len(strings.Fields(last)) == n {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("keys under %s: never %d; last:\n%s", prefix, n, last)
}
