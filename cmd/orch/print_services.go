package main

import (
	"fmt"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
)

// serviceExternalIP is kubectl's EXTERNAL-IP of a Service: the external name of an
// ExternalName Service, a LoadBalancer's ingress addresses (<pending> until assigned),
// else <none>.
func serviceExternalIP(s *api.Service) string {
	switch s.Spec.Type {
	case api.ServiceTypeExternalName:
		return s.Spec.ExternalName
	case api.ServiceTypeLoadBalancer:
		var ips []string
		for _, in := range s.Status.LoadBalancer.Ingress {
			ips = append(ips, cmpOr(in.IP, in.Hostname))
		}
		if len(ips) == 0 {
			return "<pending>"
		}
		return strings.Join(ips, ",")
	}
	return "<none>"
}

// servicePorts is kubectl's PORT(S) of a Service: "80/TCP", "80:30001/TCP" with a node port.
func servicePorts(s *api.Service) string {
	var ps []string
	for _, p := range s.Spec.Ports {
		if p.NodePort != 0 {
			ps = append(ps, fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol))
		} else {
			ps = append(ps, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
		}
	}
	return orNone(strings.Join(ps, ","))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// describeServiceExternal writes kubectl describe's LoadBalancer Ingress and External Name
// lines of a Service, when it has them.
func describeServiceExternal(w *describeWriter, s *api.Service) {
	if s.Spec.Type == api.ServiceTypeLoadBalancer && len(s.Status.LoadBalancer.Ingress) > 0 {
		w.line(0, "LoadBalancer Ingress:\t%s", serviceExternalIP(s))
	}
	if s.Spec.ExternalName != "" {
		w.line(0, "External Name:\t%s", s.Spec.ExternalName)
	}
}
