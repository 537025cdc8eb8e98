package api_test

import (
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestValidateServiceTypes(t *testing.T) {
	base := func(mut func(*api.ServiceSpec)) *api.Service {
		s := &api.Service{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: api.ServiceSpec{Ports: []api.ServicePort{{Port: 80}}}}
		mut(&s.Spec)
		api.Default(s)
		return s
	}
	for _, tc := range []struct {
		name string
		mut  func(*api.ServiceSpec)
		want string // "" = valid
	}{
		{"cluster IP", func(*api.ServiceSpec) {}, ""},
		{"node port", func(s *api.ServiceSpec) { s.Type = "NodePort"; s.Ports[0].NodePort = 30001 }, ""},
		{"load balancer", func(s *api.ServiceSpec) { s.Type = "LoadBalancer" }, ""},
		{"headless", func(s *api.ServiceSpec) { s.ClusterIP = "None" }, ""},
		{"external name", func(s *api.ServiceSpec) { s.Type = "ExternalName"; s.ExternalName = "db.example.com"; s.Ports = nil }, ""},
		{"affinity", func(s *api.ServiceSpec) { s.SessionAffinity = "ClientIP" }, ""},
		{"unknown type", func(s *api.ServiceSpec) { s.Type = "Balanced" }, `spec.type: Unsupported value: "Balanced"`},
		{"node port on ClusterIP", func(s *api.ServiceSpec) { s.Ports[0].NodePort = 30001 },
			"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"},
		{"headless node port", func(s *api.ServiceSpec) { s.Type = "NodePort"; s.ClusterIP = "None" },
			"may not be set to 'None' for LoadBalancer services or NodePorts"},
		{"external name missing", func(s *api.ServiceSpec) { s.Type = "ExternalName" }, "spec.externalName: Required value"},
		{"external name with IP", func(s *api.ServiceSpec) {
			s.Type = "ExternalName"
			s.ExternalName = "x.io"
			s.ClusterIP = "127.254.0.1"
		},
			"spec.clusterIPs: Forbidden: may not be set for ExternalName services"},
		{"bad cluster IP", func(s *api.ServiceSpec) { s.ClusterIP = "300.1.1.1" }, "spec.clusterIPs[0]: Invalid value"},
		{"dual stack", func(s *api.ServiceSpec) {
			s.ClusterIP = "127.254.0.1"
			s.ClusterIPs = []string{"127.254.0.1", "fd00::1"}
		},
			"spec.clusterIPs: Forbidden: dual-stack"},
		{"duplicate node port", func(s *api.ServiceSpec) {
			s.Type = "NodePort"
			s.Ports = []api.ServicePort{{Name: "a", Port: 80, NodePort: 30001}, {Name: "b", Port: 81, NodePort: 30001}}
		}, "spec.ports[1].nodePort: Duplicate value"},
		{"affinity timeout", func(s *api.ServiceSpec) {
			s.SessionAffinity = "ClientIP"
			zero := int32(0)
			s.SessionAffinityConfig = &api.SessionAffinityConfig{ClientIP: &api.ClientIPConfig{TimeoutSeconds: &zero}}
		}, "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := api.Validate(base(tc.mut))
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("got %v, want valid", errs)
			case tc.want != "" && !strings.Contains(errs.Error(), tc.want):
				t.Errorf("got %v, want %q", errs, tc.want)
			}
		})
	}
	s := base(func(s *api.ServiceSpec) { s.SessionAffinity = "ClientIP" })
	if got := s.Spec.AffinityTimeoutSeconds(); got != 10800 {
		t.Errorf("default affinity timeout %d, want 10800", got)
	}
}
