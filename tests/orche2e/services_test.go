package orche2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// servicesManifest is a NodePort Service in front of a Deployment of 3 hello-servers.
const servicesManifest = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 8090
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: keel/hello:1
        command: ["orch", "hello-server", "--listen", "$(POD_IP):8080"]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
`

// envPodManifest is a pod started after the web Service: it prints its service links.
const envPodManifest = `apiVersion: v1
kind: Pod
metadata:
  name: env-check
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: env
    image: busybox
    command: ["sh", "-c", "echo host=$WEB_SERVICE_HOST port=$WEB_SERVICE_PORT; sleep 600"]
`

// TestServices runs keeld and orch processes (a scheduler, a controller-manager with its
// own cluster IP range, two process-mode agents) and checks Services as Kubernetes users
// rely on them: a cluster IP from the range and a node port, both reaching every ready
// replica (through the proxies of every node); the WEB_SERVICE_HOST/PORT variables of a pod
// started after the Service; 100 Services created at once getting distinct addresses; and
// the guestbook of examples/guestbook.yaml answering on node port 30001 of every node.
func TestServices(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster of processes")
	}
	s := newSystem(t)
	ipRange := fmt.Sprintf("127.254.%d.0/24", s.net)
	s.start("s1", "scheduler", "--id", "s1")
	s.start("cm1", "controller-manager", "--id", "cm1", "--service-cluster-ip-range", ipRange)
	for i := 1; i <= 2; i++ {
		s.startAgent(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitFor(t, ctx, "2 nodes Ready", 60*time.Second, func() error { return s.nodesReady(ctx, 2) })
	waitFor(t, ctx, "the service ranges stored", 30*time.Second, func() error {
		resp, err := s.cli.Get(ctx, "/registry/ranges/serviceips")
		if err != nil || len(resp.Kvs) == 0 || !strings.Contains(string(resp.Kvs[0].Value), ipRange) {
			return fmt.Errorf("not yet (%v)", err)
		}
		return nil
	})

	s.applyManifest(t, "web.yaml", servicesManifest)
	svc, err := s.stores.Services.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	ip, nodePort := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort
	if a, err := netip.ParseAddr(ip); err != nil || !netip.MustParsePrefix(ipRange).Contains(a) {
		t.Fatalf("web's clusterIP %q is not in %s", ip, ipRange)
	}
	if nodePort < 30000 || nodePort > 32767 {
		t.Fatalf("web's nodePort %d is out of 30000-32767", nodePort)
	}
	t.Logf("get svc:\n%s", s.mustCtl("get", "svc"))
	urls := []string{fmt.Sprintf("http://%s:8090/", ip)}
	for i := 1; i <= 2; i++ {
		urls = append(urls, fmt.Sprintf("http://%s:%d/", s.agentAddress(i), nodePort))
	}
	for _, url := range urls {
		waitFor(t, ctx, url+" reaches every ready replica", 60*time.Second, func() error { return s.reachesAll(ctx, "web", 3, url) })
	}

	s.applyManifest(t, "env.yaml", envPodManifest)
	want := fmt.Sprintf("host=%s port=8090", ip)
	waitFor(t, ctx, "env-check prints "+want, 30*time.Second, func() error {
		out, err := s.ctl("logs", "env-check")
		if err != nil || strings.TrimSpace(out) != want {
			return fmt.Errorf("logs %q (%v)", out, err)
		}
		return nil
	})

	s.concurrentServices(t, ctx, ipRange)
	s.guestbook(t, ctx)
}

// reachesAll checks that new connections to url reach each of the n ready pods labelled
// app (hello-server answers "hello from <pod>").
func (s *system) reachesAll(ctx context.Context, app string, n int, url string) error {
	pods, err := s.appPods(ctx, app)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, p := range pods {
		if podReady(p) {
			want[p.Name] = true
		}
	}
	if len(want) != n {
		return fmt.Errorf("%d ready %s pods, want %d", len(want), app, n)
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	seen := map[string]bool{}
	for range 6 * n {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		seen[strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(b)), "hello from "))] = true
	}
	for name := range want {
		if !seen[name] {
			return fmt.Errorf("%d requests to %s reached %v, not %s", 6*n, url, seen, name)
		}
	}
	return nil
}

// concurrentServices creates 100 NodePort Services from 100 goroutines, each through its
// own registry (the create path of ctl apply and every controller), checks their
// addresses are distinct and from the ranges, then deletes them and checks every
// allocation went back.
func (s *system) concurrentServices(t *testing.T, ctx context.Context, ipRange string) {
	t.Helper()
	before := s.allocationKeys(t, ctx)
	const n = 100
	out := make([]*api.Service, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := &api.Service{ObjectMeta: api.ObjectMeta{Namespace: "bulk", Name: fmt.Sprintf("svc-%d", i)},
				Spec: api.ServiceSpec{Type: "NodePort", Selector: map[string]string{"app": "none"}, Ports: []api.ServicePort{{Port: 80}}}}
			out[i], errs[i] = registry.NewStores(s.cli, registry.Config{}).Services.Create(ctx, svc)
		}()
	}
	wg.Wait()
	ips, ports := map[string]bool{}, map[int32]bool{}
	prefix := netip.MustParsePrefix(ipRange)
	for i, svc := range out {
		if errs[i] != nil {
			t.Fatalf("create svc-%d: %v", i, errs[i])
		}
		a, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !prefix.Contains(a) {
			t.Errorf("svc-%d: clusterIP %q not in %s", i, svc.Spec.ClusterIP, ipRange)
		}
		ips[svc.Spec.ClusterIP], ports[svc.Spec.Ports[0].NodePort] = true, true
	}
	if len(ips) != n || len(ports) != n {
		t.Fatalf("%d Services got %d distinct cluster IPs and %d distinct node ports", n, len(ips), len(ports))
	}
	for i := range n {
		if _, err := s.stores.Services.Delete(ctx, "bulk", fmt.Sprintf("svc-%d", i), registry.DeleteOptions{}); err != nil && !errors.Is(err, registry.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if after := s.allocationKeys(t, ctx); after != before {
		t.Errorf("%d allocation keys after deleting the 100 Services, want %d as before", after, before)
	}
}

func (s *system) allocationKeys(t *testing.T, ctx context.Context) int64 {
	t.Helper()
	var total int64
	for _, p := range []string{"/registry/ipallocations/", "/registry/nodeportallocations/"} {
		resp, err := s.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		total += resp.Count
	}
	return total
}

// guestbook applies examples/guestbook.yaml unchanged: the frontend answers on node port
// 30001 of every node and found the redis master by REDIS_MASTER_SERVICE_HOST.
func (s *system) guestbook(t *testing.T, ctx context.Context) {
	t.Helper()
	s.mustCtl("apply", "-f", "../../examples/guestbook.yaml")
	master, err := s.stores.Services.Get(ctx, "default", "redis-master")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		url := fmt.Sprintf("http://%s:30001/", s.agentAddress(i))
		waitFor(t, ctx, url+" reaches the 3 frontends", 60*time.Second, func() error {
			return s.reachesAll(ctx, "guestbook", 3, url)
		})
	}
	pods, err := s.appPods(ctx, "guestbook")
	if err != nil || len(pods) == 0 {
		t.Fatalf("frontend pods: %v (%d)", err, len(pods))
	}
	want := fmt.Sprintf("redis master at %s:6379", master.Spec.ClusterIP)
	if out := s.mustCtl("logs", pods[0].Name); !strings.Contains(out, want) {
		t.Errorf("logs of %s: %q, want %q", pods[0].Name, out, want)
	}
	t.Logf("get svc,rc:\n%s\n%s", s.mustCtl("get", "svc"), s.mustCtl("get", "rc"))
}
