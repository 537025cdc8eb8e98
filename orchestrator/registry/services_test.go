package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

func service(name, typ string, ports ...api.ServicePort) *api.Service {
	if len(ports) == 0 {
		ports = []api.ServicePort{{Port: 80}}
	}
	return &api.Service{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
		Spec: api.ServiceSpec{Type: typ, Selector: map[string]string{"app": name}, Ports: ports}}
}

func keyCount(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(ctxT(t), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// TestServiceAllocation drives Services' cluster IP and node port allocation through the
// registry, the one place every writer creates and deletes Services.
func TestServiceAllocation(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	t.Run("Concurrent", func(t *testing.T) { testAllocConcurrent(t, cli) })
	t.Run("Requested", func(t *testing.T) { testAllocRequested(t, cli) })
	t.Run("UpdateAndDelete", func(t *testing.T) { testAllocUpdateDelete(t, cli) })
	t.Run("Ranges", func(t *testing.T) { testAllocRanges(t, cli) })
}

// testAllocConcurrent creates 100 NodePort Services at once, each through its own Store
// (as separate writers), from a /24 and 200 ports, so the random picks collide often.
func testAllocConcurrent(t *testing.T, cli *clientv3.Client) {
	cfg := registry.Config{Prefix: "/concurrent", ServiceClusterIPRange: "127.254.7.0/24", ServiceNodePortRange: "30000-30199"}
	const n = 100
	out := make([]*api.Service, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = registry.New[api.Service](cli, cfg).Create(context.Background(), service(fmt.Sprintf("s%d", i), "NodePort"))
		}()
	}
	wg.Wait()
	ips, ports := map[string]string{}, map[int32]string{}
	prefix := netip.MustParsePrefix("127.254.7.0/24")
	for i, svc := range out {
		if errs[i] != nil {
			t.Fatalf("create s%d: %v", i, errs[i])
		}
		ip, np := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort
		if a, err := netip.ParseAddr(ip); err != nil || !prefix.Contains(a) {
			t.Errorf("%s: clusterIP %q not in %s", svc.Name, ip, prefix)
		}
		if np < 30000 || np > 30199 {
			t.Errorf("%s: nodePort %d out of range", svc.Name, np)
		}
		if other, dup := ips[ip]; dup {
			t.Errorf("%s and %s share clusterIP %s", svc.Name, other, ip)
		}
		if other, dup := ports[np]; dup {
			t.Errorf("%s and %s share nodePort %d", svc.Name, other, np)
		}
		ips[ip], ports[np] = svc.Name, svc.Name
	}
	if got := keyCount(t, cli, "/concurrent/ipallocations/"); got != n {
		t.Errorf("%d IP allocation keys, want %d", got, n)
	}
	if got := keyCount(t, cli, "/concurrent/nodeportallocations/"); got != n {
		t.Errorf("%d node port allocation keys, want %d", got, n)
	}
}

func testAllocRequested(t *testing.T, cli *clientv3.Client) {
	ctx := ctxT(t)
	svcs := registry.New[api.Service](cli, registry.Config{Prefix: "/requested"})
	a := service("a", "NodePort", api.ServicePort{Port: 80, NodePort: 30001})
	a.Spec.ClusterIP = "127.254.0.10"
	if _, err := svcs.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ip string
		nodePort int32
		want     string
	}{
		{"ip-taken", "127.254.0.10", 0, `spec.clusterIPs: Invalid value: "[127.254.0.10]": failed to allocate IP 127.254.0.10: provided IP is already allocated`},
		{"ip-out-of-range", "127.1.0.1", 0, "failed to allocate IP 127.1.0.1: the provided IP (127.1.0.1) is not in the valid range. The range of valid IPs is 127.254.0.0/16"},
		{"port-taken", "", 30001, `spec.ports[0].nodePort: Invalid value: "30001": provided port is already allocated`},
		{"port-out-of-range", "", 80, "provided port is not in the valid range. The range of valid ports is 30000-32767"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := service("b-"+tc.name, "NodePort", api.ServicePort{Port: 80, NodePort: tc.nodePort})
			b.Spec.ClusterIP = tc.ip
			_, err := svcs.Create(ctx, b)
			if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create: %v, want an invalid error containing %q", err, tc.want)
			}
		})
	}
	if got := keyCount(t, cli, "/requested/ipallocations/"); got != 1 {
		t.Errorf("%d IP allocation keys after refused creates, want 1", got)
	}
	if _, err := svcs.Create(ctx, a); !errors.Is(err, registry.ErrAlreadyExists) {
		t.Errorf("second create of a: %v, want ErrAlreadyExists", err)
	}
	headless := service("headless", "")
	headless.Spec.ClusterIP = api.ClusterIPNone
	ext := &api.Service{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "ext"},
		Spec: api.ServiceSpec{Type: api.ServiceTypeExternalName, ExternalName: "example.com"}}
	for _, svc := range []*api.Service{headless, ext} {
		got, err := svcs.Create(ctx, svc)
		if err != nil {
			t.Fatal(err)
		}
		if ip := got.Spec.ClusterIP; ip != svc.Spec.ClusterIP {
			t.Errorf("%s: clusterIP %q, want %q", svc.Name, ip, svc.Spec.ClusterIP)
		}
	}
	if got := keyCount(t, cli, "/requested/ipallocations/"); got != 1 {
		t.Errorf("%d IP allocation keys after headless and ExternalName, want 1", got)
	}
}

