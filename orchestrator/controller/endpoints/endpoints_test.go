package endpoints_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/endpoints"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

const wait = 30 * time.Second

type env struct {
	t      *testing.T
	ctx    context.Context
	cli    *clientv3.Client
	stores *registry.Stores
}

func newEnv(t *testing.T) *env {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return &env{t: t, ctx: ctx, cli: cli, stores: registry.NewStores(cli, registry.Config{})}
}

// startController runs an Endpoints controller until the returned stop is called (or the
// test ends).
func (e *env) startController(cfg endpoints.Config) (stop func()) {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- endpoints.Run(ctx, e.cli, cfg) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Run: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// write runs fn until it succeeds or fails with one of done, retrying other errors: on a
// loaded machine a write may fail with "leader changed" after having applied, so done lists
// the errors a retry of an applied write gives (ErrAlreadyExists after a create, ErrNotFound
// after a delete).
func (e *env) write(fn func() error, done ...error) {
	e.t.Helper()
	if err := retry(e.ctx, fn, done...); err != nil {
		e.t.Fatal(err)
	}
}

// retry is write for goroutines other than the test's: it returns the last error after
// 50 failed attempts 20 ms apart, or when ctx ends.
func retry(ctx context.Context, fn func() error, done ...error) error {
	var err error
	for range 50 {
		if err = fn(); err == nil {
			return nil
		}
		for _, d := range done {
			if errors.Is(err, d) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return err
}

func (e *env) createService(name string, selector map[string]string, ports ...api.ServicePort) {
	e.t.Helper()
	e.write(func() error {
		_, err := e.stores.Services.Create(e.ctx, &api.Service{
			ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"svc": name}},
			Spec:       api.ServiceSpec{Selector: selector, Ports: ports}})
		return err
	}, registry.ErrAlreadyExists)
}

func (e *env) createPod(name string, lbls map[string]string, ports ...api.ContainerPort) {
	e.t.Helper()
	e.write(func() error {
		_, err := e.stores.Pods.Create(e.ctx, &api.Pod{
			ObjectMeta: api.ObjectMeta{Name: name, Labels: lbls},
			Spec:       api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "c", Image: "img", Ports: ports}}}})
		return err
	}, registry.ErrAlreadyExists)
}

// del deletes ns/name through a store's Delete method value.
func del[P any](e *env, fn func(context.Context, string, string, registry.DeleteOptions) (P, error), name string) {
	e.t.Helper()
	e.write(func() error { _, err := fn(e.ctx, "default", name, registry.DeleteOptions{}); return err }, registry.ErrNotFound)
}

// setStatus reports p Running with ip, Ready or not, as a node agent would.
func (e *env) setStatus(name, ip string, ready bool) {
	e.t.Helper()
	cond := api.ConditionFalse
	if ready {
		cond = api.ConditionTrue
	}
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
		Status: api.PodStatus{Phase: api.PodRunning, PodIP: ip, PodIPs: []api.PodIP{{IP: ip}},
			Conditions: []api.PodCondition{{Type: "Ready", Status: cond}}}}
	e.write(func() error { _, err := e.stores.Pods.UpdateStatus(e.ctx, p); return err })
}

func (e *env) updatePod(name string, fn func(*api.Pod)) {
	e.t.Helper()
	e.write(func() error {
		_, err := e.stores.Pods.GuaranteedUpdate(e.ctx, "default", name, func(cur *api.Pod) (*api.Pod, error) {
			fn(cur)
			return cur, nil
		})
		return err
	})
}

// describe renders ep's subsets compactly: "[http:8080 ready=a,b notready=c]" per subset.
func describe(ep *api.Endpoints) string {
	var out []string
	for _, s := range ep.Subsets {
		var b strings.Builder
		b.WriteString("[")
		for i, p := range s.Ports {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%s:%d", p.Name, p.Port)
		}
		for _, part := range []struct {
			label string
			as    []api.EndpointAddress
		}{{"ready", s.Addresses}, {"notready", s.NotReadyAddresses}} {
			if len(part.as) == 0 {
				continue
			}
			var names []string
			for _, a := range part.as {
				names = append(names, a.TargetRef.Name)
			}
			fmt.Fprintf(&b, " %s=%s", part.label, strings.Join(names, ","))
		}
		b.WriteString("]")
		out = append(out, b.String())
	}
	return strings.Join(out, " ")
}

// waitFor waits until the Endpoints name exists and describes as want, and returns it.
func (e *env) waitFor(name, want string) *api.Endpoints {
	e.t.Helper()
	var ep *api.Endpoints
	poll.Eventually(e.t, wait, func() error {
		var err error
		ep, err = e.stores.Endpoints.Get(e.ctx, "default", name)
		if err != nil {
			return err
		}
		if got := describe(ep); got != want {
			return fmt.Errorf("endpoints %s: got %q, want %q", name, got, want)
		}
		return nil
	})
	return ep
}

