package agent

import (
	"slices"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestServiceLinkEnv(t *testing.T) {
	svcs := []*api.Service{
		{ObjectMeta: api.ObjectMeta{Name: "redis-master"}, Spec: api.ServiceSpec{ClusterIP: "10.0.0.11",
			Ports: []api.ServicePort{{Name: "redis", Port: 6379, Protocol: "TCP"}}}},
		{ObjectMeta: api.ObjectMeta{Name: "headless"}, Spec: api.ServiceSpec{ClusterIP: "None", Ports: []api.ServicePort{{Port: 80}}}},
		{ObjectMeta: api.ObjectMeta{Name: "ext"}, Spec: api.ServiceSpec{Type: "ExternalName", ExternalName: "example.com"}},
		{ObjectMeta: api.ObjectMeta{Name: "a"}, Spec: api.ServiceSpec{ClusterIP: "10.0.0.2",
			Ports: []api.ServicePort{{Port: 80, Protocol: "TCP"}}}},
	}
	want := []string{
		"A_SERVICE_HOST=10.0.0.2", "A_SERVICE_PORT=80",
		"A_PORT=tcp://10.0.0.2:80", "A_PORT_80_TCP=tcp://10.0.0.2:80", "A_PORT_80_TCP_PROTO=tcp",
		"A_PORT_80_TCP_PORT=80", "A_PORT_80_TCP_ADDR=10.0.0.2",
		"REDIS_MASTER_SERVICE_HOST=10.0.0.11", "REDIS_MASTER_SERVICE_PORT=6379", "REDIS_MASTER_SERVICE_PORT_REDIS=6379",
		"REDIS_MASTER_PORT=tcp://10.0.0.11:6379", "REDIS_MASTER_PORT_6379_TCP=tcp://10.0.0.11:6379",
		"REDIS_MASTER_PORT_6379_TCP_PROTO=tcp", "REDIS_MASTER_PORT_6379_TCP_PORT=6379", "REDIS_MASTER_PORT_6379_TCP_ADDR=10.0.0.11",
	}
	if got := serviceLinkEnv(svcs); !slices.Equal(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}
