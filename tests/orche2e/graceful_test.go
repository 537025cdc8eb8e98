package orche2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

const (
	gracefulReplicas = 3
	gracefulPort     = 18090
)

// gracefulManifest is a Deployment of `orch hello-server` that drains on SIGTERM (it keeps
// serving for 2 s while its endpoint removal reaches every proxy, then finishes the
// requests in flight), and its Service.
const gracefulManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: gw
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels: {app: gw}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: gw}
    spec:
      terminationGracePeriodSeconds: 15
      containers:
      - name: web
        image: keel/hello:1
        command: ["orch", "hello-server", "--listen", "$(POD_IP):8080", "--shutdown-delay", "2s"]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: gw
  namespace: default
spec:
  selector: {app: gw}
  ports: [{name: http, port: 18090, targetPort: http}]
`

// hookedManifest is a pod whose preStop hook writes "prestop" to TRACE and whose process,
// on SIGTERM, writes "term" and exits only once RELEASE exists.
const hookedManifest = `apiVersion: v1
kind: Pod
metadata:
  name: hooked
  namespace: default
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap 'echo term >> TRACE; while [ ! -e RELEASE ]; do sleep 0.05; done; exit 0' TERM; while :; do sleep 0.05; done"]
    lifecycle:
      preStop:
        exec:
          command: ["sh", "-c", "echo prestop >> TRACE"]
