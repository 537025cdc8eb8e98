package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// probeTarget is what a container's probes need: its address, named ports, environment
// and working directory (for exec probes).
type probeTarget struct {
	ip      string
	ports   map[string]int32
	env     []string
	workdir string
	// mountPid, when not 0, is the container's process: its exec actions run in that
	// process's mount namespace, where its volumes are (volumes.go).
	mountPid int
}

func (r *podRunner) probeTarget(c *ctr) probeTarget {
	t := probeTarget{ip: r.ip, ports: map[string]int32{}, env: c.env, workdir: c.workdir}
	if len(c.spec.VolumeMounts) > 0 && c.pids != nil {
		t.mountPid = c.pids.Pid
	}
	for _, p := range c.spec.Ports {
		if p.Name != "" {
			t.ports[p.Name] = p.ContainerPort
		}
	}
	return t
}

func (t probeTarget) port(p api.IntOrString) (int, error) {
	if !p.IsString {
		return int(p.IntVal), nil
	}
	if n, ok := t.ports[p.StrVal]; ok {
		return int(n), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("no container port named %q", p.StrVal)
}

// runProbe probes one container attempt until ctx ends, reporting result changes: a
// readiness probe every flip, a liveness probe its failure, a startup probe its success or
// failure (then it stops). Probing starts when gate is closed, initialDelaySeconds after
// startedAt; initial is the result before the first probe.
func (r *podRunner) runProbe(ctx context.Context, i int, attempt int32, kind string, pr *api.Probe, t probeTarget,
	startedAt time.Time, initial bool, gate <-chan struct{}) {
	select {
	case <-gate:
	case <-ctx.Done():
		return
	}
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	successes, failures := max(pr.SuccessThreshold, 1), max(pr.FailureThreshold, 1)
	if kind != "readiness" {
		successes = 1 // as Kubernetes requires for liveness and startup
	}
	delay := time.Until(startedAt.Add(time.Duration(pr.InitialDelaySeconds) * time.Second))
	timer := time.NewTimer(max(delay, 0))
	defer timer.Stop()
	result := initial
	var okRun, failRun int32
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(period)
		ok := probe(ctx, pr, t, timeout)
		if ok {
			okRun, failRun = okRun+1, 0
		} else {
			okRun, failRun = 0, failRun+1
		}
		var report bool
		switch {
		case ok && !result && okRun >= successes:
			result, report = true, true
		case !ok && (result || kind == "startup") && failRun >= failures:
			result, report = false, true
		}
		if !report {
			continue
		}
		select {
		case r.events <- ctrEvent{ctr: i, attempt: attempt, probe: kind, ok: result}:
		case <-ctx.Done():
			return
		}
		if kind != "readiness" {
			return // the container is killed, or (startup) started
		}
	}
}

// probe runs one check with a timeout.
func probe(ctx context.Context, pr *api.Probe, t probeTarget, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case pr.Exec != nil:
		return execAction(ctx, pr.Exec, t) == nil
	case pr.HTTPGet != nil:
		return httpGetAction(ctx, pr.HTTPGet, t) == nil
	case pr.TCPSocket != nil:
		port, err := t.port(pr.TCPSocket.Port)
		if err != nil {
			return false
		}
		host := pr.TCPSocket.Host
		if host == "" {
			host = t.ip
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false
		}
		_ = conn.Close()
		return true
	}
	return false
}

// execAction runs a command with the container's environment and working directory, in
// its own process group (killed when ctx ends). A non-zero exit is an error carrying the
// end of the output.
func execAction(ctx context.Context, a *api.ExecAction, t probeTarget) error {
	if len(a.Command) == 0 {
		return errors.New("exec: no command")
	}
	argv := a.Command
	if t.mountPid != 0 {
		// As kubelet execs in the container: in its mount namespace, through nsenter
		// (a multi-threaded Go process cannot setns into a mount namespace itself).
		argv = append([]string{"nsenter", "--mount=/proc/" + strconv.Itoa(t.mountPid) + "/ns/mnt", "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = t.env, t.workdir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("exec %v: %w: %s", a.Command, err, bytes.TrimSpace(out[max(0, len(out)-256):]))
	}
	return nil
}

// httpGetAction issues a GET (host defaults to the pod IP); a status outside [200, 400) is
// an error.
func httpGetAction(ctx context.Context, g *api.HTTPGetAction, t probeTarget) error {
	port, err := t.port(g.Port)
	if err != nil {
		return err
	}
	host := g.Host
	if host == "" {
		host = t.ip
	}
	scheme := "http"
	if g.Scheme == "HTTPS" {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: g.Path}
	if u.Path == "" {
		u.Path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-probe/keel")
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // probes do not verify, like kubelet's
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s", u.String(), resp.Status)
	}
	return nil
}
