package proxy

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestServiceListens(t *testing.T) {
	svc := func(typ, ip string) *api.Service {
		s := &api.Service{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "web"},
			Spec: api.ServiceSpec{Type: typ, ClusterIP: ip, Ports: []api.ServicePort{
				{Name: "http", Port: 80, Protocol: "TCP", NodePort: 30001},
				{Name: "dns", Port: 53, Protocol: "UDP"},
			}}}
		if typ == api.ServiceTypeExternalName {
			s.Spec.ExternalName = "example.com"
		}
		return s
	}
	for _, tc := range []struct {
		name string
		svc  *api.Service
		want []string
	}{
		{"clusterIP", svc("ClusterIP", "127.254.0.5"), []string{"127.1.2.3:80", "127.254.0.5:80"}},
		{"nodePort", svc("NodePort", "127.254.0.5"), []string{"127.1.2.3:30001", "127.1.2.3:80", "127.254.0.5:80"}},
		{"loadBalancer", svc("LoadBalancer", "127.254.0.5"), []string{"127.1.2.3:30001", "127.1.2.3:80", "127.254.0.5:80"}},
		{"headless", svc("ClusterIP", "None"), nil},
		{"externalName", svc("ExternalName", ""), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for k := range maps.Keys(serviceListens(tc.svc, "127.1.2.3")) {
				got = append(got, k.addr)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	s := svc("ClusterIP", "127.254.0.5")
	s.Spec.SessionAffinity = "ClientIP"
	api.Default(s)
	for _, aff := range serviceListens(s, "127.1.2.3") {
		if aff != 10800*time.Second {
			t.Errorf("affinity %v, want the default 3h", aff)
		}
	}
}

func TestAffinityOrder(t *testing.T) {
	var a affinity
	now := time.Unix(1000, 0)
	addrs := []string{"a", "b", "c"}
	key := affinityKey{client: "127.0.0.7"}
	first := a.order(key, addrs, now)
	if again := a.order(key, addrs, now); !slices.Equal(first, again) {
		t.Fatalf("the hash start differs between calls: %v, %v", first, again)
	}
	a.record(key, "c", now, 10*time.Second)
	if got := a.order(key, addrs, now.Add(9*time.Second)); got[0] != "c" {
		t.Errorf("within the timeout got %v, want c first", got)
	}
	if got := a.order(key, []string{"a", "b"}, now.Add(time.Second)); got[0] != first[0] && got[0] == "c" {
		t.Errorf("a gone endpoint is still chosen: %v", got)
	}
	if got := a.order(key, addrs, now.Add(10*time.Second)); !slices.Equal(got, first) {
		t.Errorf("after the timeout got %v, want the hash order %v", got, first)
	}
}
