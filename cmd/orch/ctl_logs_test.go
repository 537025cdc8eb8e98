package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// fakeAgent serves kubelet's containerLogs path as a node agent would, recording requests.
type fakeAgent struct {
	mu   sync.Mutex
	reqs []string // path?query
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r.URL.Path+"?"+r.URL.RawQuery)
	f.mu.Unlock()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 || parts[2] == "nope" {
		http.Error(w, "container not found", http.StatusNotFound)
		return
	}
	fmt.Fprintf(w, "log of %s/%s/%s\n", parts[0], parts[1], parts[2])
	if r.URL.Query().Get("follow") == "true" {
		fmt.Fprintln(w, "following")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
}

func (f *fakeAgent) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return ""
	}
	return f.reqs[len(f.reqs)-1]
}

func TestLogs(t *testing.T) {
	o, st := startCtl(t)
	ctx := context.Background()
	agent := &fakeAgent{}
	srv := httptest.NewServer(agent)
	t.Cleanup(srv.Close)
	host, portStr, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	mustGet[*api.Node](t)(st.Nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"},
		Status: api.NodeStatus{Addresses: []api.NodeAddress{{Type: "InternalIP", Address: host}},
			DaemonEndpoints: api.NodeDaemonEndpoints{KubeletEndpoint: api.DaemonEndpoint{Port: int32(port)}}}}))
	mustGet[*api.Node](t)(st.Nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "silent"},
		Status: api.NodeStatus{Addresses: []api.NodeAddress{{Type: "InternalIP", Address: host}}}}))
	running := func(node string, containers ...string) func(p *api.Pod) {
		return func(p *api.Pod) {
			p.Labels = map[string]string{"app": "web"}
			p.Spec.NodeName = node
			p.Spec.Containers = nil
			p.Status.Phase = api.PodRunning
			for _, c := range containers {
				p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: c, Image: "busybox"})
				p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, api.ContainerStatus{Name: c,
					State:     api.ContainerState{Running: &api.ContainerStateRunning{}},
					LastState: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 1}}})
			}
		}
	}
	mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("one", running("n1", "c"))))
	mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("two", running("n1", "a", "b"), func(p *api.Pod) {
		p.Status.Conditions = []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue}} // logs deployment/web picks it
	})))
	mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("gone", running("n1", "nope"), func(p *api.Pod) { p.Labels = nil })))
	mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("mute", running("silent", "c"))))
	mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("pending")))
	mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("creating", func(p *api.Pod) {
		p.Spec.NodeName = "n1"
		p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "c", State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
	})))
	mustGet[*api.Deployment](t)(st.Deployments.Create(ctx, deploymentObj("web", "busybox")))

	t.Run("one container", func(t *testing.T) {
		o.t = t
		wantLines(t, o.ok("ctl", "logs", "one"), "log of default/one/c")
		if got := agent.last(); got != "/containerLogs/default/one/c?follow=false" {
			t.Fatalf("request %q", got)
		}
		wantLines(t, o.ok("ctl", "logs", "pod/one", "--tail", "5", "-p"), "log of default/one/c")
		if got := agent.last(); got != "/containerLogs/default/one/c?follow=false&previous=true&tailLines=5" {
			t.Fatalf("request %q", got)
		}
	})

	t.Run("choosing a container", func(t *testing.T) {
		o.t = t
		if _, _, err := o.run("ctl", "logs", "two"); err == nil || err.Error() != "a container name must be specified for pod two, choose one of: [a b]" {
			t.Fatalf("logs of a two-container pod: %v", err)
		}
		wantLines(t, o.ok("ctl", "logs", "two", "-c", "b"), "log of default/two/b")
		wantLines(t, o.ok("ctl", "logs", "two", "a"), "log of default/two/a")
		if _, _, err := o.run("ctl", "logs", "two", "-c", "z"); err == nil || err.Error() != "container z is not valid for pod two" {
			t.Fatalf("logs of an unknown container: %v", err)
		}
	})

	t.Run("workload", func(t *testing.T) {
		o.t = t
		out, errOut, err := o.run("ctl", "logs", "deployment/web", "-c", "a")
		if err != nil || out != "log of default/two/a\n" || !strings.Contains(errOut, "Found 3 pods, using pod/") {
			t.Fatalf("logs deployment/web: %v %q %q", err, out, errOut)
		}
	})

	t.Run("follow", func(t *testing.T) {
		o.t = t
		// --command-timeout does not cut a followed log short.
		b := o.start("ctl", "logs", "-f", "one", "--command-timeout", "5s")
		eventually(t, "streamed lines", func() error { return hasLines(b.stdout.String(), "log of default/one/c", "following") })
		if got := agent.last(); got != "/containerLogs/default/one/c?follow=true" {
			t.Fatalf("request %q", got)
		}
		b.cancel()
		if err := b.wait(t); err != nil {
			t.Fatalf("logs -f ended with %v", err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		o.t = t
		for _, tc := range []struct{ args, want string }{
			{"pending", "pod pending does not have a host assigned"},
			{"creating", `container "c" in pod "creating" is waiting to start: ContainerCreating`},
			{"mute", `node "silent" reports no agent endpoint`},
			{"one -c nope", "container nope is not valid for pod one"},
			{"gone", "404 Not Found: container not found"},
			{"missing", "not found"},
			{"svc/web", "cannot get the logs of services"},
		} {
			_, _, err := o.run(append([]string{"ctl", "logs"}, strings.Fields(tc.args)...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("logs %s: %v, want an error containing %q", tc.args, err, tc.want)
			}
		}
	})
}
