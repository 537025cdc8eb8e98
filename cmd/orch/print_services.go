package main

import (
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/printers"
)

// describeServiceExternal writes kubectl describe's LoadBalancer Ingress and External Name
// lines of a Service, when it has them.
func describeServiceExternal(w *describeWriter, s *api.Service) {
	if s.Spec.Type == api.ServiceTypeLoadBalancer && len(s.Status.LoadBalancer.Ingress) > 0 {
		w.line(0, "LoadBalancer Ingress:\t%s", printers.ServiceExternalIP(s))
	}
	if s.Spec.ExternalName != "" {
		w.line(0, "External Name:\t%s", s.Spec.ExternalName)
	}
}