func testAllocUpdateDelete(t *testing.T, cli *clientv3.Client) {
	ctx := ctxT(t)
	svcs := registry.New[api.Service](cli, registry.Config{Prefix: "/update"})
	created, err := svcs.Create(ctx, service("web", "LoadBalancer"))
	if err != nil {
		t.Fatal(err)
	}
	// An update without the allocated fields (an apply of the original manifest) keeps them.
	next := service("web", "LoadBalancer")
	next.ResourceVersion = created.ResourceVersion
	next.Labels = map[string]string{"v": "2"}
	updated, err := svcs.Update(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Spec.ClusterIP != created.Spec.ClusterIP || updated.Spec.Ports[0].NodePort != created.Spec.Ports[0].NodePort {
		t.Fatalf("update changed the allocation: got %s/%d, want %s/%d", updated.Spec.ClusterIP, updated.Spec.Ports[0].NodePort,
			created.Spec.ClusterIP, created.Spec.Ports[0].NodePort)
	}
	for name, mutate := range map[string]func(*api.Service){
		"clusterIP": func(s *api.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "127.254.9.9", nil },
		"nodePort":  func(s *api.Service) { s.Spec.Ports[0].NodePort++ },
		"type":      func(s *api.Service) { s.Spec.Type = "ClusterIP"; s.Spec.Ports[0].NodePort = 0 },
	} {
		_, err := svcs.GuaranteedUpdate(ctx, "default", "web", func(s *api.Service) (*api.Service, error) { mutate(s); return s, nil })
		if !errors.Is(err, api.ErrInvalid) {
			t.Errorf("changing %s: %v, want an invalid error", name, err)
		}
	}
	if _, err := svcs.Delete(ctx, "default", "web", registry.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"/update/ipallocations/", "/update/nodeportallocations/"} {
		if got := keyCount(t, cli, prefix); got != 0 {
			t.Errorf("%d keys under %s after delete, want 0", got, prefix)
		}
	}
	again := service("again", "NodePort", api.ServicePort{Port: 80, NodePort: created.Spec.Ports[0].NodePort})
	again.Spec.ClusterIP = created.Spec.ClusterIP
	if _, err := svcs.Create(ctx, again); err != nil {
		t.Fatalf("reusing the released addresses: %v", err)
	}
}

func testAllocRanges(t *testing.T, cli *clientv3.Client) {
	ctx := ctxT(t)
	cfg := registry.Config{Prefix: "/ranges", ServiceClusterIPRange: "127.254.3.0/24"}
	if err := registry.EnsureServiceRanges(ctx, cli, cfg); err != nil {
		t.Fatal(err)
	}
	// A writer configured otherwise uses the stored range.
	got, err := registry.New[api.Service](cli, registry.Config{Prefix: "/ranges"}).Create(ctx, service("x", ""))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Spec.ClusterIP, "127.254.3.") {
		t.Errorf("clusterIP %s, want one of the stored range 127.254.3.0/24", got.Spec.ClusterIP)
	}
	cfg.ServiceClusterIPRange = "127.254.4.0/24"
	if err := registry.EnsureServiceRanges(ctx, cli, cfg); err == nil {
		t.Error("EnsureServiceRanges with a different range succeeded")
	}
}

// TestServiceRepair removes a Service key and an allocation key behind the registry's
// back (as etcdctl del would) and checks one repair pass mends both.
func TestServiceRepair(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx := ctxT(t)
	cfg := registry.Config{Prefix: "/repair"}
	svcs := registry.New[api.Service](cli, cfg)
	gone, err := svcs.Create(ctx, service("gone", "NodePort"))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := svcs.Create(ctx, service("kept", "NodePort"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, svcs.Key("default", "gone")); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, "/repair/ipallocations/"+kept.Spec.ClusterIP); err != nil {
		t.Fatal(err)
	}
	res, err := registry.RepairServiceAllocations(ctx, cli, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Released != 2 || res.Restored != 1 || len(res.Conflicts) != 0 {
		t.Fatalf("repair = %+v, want 2 released (gone's IP and port), 1 restored (kept's IP)", res)
	}
	exists := func(key string) bool {
		resp, err := cli.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Kvs) == 1
	}
	if !exists("/repair/ipallocations/" + kept.Spec.ClusterIP) {
		t.Errorf("kept's IP allocation not restored")
	}
	if exists("/repair/ipallocations/" + gone.Spec.ClusterIP) {
		t.Errorf("gone's IP allocation not released")
	}
	if again, err := registry.RepairServiceAllocations(ctx, cli, cfg); err != nil || again.Released+again.Restored != 0 {
		t.Errorf("second pass = %+v, %v; want nothing to do", again, err)
	}
}
