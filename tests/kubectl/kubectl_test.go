// Package kubectl_test drives the real kubectl binary against `orch apiserver` on a 3-member
// Keel cluster with the scheduler, controller-manager and a simulated agent, each its own
// process: kubectl must work unchanged (issue 16). kubectl missing fails the suite.
package kubectl_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/proccluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

// system is Keel with the orchestrator's components and an apiserver, as processes.
type system struct {
	t          *testing.T
	orch       string
	kubectl    string
	eps        string
	dir        string
	kubeconfig string
	apiservers []*exec.Cmd // the replicas started
	ports      []int       // the apiservers' ports
	// kubeconfigServer, when set, is a --server flag overriding the kubeconfig's.
	kubeconfigServer string

	mu    sync.Mutex
	procs []*exec.Cmd
	done  []chan struct{}
}

func newSystem(t *testing.T) *system {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is required by this suite (install kubectl 1.32 on PATH): %v", err)
	}
	keeld := proccluster.BuildKeeld(t)
	s := &system{t: t, orch: proccluster.BuildOrch(t), kubectl: kubectl, dir: t.TempDir()}
	keel := proccluster.Start(t, proccluster.Config{Binary: keeld})
	s.eps = strings.Join(keel.Endpoints(), ",")
	t.Cleanup(s.teardown)
	ports, err := proccluster.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(s.dir, "certs")
	s.kubeconfig = filepath.Join(certs, "admin.kubeconfig")
	tokens := filepath.Join(s.dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte("viewer-token,viewer,u-1,\"dev,qa\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.apiservers = []*exec.Cmd{s.start("apiserver", "apiserver", "--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(ports[0]),
		"--cert-dir", certs, "--token-auth-file", tokens)}
	s.ports = ports
	s.start("scheduler", "scheduler", "--leader-elect=false")
	s.start("controller-manager", "controller-manager", "--leader-elect=false")
	s.start("agent", "agent", "--node", "sim", "--nodes", "2", "--runtime", "sim", "--start-delay", "100ms", "--stop-delay", "100ms",
		"--metrics-interval", "1s")
	s.waitFor("the apiserver to be ready", func() error {
		_, err := s.kubectl2("get", "--raw", "/readyz")
		return err
	})
	return s
}

// start runs `orch args... --endpoints EPS`, its output in <dir>/<name>.log.
func (s *system) start(name string, args ...string) *exec.Cmd {
	s.t.Helper()
	logf, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.orch, append(args, "--endpoints", s.eps)...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	s.mu.Lock()
	s.procs, s.done = append(s.procs, cmd), append(s.done, done)
	s.mu.Unlock()
	return cmd
}

func (s *system) teardown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		_ = p.Process.Kill()
	}
	for _, d := range s.done {
		<-d
	}
	if s.t.Failed() {
		names, _ := filepath.Glob(filepath.Join(s.dir, "*.log"))
		for _, n := range names {
			b, _ := os.ReadFile(n)
			if len(b) > 8<<10 {
				b = b[len(b)-8<<10:]
			}
			s.t.Logf("---- %s (tail) ----\n%s", filepath.Base(n), b)
		}
	}
}

// kubectl2 runs kubectl with the admin kubeconfig and returns its output, and an error
// holding its standard error when it fails.
func (s *system) kubectl2(args ...string) (string, error) {
	return s.kubectlIn("", args...)
}