func (e *env) waitGone(name string) {
	e.t.Helper()
	poll.Eventually(e.t, wait, func() error {
		_, err := e.stores.Endpoints.Get(e.ctx, "default", name)
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("endpoints %s still there (err %v)", name, err)
	})
}

func web(port int32) api.ServicePort {
	return api.ServicePort{Name: "http", Port: 80, TargetPort: api.FromInt(port)}
}

func TestEndpoints(t *testing.T) {
	e := newEnv(t)
	e.startController(endpoints.Config{})

	t.Run("ready and not ready pods", func(t *testing.T) {
		e.t = t
		app := map[string]string{"app": "split"}
		e.createService("split", app, web(8080))
		e.waitFor("split", "")
		for i, ready := range []bool{true, false, true} {
			name := fmt.Sprintf("split-%d", i)
			e.createPod(name, app)
			e.setStatus(name, fmt.Sprintf("10.1.0.%d", i+1), ready)
		}
		e.createPod("split-noip", app) // no IP yet: not published
		ep := e.waitFor("split", "[http:8080 ready=split-0,split-2 notready=split-1]")
		a := ep.Subsets[0].Addresses[0]
		if a.IP != "10.1.0.1" || a.NodeName == nil || *a.NodeName != "n1" || a.Hostname != "" ||
			a.TargetRef.Kind != "Pod" || a.TargetRef.Namespace != "default" || a.TargetRef.UID == "" {
			t.Errorf("address %+v (targetRef %+v)", a, a.TargetRef)
		}
		if ep.Labels["svc"] != "split" {
			t.Errorf("labels %v, want the service's", ep.Labels)
		}
		e.setStatus("split-1", "10.1.0.2", true)
		e.waitFor("split", "[http:8080 ready=split-0,split-1,split-2]")
		e.updatePod("split-2", func(p *api.Pod) { p.Status.Phase = api.PodFailed })
		e.updatePod("split-0", func(p *api.Pod) { p.DeletionTimestamp = &api.Time{Time: time.Now()} })
		e.waitFor("split", "[http:8080 ready=split-1]")
	})

	t.Run("label change moves a pod out", func(t *testing.T) {
		e.t = t
		e.createService("lbl", map[string]string{"app": "lbl"}, web(80))
		e.createService("other", map[string]string{"app": "other"}, web(80))
		for i, n := range []string{"lbl-a", "lbl-b"} {
			e.createPod(n, map[string]string{"app": "lbl"})
			e.setStatus(n, fmt.Sprintf("10.2.0.%d", i+1), true)
		}
		e.waitFor("lbl", "[http:80 ready=lbl-a,lbl-b]")
		e.updatePod("lbl-a", func(p *api.Pod) { p.Labels = map[string]string{"app": "other"} })
		e.waitFor("lbl", "[http:80 ready=lbl-b]")
		e.waitFor("other", "[http:80 ready=lbl-a]")
	})

	t.Run("pod deletion", func(t *testing.T) {
		e.t = t
		app := map[string]string{"app": "del"}
		e.createService("del", app, web(80))
		for i := range 2 {
			name := fmt.Sprintf("del-%d", i)
			e.createPod(name, app)
			e.setStatus(name, fmt.Sprintf("10.3.0.%d", i+1), true)
		}
		e.waitFor("del", "[http:80 ready=del-0,del-1]")
		del(e, e.stores.Pods.Delete, "del-0")
		e.waitFor("del", "[http:80 ready=del-1]")
		del(e, e.stores.Pods.Delete, "del-1")
		e.waitFor("del", "")
	})

	t.Run("named target port", func(t *testing.T) {
		e.t = t
		app := map[string]string{"app": "named"}
		e.createService("named", app,
			api.ServicePort{Name: "http", Port: 80, TargetPort: api.FromString("web")},
			api.ServicePort{Name: "metrics", Port: 9100, TargetPort: api.FromInt(9100)})
		e.createPod("named-a", app, api.ContainerPort{Name: "web", ContainerPort: 8080})
		e.createPod("named-b", app, api.ContainerPort{Name: "web", ContainerPort: 8081})
		e.createPod("named-c", app, api.ContainerPort{Name: "web", ContainerPort: 8080})
		e.createPod("named-d", app) // no "web" port: only in the metrics port's subset
		for i, n := range []string{"named-a", "named-b", "named-c", "named-d"} {
			e.setStatus(n, fmt.Sprintf("10.4.0.%d", i+1), n != "named-c")
		}
		e.waitFor("named", "[http:8080,metrics:9100 ready=named-a notready=named-c] "+
			"[http:8081,metrics:9100 ready=named-b] [metrics:9100 ready=named-d]")
	})

	t.Run("service without selector is left alone", func(t *testing.T) {
		e.t = t
		e.createService("manual", nil, web(80))
		e.createPod("manual-pod", map[string]string{"app": "manual"})
		e.setStatus("manual-pod", "10.5.0.1", true)
		e.write(func() error {
			_, err := e.stores.Endpoints.Create(e.ctx, &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: "manual"},
				Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: "192.0.2.1"}},
					Ports: []api.EndpointPort{{Name: "http", Port: 80}}}}})
			return err
		}, registry.ErrAlreadyExists)
		ep, err := e.stores.Endpoints.Get(e.ctx, "default", "manual")
		if err != nil {
			t.Fatal(err)
		}
		// A marker service synced after the manual one shows the controller got past it.
		e.createService("manual-zz", map[string]string{"app": "manual"}, web(80))
		e.waitFor("manual-zz", "[http:80 ready=manual-pod]")
		cur, err := e.stores.Endpoints.Get(e.ctx, "default", "manual")
		if err != nil {
			t.Fatal(err)
		}
		if cur.ResourceVersion != ep.ResourceVersion {
			t.Errorf("user-managed endpoints rewritten: resourceVersion %s, want %s", cur.ResourceVersion, ep.ResourceVersion)
		}
	})

	t.Run("service deletion removes endpoints", func(t *testing.T) {
		e.t = t
		app := map[string]string{"app": "gone"}
		e.createService("gone", app, web(80))
		e.createPod("gone-a", app)
		e.setStatus("gone-a", "10.6.0.1", true)
		e.waitFor("gone", "[http:80 ready=gone-a]")
		del(e, e.stores.Services.Delete, "gone")
		e.waitGone("gone")
	})

	t.Run("deleted endpoints are recreated", func(t *testing.T) {
		e.t = t
		del(e, e.stores.Endpoints.Delete, "lbl")
		e.waitFor("lbl", "[http:80 ready=lbl-b]")
	})

	t.Run("many pods converge", func(t *testing.T) {
		e.t = t
		const n = 200
		app := map[string]string{"app": "many"}
		e.createService("many", app, web(80))
		var wg sync.WaitGroup
		errs := make(chan error, n)
		sem := make(chan struct{}, 32)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				name := fmt.Sprintf("many-%03d", i)
				err := retry(e.ctx, func() error {
					_, err := e.stores.Pods.Create(e.ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Labels: app},
						Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "c", Image: "img"}}}})
					return err
				}, registry.ErrAlreadyExists)
				if err == nil {
					err = retry(e.ctx, func() error {
						_, err := e.stores.Pods.UpdateStatus(e.ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
							Status: api.PodStatus{Phase: api.PodRunning, PodIP: fmt.Sprintf("10.7.%d.%d", i/100, i%100),
								Conditions: []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue}}}})
						return err
					})
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		poll.Eventually(t, wait, func() error {
			ep, err := e.stores.Endpoints.Get(e.ctx, "default", "many")
			if err != nil {
				return err
			}
			if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != n || len(ep.Subsets[0].NotReadyAddresses) != 0 {
				return fmt.Errorf("endpoints: %d subsets, want 1 with %d ready addresses", len(ep.Subsets), n)
			}
			t.Logf("converged after %d writes", ep.Generation)
			as := ep.Subsets[0].Addresses
			for i := 1; i < len(as); i++ {
				if as[i-1].IP >= as[i].IP {
					return fmt.Errorf("addresses not sorted: %s before %s", as[i-1].IP, as[i].IP)
				}
			}
			return nil
		})
	})
}

