package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestGuestbookSim applies examples/guestbook.yaml unchanged with sim agents: the three
// ReplicationControllers run their pods, the Services get cluster IPs from the range, the
// frontend its requested node port, and get svc shows them as kubectl does; then a
// LoadBalancer gets both nodes as ingress, an ExternalName shows its name, and a clashing
// node port is refused.
func TestGuestbookSim(t *testing.T) {
	c := testcluster.Start(t, 1)
	eps := strings.Join(c.Endpoints(), ",")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	for _, args := range [][]string{
		{"agent", "--node", "sim", "--nodes", "2"},
		{"scheduler"},
		{"controller-manager", "--service-cluster-ip-range", "127.254.9.0/24"},
	} {
		go func() {
			done <- run(ctx, append(args, "--endpoints", eps, "--log-level", "error"), io.Discard, io.Discard)
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range 3 {
			if err := <-done; err != nil {
				t.Errorf("component returned %v", err)
			}
		}
	})
	stores := registry.NewStores(c.Client(), registry.Config{})
	eventually(t, "the controller-manager stored the service ranges", func() error {
		resp, err := c.Client().Get(context.Background(), "/registry/ranges/serviceips")
		if err != nil || len(resp.Kvs) == 0 {
			return fmt.Errorf("no range yet (%v)", err)
		}
		return nil
	})
	o := &orch{t: t, endpoints: eps, dir: t.TempDir()}
	wantLines(t, o.ok("ctl", "apply", "-f", "../../examples/guestbook.yaml"),
		"service/redis-master created", "service/redis-slave created", "service/frontend created",
		"replicationcontroller/redis-master created", "replicationcontroller/redis-slave created", "replicationcontroller/frontend created")
	eventually(t, "6 guestbook pods running", func() error {
		l, err := stores.Pods.List(context.Background(), registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		running := 0
		for _, p := range l.Items {
			if p.Status.Phase == api.PodRunning {
				running++
			}
		}
		if running != 6 {
			return fmt.Errorf("%d of %d pods running", running, len(l.Items))
		}
		return nil
	})
	out := o.ok("ctl", "get", "svc")
	for _, re := range []string{
		`(?m)^frontend\s+NodePort\s+127\.254\.9\.\d+\s+<none>\s+80:30001/TCP\s+\d+s$`,
		`(?m)^redis-master\s+ClusterIP\s+127\.254\.9\.\d+\s+<none>\s+6379/TCP\s+\d+s$`,
		`(?m)^redis-slave\s+ClusterIP\s+127\.254\.9\.\d+\s+<none>\s+6379/TCP\s+\d+s$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("get svc does not match %s:\n%s", re, out)
		}
	}
	wantLines(t, o.ok("ctl", "get", "rc", "-o", "name"),
		"replicationcontroller/frontend", "replicationcontroller/redis-master", "replicationcontroller/redis-slave")
	// Applying it again changes nothing: the allocated addresses are kept.
	wantLines(t, o.ok("ctl", "apply", "-f", "../../examples/guestbook.yaml"),
		"service/redis-master unchanged", "service/redis-slave unchanged", "service/frontend unchanged",
		"replicationcontroller/redis-master unchanged", "replicationcontroller/redis-slave unchanged", "replicationcontroller/frontend unchanged")
	// A LoadBalancer Service gets the Ready nodes' addresses as its ingress (ServiceLB).
	lb := o.file("lb.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec:\n  type: LoadBalancer\n  selector: {app: guestbook}\n  ports: [{port: 8081}]\n")
	o.ok("ctl", "apply", "-f", lb)
	eventually(t, "lb's ingress lists both nodes", func() error {
		svc, err := stores.Services.Get(context.Background(), "default", "lb")
		if err != nil {
			return err
		}
		if n := len(svc.Status.LoadBalancer.Ingress); n != 2 {
			return fmt.Errorf("%d ingress addresses", n)
		}
		out := o.ok("ctl", "get", "svc", "lb")
		in := svc.Status.LoadBalancer.Ingress
		if re := `lb\s+LoadBalancer\s+127\.254\.9\.\d+\s+` + regexp.QuoteMeta(in[0].IP+","+in[1].IP) + `\s+8081:3\d{4}/TCP`; !regexp.MustCompile(re).MatchString(out) {
			return fmt.Errorf("get svc lb does not match %s:\n%s", re, out)
		}
		return nil
	})
	wantHasLines(t, o.ok("ctl", "describe", "svc", "frontend"), "Type: NodePort", "Port: <unset> 80/TCP",
		"TargetPort: 8080/TCP", "NodePort: <unset> 30001/TCP")
	if out := o.ok("ctl", "describe", "svc", "lb"); !strings.Contains(out, "LoadBalancer Ingress:") {
		t.Errorf("describe svc lb has no LoadBalancer Ingress:\n%s", out)
	}
	// An ExternalName Service has no cluster IP; its name is its external address.
	ext := o.file("ext.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec:\n  type: ExternalName\n  externalName: db.example.com\n")
	o.ok("ctl", "apply", "-f", ext)
	wantTable(t, o.ok("ctl", "get", "svc", "ext"), "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT\\(S\\) AGE",
		`ext ExternalName <none> db\.example\.com <none> \d+s`)
	// A second NodePort Service asking for 30001 is refused.
	clash := o.file("clash.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: clash}\nspec:\n  type: NodePort\n  ports: [{port: 80, nodePort: 30001}]\n")
	if _, _, err := o.run("ctl", "apply", "-f", clash); err == nil || !strings.Contains(err.Error(), "provided port is already allocated") {
		t.Errorf("apply of a clashing node port: %v", err)
	}
}