func (s *system) kubectlIn(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.kubectl, append(s.globalFlags(), args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// globalFlags are kubectl's flags of every run: the admin kubeconfig, and a discovery cache
// of this test's own.
func (s *system) globalFlags() []string {
	f := []string{"--kubeconfig", s.kubeconfig, "--cache-dir", filepath.Join(s.dir, "kubectl-cache")}
	if s.kubeconfigServer != "" {
		f = append(f, s.kubeconfigServer)
	}
	return f
}

// ok runs kubectl and fails the test when it fails.
func (s *system) ok(args ...string) string {
	s.t.Helper()
	out, err := s.kubectl2(args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// waitFor polls cond until it returns nil, failing the test after two minutes.
func (s *system) waitFor(what string, cond func() error) {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func wantMatch(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Fatalf("%s: no match for %q in:\n%s", what, p, out)
		}
	}
}

const manifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
`

func TestKubectl(t *testing.T) {
	s := newSystem(t)
	file := filepath.Join(s.dir, "web.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}

	wantMatch(t, "version", s.ok("version"), `Client Version: v1\.32`, `Server Version: v1\.32\.0`)
	wantMatch(t, "api-resources", s.ok("api-resources"),
		`(?m)^deployments\s+deploy\s+apps/v1\s+true\s+Deployment$`, `(?m)^pods\s+po\s+v1\s+true\s+Pod$`,
		`(?m)^namespaces\s+ns\s+v1\s+false\s+Namespace$`)
	wantMatch(t, "api-versions", s.ok("api-versions"), `(?m)^apps/v1$`, `(?m)^v1$`)

	apply := []string{"apply", "-f", file}
	wantMatch(t, "first apply", s.ok(apply...), `deployment.apps/web created`, `service/web created`)
	wantMatch(t, "second apply", s.ok(apply...), `deployment.apps/web unchanged`, `service/web unchanged`)

	wantMatch(t, "rollout status", s.ok("rollout", "status", "deployment/web", "--timeout=2m"), `successfully rolled out`)
	s.waitFor("2 pods", func() error {
		out, err := s.kubectl2("get", "pods", "-l", "app=web", "-o", "wide")
		if err != nil {
			return err
		}
		if n := strings.Count(out, "\nweb-"); n != 2 {
			return fmt.Errorf("%d pods:\n%s", n, out)
		}
		return nil
	})
	wantMatch(t, "get pods -o wide", s.ok("get", "pods", "-o", "wide"),
		`(?m)^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$`, `(?m)^web-\S+\s+1/1\s+Running\s+0\s`)
	wantMatch(t, "get deploy", s.ok("get", "deploy"), `(?m)^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$`, `(?m)^web\s+2/2\s+2\s+2\s`)
	wantMatch(t, "get svc -o name", s.ok("get", "svc", "web", "-o", "name"), `^service/web\n$`)
	wantMatch(t, "get -o jsonpath", s.ok("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"), `^2$`)

	// scale, then the new pod.
	wantMatch(t, "scale", s.ok("scale", "deployment", "web", "--replicas=3"), `deployment.apps/web scaled`)
	s.waitFor("3 ready replicas", func() error {
		out, err := s.kubectl2("get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}")
		if err != nil || out != "3" {
			return fmt.Errorf("readyReplicas %q, %v", out, err)
		}
		return nil
	})

	// set image: a rollout.
	wantMatch(t, "set image", s.ok("set", "image", "deployment/web", "web=nginx:1.26"), `deployment.apps/web image updated`)
	wantMatch(t, "rollout status after set image", s.ok("rollout", "status", "deployment/web", "--timeout=2m"), `successfully rolled out`)
	wantMatch(t, "image", s.ok("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"), `^nginx:1\.26$`)

	// kubectl top reads metrics.k8s.io (the agents' PodMetrics and NodeMetrics).
	s.waitFor("node metrics", func() error {
		out, err := s.kubectl2("top", "nodes")
		if err != nil || !regexp.MustCompile(`(?m)^sim-0\s+\d+m\s+\d+%`).MatchString(out) {
			return fmt.Errorf("top nodes: %q, %v", out, err)
		}
		return nil
	})

	// rollout history and undo.
	wantMatch(t, "rollout history", s.ok("rollout", "history", "deployment/web"), `(?m)^REVISION\s+CHANGE-CAUSE$`, `(?m)^1\s`, `(?m)^2\s`)
	wantMatch(t, "rollout undo", s.ok("rollout", "undo", "deployment/web"), `deployment.apps/web rolled back`)
	wantMatch(t, "rollout status after undo", s.ok("rollout", "status", "deployment/web", "--timeout=2m"), `successfully rolled out`)
	wantMatch(t, "image after undo", s.ok("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"), `^nginx:1\.25$`)

	wantMatch(t, "explain", s.ok("explain", "deployment.spec"), `KIND:\s+Deployment`, `(?m)^FIELD:\s+spec`, `replicas\s+<integer>`)

	// describe (with the events kubectl finds by field selector), get all, diff.
	wantMatch(t, "describe", s.ok("describe", "deployment", "web"), `(?m)^Name:\s+web$`, `(?m)^NewReplicaSet:\s+web-`, `ScalingReplicaSet`)
	wantMatch(t, "get all", s.ok("get", "all"), `deployment.apps/web`, `service/web`, `pod/web-`, `replicaset.apps/web-`)
	four := filepath.Join(s.dir, "web4.yaml")
	if err := os.WriteFile(four, []byte(strings.Replace(manifest, "replicas: 2", "replicas: 4", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := s.kubectl2("diff", "-f", four)
	if err == nil || !strings.Contains(out, "+  replicas: 4") || !strings.Contains(out, "-  replicas: 3") {
		t.Fatalf("diff: %v\n%s", err, out)
	}

	// drain evicts the pods of a node; the deployment replaces them elsewhere.
	wantMatch(t, "drain", s.ok("drain", "sim-0", "--ignore-daemonsets", "--timeout=2m"), `node/sim-0 cordoned`, `node/sim-0 drained`)
	s.waitFor("the pods to leave sim-0", func() error {
		out, err := s.kubectl2("get", "pods", "--field-selector", "spec.nodeName=sim-0", "-o", "name")
		if err != nil || out != "" {
			return fmt.Errorf("pods on sim-0: %q, %v", out, err)
		}
		return nil
	})
	wantMatch(t, "uncordon", s.ok("uncordon", "sim-0"), `node/sim-0 uncordoned`)

	// label, annotate, patch.
	s.ok("label", "deployment", "web", "tier=front")
	wantMatch(t, "get -l", s.ok("get", "deploy", "-l", "tier=front", "-o", "name"), `deployment.apps/web`)
	s.ok("annotate", "deployment", "web", "note=hi")
	s.ok("patch", "deployment", "web", "--type=merge", "-p", `{"metadata":{"labels":{"patched":"yes"}}}`)
	wantMatch(t, "patched labels", s.ok("get", "deploy", "web", "-o", "jsonpath={.metadata.labels.patched}"), `^yes$`)

	// create, errors.
	wantMatch(t, "create configmap", s.ok("create", "configmap", "c1", "--from-literal=a=b"), `configmap/c1 created`)
	_, err = s.kubectl2("create", "configmap", "c1", "--from-literal=a=b")
	wantMatch(t, "AlreadyExists", fmt.Sprint(err), `configmaps "c1" already exists`)
	_, err = s.kubectl2("get", "pod", "nope")
	wantMatch(t, "NotFound", fmt.Sprint(err), `Error from server \(NotFound\): pods "nope" not found`)
	wantMatch(t, "auth can-i", s.ok("auth", "can-i", "create", "pods"), `^yes\n$`)

	// Who is asking: the admin certificate, a token of --token-auth-file; a bad token is 401.
	wantMatch(t, "auth whoami", s.ok("auth", "whoami"), `Username\s+kubernetes-admin`, `Groups\s+\[system:masters system:authenticated\]`)
	wantMatch(t, "auth whoami as viewer", s.ok("--token=viewer-token", "auth", "whoami"), `Username\s+viewer`, `UID\s+u-1`, `Groups\s+\[dev qa system:authenticated\]`)
	_, err = s.kubectl2("--token=bad", "get", "pods")
	wantMatch(t, "bad token", fmt.Sprint(err), `error: You must be logged in to the server \(Unauthorized\)`)

	// RBAC: the token user may do nothing until bound to view; then it may list pods, not
	// delete them.
	_, err = s.kubectl2("--token=viewer-token", "get", "pods")
	wantMatch(t, "unbound viewer", fmt.Sprint(err), `Error from server \(Forbidden\): pods is forbidden: User "viewer" cannot list resource "pods" in API group "" in the namespace "default"`)
	wantMatch(t, "bind view", s.ok("create", "clusterrolebinding", "viewer-view", "--clusterrole=view", "--user=viewer"),
		`clusterrolebinding.rbac.authorization.k8s.io/viewer-view created`)
	s.waitFor("the binding to take effect", func() error {
		out, err := s.kubectl2("--token=viewer-token", "auth", "can-i", "list", "pods")
		if err != nil || out != "yes\n" {
			return fmt.Errorf("can-i list pods: %q, %v", out, err)
		}
		return nil
	})
	s.ok("--token=viewer-token", "get", "pods")
	wantMatch(t, "can-i --list", s.ok("--token=viewer-token", "auth", "can-i", "--list"), `(?m)^pods\s+\[\]\s+\[\]\s+\[get list watch\]`)
	out, err = s.kubectl2("--token=viewer-token", "auth", "can-i", "delete", "pods")
	if err == nil || out != "no\n" {
		t.Fatalf("viewer can-i delete pods: %q, %v", out, err)
	}
	_, err = s.kubectl2("--token=viewer-token", "delete", "configmap", "c1")
	wantMatch(t, "viewer delete", fmt.Sprint(err), `Error from server \(Forbidden\): configmaps "c1" is forbidden: User "viewer" cannot delete resource "configmaps" in API group "" in the namespace "default"`)
	// Escalation: a user may not grant what it does not hold.
	wantMatch(t, "bind edit for rb", s.ok("create", "rolebinding", "viewer-rb", "--clusterrole=admin", "--user=viewer", "-n", "kube-public"), `created`)
	s.waitFor("the admin binding", func() error {
		out, err := s.kubectl2("--token=viewer-token", "auth", "can-i", "create", "rolebindings", "-n", "kube-public")
		if err != nil || out != "yes\n" {
			return fmt.Errorf("can-i create rolebindings: %q, %v", out, err)
		}
		return nil
	})
	_, err = s.kubectl2("--token=viewer-token", "create", "rolebinding", "esc", "--clusterrole=cluster-admin", "--user=viewer", "-n", "kube-public")
	wantMatch(t, "escalation", fmt.Sprint(err), `rolebindings.rbac.authorization.k8s.io "esc" is forbidden: user "viewer"`, `attempting to grant RBAC permissions not currently held`)

	// get -w streams a change.
	s.getWatch(t)

	// A second replica sharing the cert dir serves the same objects; killing the first
	// leaves it serving.
	s.replica(t)

	// delete cascades to the pods (the garbage collector).
	wantMatch(t, "delete", s.ok("delete", "deployment", "web"), `deployment.apps "web" deleted`)
	s.ok("delete", "service", "web")
	s.waitFor("the pods to be gone", func() error {
		out, err := s.kubectl2("get", "pods", "-l", "app=web", "-o", "name")
		if err != nil || out != "" {
			return fmt.Errorf("pods %q, %v", out, err)
		}
		return nil
	})
	_, err = s.kubectl2("get", "deploy", "web")
	wantMatch(t, "deleted", fmt.Sprint(err), `deployments.apps "web" not found`)

	s.logs(t)
}

// logs runs a pod on a process-mode agent and reads its log with kubectl logs (pods/log,
// proxied to the agent).
func (s *system) logs(t *testing.T) {
	net := 100 + os.Getpid()%100
	s.start("agent-proc", "agent", "--runtime", "process", "--node", "proc", "--address", fmt.Sprintf("127.%d.1.1", net),
		"--pod-cidr", fmt.Sprintf("127.%d.20.0/24", net), "--root-dir", filepath.Join(s.dir, "agent-proc"),
		"--port", strconv.Itoa(s.ports[2]), "--stop-pods-on-exit")
	s.waitFor("node proc", func() error {
		_, err := s.kubectl2("get", "node", "proc")
		return err
	})
	s.ok("run", "logger", "--image=busybox", "--restart=Never", `--overrides={"spec":{"nodeName":"proc"}}`,
		"--command", "--", "sh", "-c", "echo hello-from-keel; exec sleep 600")
	s.waitFor("the pod's log", func() error {
		out, err := s.kubectl2("logs", "logger")
		if err != nil || !strings.Contains(out, "hello-from-keel") {
			return fmt.Errorf("logs %q, %v", out, err)
		}
		return nil
	})
	_, err := s.kubectl2("logs", "logger", "-c", "nope")
	wantMatch(t, "logs of a missing container", fmt.Sprint(err), `container nope is not valid for pod logger`)
	wantMatch(t, "delete pod", s.ok("delete", "pod", "logger", "--grace-period=1"), `pod "logger" deleted`)
}

// replica starts a second apiserver and checks kubectl against each, then kills the first.
func (s *system) replica(t *testing.T) {
	certs := filepath.Dir(s.kubeconfig)
	s.apiservers = append(s.apiservers, s.start("apiserver2", "apiserver", "--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(s.ports[1]), "--cert-dir", certs))
	server := func(i int) string { return "--server=https://127.0.0.1:" + strconv.Itoa(s.ports[i]) }
	s.waitFor("the second apiserver to be ready", func() error {
		_, err := s.kubectl2(server(1), "get", "--raw", "/readyz")
		return err
	})
	first := s.ok(server(0), "get", "configmaps", "-o", "name")
	second := s.ok(server(1), "get", "configmaps", "-o", "name")
	if first != second || !strings.Contains(first, "configmap/w1") {
		t.Fatalf("replicas disagree:\n%s\n%s", first, second)
	}
	_ = s.apiservers[0].Process.Kill()
	s.ok(server(1), "create", "configmap", "after-kill")
	wantMatch(t, "after the first replica died", s.ok(server(1), "get", "configmap", "after-kill", "-o", "name"), `configmap/after-kill`)
	// The kubeconfig names one replica; point it at the one alive.
	s.kubeconfigServer = server(1)
}

// getWatch runs kubectl get configmaps -w, creates a ConfigMap and waits for its row.
func (s *system) getWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, s.kubectl, append(s.globalFlags(), "get", "configmaps", "-w")...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		cancel()
		for range lines {
		}
		_ = cmd.Wait()
	}()
	timeout := time.After(2 * time.Minute)
	next := func(what string) string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("get -w ended before %s: %s", what, errb.String())
			}
			return l
		case <-timeout:
			t.Fatalf("get -w: no %s", what)
		}
		return ""
	}
	// The listed objects come first: c1.
	for l := next("c1"); !strings.HasPrefix(l, "c1 "); l = next("c1") {
	}
	s.ok("create", "configmap", "w1", "--from-literal=x=y")
	for l := next("w1"); !strings.HasPrefix(l, "w1 "); l = next("w1") {
	}
}