// TestRestartWritesNothing checks that a controller started on an up-to-date cluster
// rewrites no Endpoints, and that it cleans up the Endpoints of a Service deleted while no
// controller ran.
func TestRestartWritesNothing(t *testing.T) {
	e := newEnv(t)
	stop := e.startController(endpoints.Config{})
	app := map[string]string{"app": "keep"}
	e.createService("keep", app, web(80), api.ServicePort{Name: "alt", Port: 81, TargetPort: api.FromString("alt")})
	e.createService("left", app, web(80))
	for i := range 3 {
		name := fmt.Sprintf("keep-%d", i)
		e.createPod(name, app, api.ContainerPort{Name: "alt", ContainerPort: 9000 + int32(i%2)})
		e.setStatus(name, fmt.Sprintf("10.8.0.%d", i+1), i != 1)
	}
	before := e.waitFor("keep", "[alt:9000,http:80 ready=keep-0,keep-2] [alt:9001,http:80 notready=keep-1]")
	e.waitFor("left", "[http:80 ready=keep-0,keep-2 notready=keep-1]")
	stop()

	del(e, e.stores.Services.Delete, "left")
	// One worker handles keys in order: the initial list queues "keep" before "zz-marker".
	e.startController(endpoints.Config{Workers: 1})
	e.createService("zz-marker", app, web(80))
	e.waitFor("zz-marker", "[http:80 ready=keep-0,keep-2 notready=keep-1]")
	e.waitGone("left")
	after, err := e.stores.Endpoints.Get(e.ctx, "default", "keep")
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("restart rewrote endpoints: resourceVersion %s, want %s\n%s", after.ResourceVersion, before.ResourceVersion, describe(after))
	}
}