`

// TestGracefulTermination runs the whole system (3 keeld, 2 schedulers, 2
// controller-managers, 3 process-mode agents) and checks graceful termination end to end:
// a rolling update of a Deployment behind a Service under steady HTTP load through the
// nodes' proxies loses no request, and a deleted pod runs its preStop hook, gets SIGTERM
// after it, and stays (terminating) until its process exited.
func TestGracefulTermination(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster of processes")
	}
	s := newSystem(t)
	s.startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitFor(t, ctx, "3 nodes Ready", 60*time.Second, func() error { return s.nodesReady(ctx, 3) })

	t.Run("rolling update under load loses no request", func(t *testing.T) { s.rolloutUnderLoad(t, ctx) })
	t.Run("preStop, then SIGTERM, then removal", func(t *testing.T) { s.preStopThenTerm(t, ctx) })
}

// appPods lists the pods labelled app=<app> in default, terminating ones included.
func (s *system) appPods(ctx context.Context, app string) ([]*api.Pod, error) {
	l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		return nil, err
	}
	var out []*api.Pod
	for _, p := range l.Items {
		if p.Labels["app"] == app {
			out = append(out, p)
		}
	}
	return out, nil
}

// gwSettled checks that exactly the Deployment's replicas exist (no terminating pod left),
// none of them in old, all Running and Ready, and the Endpoints list exactly them.
func (s *system) gwSettled(ctx context.Context, old map[string]bool) error {
	pods, err := s.appPods(ctx, "gw")
	if err != nil {
		return err
	}
	ips := map[string]bool{}
	for _, p := range pods {
		switch {
		case old[p.Name]:
			return fmt.Errorf("old pod %s still there (terminating: %v)", p.Name, p.DeletionTimestamp != nil)
		case p.DeletionTimestamp != nil || p.Status.Phase != api.PodRunning || !podReady(p):
			return fmt.Errorf("pod %s not Running and Ready (terminating: %v)", p.Name, p.DeletionTimestamp != nil)
		}
		ips[p.Status.PodIP] = true
	}
	if len(pods) != gracefulReplicas {
		return fmt.Errorf("%d pods, want %d", len(pods), gracefulReplicas)
	}
	ep, err := s.stores.Endpoints.Get(ctx, "default", "gw")
	if err != nil {
		return err
	}
	n := 0
	for _, ss := range ep.Subsets {
		for _, a := range ss.Addresses {
			if !ips[a.IP] {
				return fmt.Errorf("endpoint %s is not a current pod", a.IP)
			}
			n++
		}
	}
	if n != gracefulReplicas {
		return fmt.Errorf("%d ready endpoints, want %d", n, gracefulReplicas)
	}
	return nil
}

// load is clients sending GET / in a loop through the nodes' proxies until stopped.
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	ok, fail int
	errs     []string // the first failures
}

func (s *system) startLoad(clients int, port int) *load {
	l := &load{stop: make(chan struct{})}
	for i := range clients {
		// Slow requests (some are always in flight), each on a new connection through the
		// proxy, and POSTs, which Go's transport never retries: a request cut by a server
		// going away is seen as a failure.
		url := fmt.Sprintf("http://%s:%d/?sleep=20ms", s.agentAddress(i%3+1), port)
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer hc.CloseIdleConnections()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				err := post(hc, url)
				l.mu.Lock()
				if err == nil {
					l.ok++
				} else {
					l.fail++
					if len(l.errs) < 10 {
						l.errs = append(l.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
					}
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func post(hc *http.Client, url string) error {
	resp, err := hc.Post(url, "text/plain", strings.NewReader("ping"))
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "hello from gw-") {
		return fmt.Errorf("GET %s: %d %q", url, resp.StatusCode, b)
	}
	return nil
}

// finish stops the clients, waits for them and returns the counts.
func (l *load) finish() (ok, fail int, errs []string) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.fail, l.errs
}

func (l *load) counts() (ok, fail int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.fail
}

func (s *system) rolloutUnderLoad(t *testing.T, ctx context.Context) {
	s.t = t
	f := filepath.Join(t.TempDir(), "gw.yaml")
	if err := writeFile(f, gracefulManifest); err != nil {
		t.Fatal(err)
	}
	s.mustCtl("apply", "-f", f)
	waitFor(t, ctx, "3 gw pods Ready behind the Service", 60*time.Second, func() error { return s.gwSettled(ctx, nil) })
	before, err := s.appPods(ctx, "gw")
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]bool{}
	for _, p := range before {
		old[p.Name] = true
	}

	l := s.startLoad(6, gracefulPort)
	defer func() {
		select {
		case <-l.stop:
		default:
			l.finish()
		}
	}()
	waitFor(t, ctx, "load flowing", 30*time.Second, func() error {
		if ok, _ := l.counts(); ok < 20 {
			return fmt.Errorf("%d requests answered", ok)
		}
		return nil
	})
	start := time.Now()
	okBefore, _ := l.counts()
	s.mustCtl("rollout", "restart", "deployment/gw")
	// Settled means every old pod finished terminating under load, not only the rollout.
	waitFor(t, ctx, "every old pod replaced and gone", 90*time.Second, func() error { return s.gwSettled(ctx, old) })
	took := time.Since(start)
	ok, fail, errs := l.finish()
	t.Logf("rolling update of %d replicas under load: %v; %d requests answered during it, %d before, %d failed",
		gracefulReplicas, took.Round(time.Millisecond), ok-okBefore, okBefore, fail)
	if fail > 0 {
		t.Errorf("%d of %d requests failed during the rolling update; first: %s", fail, ok+fail, strings.Join(errs, "; "))
	}
	if ok == okBefore {
		t.Error("no request answered during the rolling update")
	}
}

func (s *system) preStopThenTerm(t *testing.T, ctx context.Context) {
	s.t = t
	dir := t.TempDir()
	trace, release := filepath.Join(dir, "trace"), filepath.Join(dir, "release")
	f := filepath.Join(dir, "hooked.yaml")
	if err := writeFile(f, strings.NewReplacer("TRACE", trace, "RELEASE", release).Replace(hookedManifest)); err != nil {
		t.Fatal(err)
	}
	s.mustCtl("apply", "-f", f)
	waitFor(t, ctx, "hooked Running", 60*time.Second, func() error {
		p, err := s.stores.Pods.Get(ctx, "default", "hooked")
		if err != nil {
			return err
		}
		if p.Status.Phase != api.PodRunning || !podReady(p) {
			return fmt.Errorf("phase %s, ready %v", p.Status.Phase, podReady(p))
		}
		return nil
	})
	out := s.mustCtl("delete", "pod", "hooked", "--grace-period=20", "--wait=false")
	if strings.TrimSpace(out) != `pod "hooked" deleted` {
		t.Fatalf("delete printed %q", out)
	}
	readTrace := func() string { b, _ := os.ReadFile(trace); return string(b) }
	waitFor(t, ctx, "preStop, then SIGTERM", 30*time.Second, func() error {
		if got := readTrace(); got != "prestop\nterm\n" {
			return fmt.Errorf("trace %q", got)
		}
		return nil
	})
	// The process has had SIGTERM and is still running: the pod stays, terminating.
	p, err := s.stores.Pods.Get(ctx, "default", "hooked")
	if err != nil || p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 20 {
		t.Fatalf("pod after SIGTERM: %+v (err %v), want it terminating with grace period 20", p, err)
	}
	if got := s.mustCtl("get", "pod", "hooked"); !strings.Contains(got, "Terminating") {
		t.Errorf("ctl get pod shows\n%s\nwant Terminating", got)
	}
	// It exits: ctl delete (waiting, as kubectl) returns once the agent removed the pod.
	if err := writeFile(release, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ctl("delete", "pod", "hooked", "--timeout", "30s"); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatal(err)
	}
	if _, err := s.stores.Pods.Get(ctx, "default", "hooked"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("pod still there after its process exited: %v", err)
	}
	if got := readTrace(); got != "prestop\nterm\n" {
		t.Errorf("trace %q, want exactly preStop then SIGTERM", got)
	}
}
