package servicelb_test

import (
	"slices"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/servicelb"
)

func TestIngress(t *testing.T) {
	node := func(ip, ready string) *api.Node {
		n := &api.Node{}
		n.Status.Addresses = []api.NodeAddress{{Type: "Hostname", Address: "h"}, {Type: "InternalIP", Address: ip}}
		n.Status.Conditions = []api.NodeCondition{{Type: "Ready", Status: ready}}
		return n
	}
	nodes := []*api.Node{node("127.0.1.2", "True"), node("127.0.1.1", "True"), node("127.0.1.3", "Unknown")}
	for _, tc := range []struct {
		typ  string
		want []api.LoadBalancerIngress
	}{
		{"LoadBalancer", []api.LoadBalancerIngress{{IP: "127.0.1.1"}, {IP: "127.0.1.2"}}},
		{"NodePort", nil},
		{"ClusterIP", nil},
	} {
		svc := &api.Service{Spec: api.ServiceSpec{Type: tc.typ}}
		if got := servicelb.Ingress(svc, nodes); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.typ, got, tc.want)
		}
	}
}
