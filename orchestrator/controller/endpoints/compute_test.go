package endpoints

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

type podOpt func(*api.Pod)

func ready(p *api.Pod) {
	p.Status.Conditions = append(p.Status.Conditions, api.PodCondition{Type: "Ready", Status: api.ConditionTrue})
}

func withPort(name string, n int32) podOpt {
	return func(p *api.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, api.ContainerPort{Name: name, ContainerPort: n})
	}
}

func pod(name, ip string, opts ...podOpt) *api.Pod {
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name, UID: "uid-" + name},
		Spec:       api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "c"}}},
		Status:     api.PodStatus{Phase: api.PodRunning, PodIP: ip},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func addr(name, ip string) api.EndpointAddress {
	n := "n1"
	return api.EndpointAddress{IP: ip, NodeName: &n,
		TargetRef: &api.ObjectReference{Kind: "Pod", Namespace: "default", Name: name, UID: "uid-" + name}}
}

func svc(ports ...api.ServicePort) *api.Service {
	return &api.Service{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "s"},
		Spec: api.ServiceSpec{Selector: map[string]string{"app": "a"}, Ports: ports}}
}

func TestSubsets(t *testing.T) {
	http := api.ServicePort{Name: "http", Port: 80, TargetPort: api.FromString("web")}
	num := api.ServicePort{Name: "num", Port: 81, TargetPort: api.FromInt(8081)}
	dflt := api.ServicePort{Name: "dflt", Port: 82}
	terminal := pod("done", "10.0.0.9", ready)
	terminal.Status.Phase = api.PodSucceeded
	deleting := pod("gone", "10.0.0.8", ready)
	deleting.DeletionTimestamp = &api.Time{}
	for _, tc := range []struct {
		name string
		svc  *api.Service
		pods []*api.Pod
		want []api.EndpointSubset
	}{
		{
			name: "ready split and sorted by ip",
			svc:  svc(num),
			pods: []*api.Pod{pod("b", "10.0.0.2", ready), pod("c", "10.0.0.3"), pod("a", "10.0.0.10", ready),
				pod("noip", ""), terminal, deleting},
			want: []api.EndpointSubset{{
				Addresses:         []api.EndpointAddress{addr("a", "10.0.0.10"), addr("b", "10.0.0.2")},
				NotReadyAddresses: []api.EndpointAddress{addr("c", "10.0.0.3")},
				Ports:             []api.EndpointPort{{Name: "num", Port: 8081, Protocol: "TCP"}},
			}},
		},
		{
			name: "default target port",
			svc:  svc(dflt),
			pods: []*api.Pod{pod("a", "10.0.0.1", ready)},
			want: []api.EndpointSubset{{Addresses: []api.EndpointAddress{addr("a", "10.0.0.1")},
				Ports: []api.EndpointPort{{Name: "dflt", Port: 82, Protocol: "TCP"}}}},
		},
		{
			name: "named port: subsets per number, pods without it skipped for it",
			svc:  svc(num, http),
			pods: []*api.Pod{pod("a", "10.0.0.1", ready, withPort("web", 8080)), pod("b", "10.0.0.2", withPort("web", 9090)),
				pod("c", "10.0.0.3", ready, withPort("web", 8080)), pod("d", "10.0.0.4", ready)},
			want: []api.EndpointSubset{
				{
					Addresses: []api.EndpointAddress{addr("a", "10.0.0.1"), addr("c", "10.0.0.3")},
					Ports:     []api.EndpointPort{{Name: "http", Port: 8080, Protocol: "TCP"}, {Name: "num", Port: 8081, Protocol: "TCP"}},
				},
				{
					NotReadyAddresses: []api.EndpointAddress{addr("b", "10.0.0.2")},
					Ports:             []api.EndpointPort{{Name: "http", Port: 9090, Protocol: "TCP"}, {Name: "num", Port: 8081, Protocol: "TCP"}},
				},
				{
					Addresses: []api.EndpointAddress{addr("d", "10.0.0.4")},
					Ports:     []api.EndpointPort{{Name: "num", Port: 8081, Protocol: "TCP"}},
				},
			},
		},
		{
			name: "pod resolving no port is left out",
			svc:  svc(http),
			pods: []*api.Pod{pod("a", "10.0.0.1", ready)},
			want: nil,
		},
		{
			name: "named port must match protocol",
			svc:  svc(api.ServicePort{Name: "dns", Port: 53, Protocol: "UDP", TargetPort: api.FromString("web")}),
			pods: []*api.Pod{pod("a", "10.0.0.1", ready, withPort("web", 8080))},
			want: nil,
		},
		{
			name: "headless without ports",
			svc:  svc(),
			pods: []*api.Pod{pod("a", "10.0.0.1", ready)},
			want: []api.EndpointSubset{{Addresses: []api.EndpointAddress{addr("a", "10.0.0.1")}}},
		},
		{name: "no pods", svc: svc(num), want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Subsets(tc.svc, tc.pods)
			if !reflect.DeepEqual(got, tc.want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(tc.want, "", " ")
				t.Fatalf("got %s\nwant %s", g, w)
			}
			// What the store gives back compares equal: no write on an unchanged cluster.
			ep := &api.Endpoints{Subsets: got}
			back := api.DeepCopy(ep)
			if !upToDate(back, got, nil) {
				t.Errorf("round-tripped subsets differ: %+v", back.Subsets)
			}
		})
	}
}

func TestSidecarPort(t *testing.T) {
	p := pod("a", "10.0.0.1", ready)
	p.Spec.InitContainers = []api.Container{
		{Name: "init", Ports: []api.ContainerPort{{Name: "web", ContainerPort: 1}}},
		{Name: "side", RestartPolicy: api.RestartAlways, Ports: []api.ContainerPort{{Name: "web", ContainerPort: 2}}},
	}
	n, ok := findPort(p, api.ServicePort{Port: 80, TargetPort: api.FromString("web")})
	if !ok || n != 2 {
		t.Fatalf("findPort = %d, %v; want the sidecar's 2", n, ok)
	}
}

func TestEndpointChanged(t *testing.T) {
	base := pod("a", "10.0.0.1", ready, withPort("web", 80))
	for _, tc := range []struct {
		name string
		mut  func(*api.Pod)
		want bool
	}{
		{"annotation only", func(p *api.Pod) { p.Annotations = map[string]string{"x": "y"} }, false},
		{"restart count", func(p *api.Pod) { p.Status.ContainerStatuses = []api.ContainerStatus{{RestartCount: 1}} }, false},
		{"ip", func(p *api.Pod) { p.Status.PodIP = "10.0.0.2" }, true},
		{"readiness", func(p *api.Pod) { p.Status.Conditions = nil }, true},
		{"terminal", func(p *api.Pod) { p.Status.Phase = api.PodFailed }, true},
		{"deleting", func(p *api.Pod) { p.DeletionTimestamp = &api.Time{} }, true},
		{"node", func(p *api.Pod) { p.Spec.NodeName = "n2" }, true},
		{"ports", func(p *api.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 81 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := api.DeepCopy(base)
			tc.mut(p)
			if got := endpointChanged(base, p); got != tc.want {
				t.Errorf("endpointChanged = %v, want %v", got, tc.want)
			}
		})
	}
}
