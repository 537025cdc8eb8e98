package api

import (
	"net/netip"
	"slices"
)

// Service types (spec.type).
const (
	ServiceTypeClusterIP    = "ClusterIP"
	ServiceTypeNodePort     = "NodePort"
	ServiceTypeLoadBalancer = "LoadBalancer"
	ServiceTypeExternalName = "ExternalName"
)

// ClusterIPNone is spec.clusterIP of a headless Service: no virtual IP, no proxying.
const ClusterIPNone = "None"

// DefaultClientIPTimeoutSeconds is sessionAffinityConfig.clientIP.timeoutSeconds when
// sessionAffinity is ClientIP and none is given (3 hours, as Kubernetes).
const DefaultClientIPTimeoutSeconds = 10800

// SessionAffinityConfig configures session affinity.
type SessionAffinityConfig struct {
	ClientIP *ClientIPConfig `json:"clientIP,omitempty"`
}

// ClientIPConfig configures ClientIP affinity: a client IP keeps its endpoint for
// TimeoutSeconds after its last connection.
type ClientIPConfig struct {
	TimeoutSeconds *int32 `json:"timeoutSeconds,omitempty"`
}

// NeedsClusterIP reports whether s gets a cluster IP allocated: every type but ExternalName,
// unless headless.
func (s *ServiceSpec) NeedsClusterIP() bool {
	return s.Type != ServiceTypeExternalName && s.ClusterIP != ClusterIPNone
}

// NeedsNodePorts reports whether s's ports get node ports (types NodePort and LoadBalancer).
func (s *ServiceSpec) NeedsNodePorts() bool {
	return s.Type == ServiceTypeNodePort || s.Type == ServiceTypeLoadBalancer
}

// AffinityTimeoutSeconds returns the ClientIP affinity timeout of s, 0 without affinity.
func (s *ServiceSpec) AffinityTimeoutSeconds() int32 {
	if s.SessionAffinity != "ClientIP" {
		return 0
	}
	if c := s.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		return *c.ClientIP.TimeoutSeconds
	}
	return DefaultClientIPTimeoutSeconds
}

// defaultServiceSpec fills clusterIPs from clusterIP (and back), and the ClientIP affinity
// timeout, as the apiserver's defaulting.
func defaultServiceSpec(s *ServiceSpec) {
	if s.ClusterIP == "" && len(s.ClusterIPs) > 0 {
		s.ClusterIP = s.ClusterIPs[0]
	}
	if s.ClusterIP != "" && len(s.ClusterIPs) == 0 {
		s.ClusterIPs = []string{s.ClusterIP}
	}
	if s.SessionAffinity == "ClientIP" {
		if s.SessionAffinityConfig == nil {
			s.SessionAffinityConfig = &SessionAffinityConfig{}
		}
		if s.SessionAffinityConfig.ClientIP == nil {
			s.SessionAffinityConfig.ClientIP = &ClientIPConfig{}
		}
		if s.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			s.SessionAffinityConfig.ClientIP.TimeoutSeconds = ptr(int32(DefaultClientIPTimeoutSeconds))
		}
	}
}

// validateServiceType checks what depends on spec.type: the cluster IPs, external name,
// node ports and session affinity, with the apiserver's messages.
func validateServiceType(s *ServiceSpec, p Path) ErrorList {
	var errs ErrorList
	types := []string{ServiceTypeClusterIP, ServiceTypeExternalName, ServiceTypeLoadBalancer, ServiceTypeNodePort}
	if !slices.Contains(types, s.Type) {
		errs = append(errs, notSupported(p.Child("type"), s.Type, types...))
	}
	if len(s.ClusterIPs) > 1 {
		errs = append(errs, forbidden(p.Child("clusterIPs"), "dual-stack services are not supported: at most one cluster IP"))
	}
	if len(s.ClusterIPs) > 0 && s.ClusterIPs[0] != s.ClusterIP {
		errs = append(errs, invalid(p.Child("clusterIPs").Index(0), s.ClusterIPs[0], "must match `clusterIP`"))
	}
	if ip := s.ClusterIP; ip != "" && ip != ClusterIPNone {
		if a, err := netip.ParseAddr(ip); err != nil || !a.Is4() {
			errs = append(errs, invalid(p.Child("clusterIPs").Index(0), ip, "must be a valid IPv4 address, (e.g. 10.9.8.7)"))
		}
	}
	switch s.Type {
	case ServiceTypeExternalName:
		if s.ClusterIP != "" {
			errs = append(errs, forbidden(p.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if s.ExternalName == "" {
			errs = append(errs, required(p.Child("externalName"), ""))
		} else if len(s.ExternalName) > 253 || !dnsSubdomainRe.MatchString(s.ExternalName) {
			errs = append(errs, invalid(p.Child("externalName"), s.ExternalName, "must be a DNS subdomain (lowercase alphanumerics, '-' and '.', at most 253)"))
		}
	case ServiceTypeNodePort, ServiceTypeLoadBalancer:
		if s.ClusterIP == ClusterIPNone {
			errs = append(errs, invalid(p.Child("clusterIPs").Index(0), ClusterIPNone, "may not be set to 'None' for LoadBalancer services or NodePorts"))
		}
	}
	if s.Type != ServiceTypeExternalName && s.ExternalName != "" {
		errs = append(errs, forbidden(p.Child("externalName"), "may only be set when `type` is 'ExternalName'"))
	}
	seen := map[int32]bool{}
	for i, sp := range s.Ports {
		np := p.Child("ports").Index(i).Child("nodePort")
		switch {
		case sp.NodePort == 0:
		case !s.NeedsNodePorts():
			errs = append(errs, forbidden(np, "may not be used when `type` is '"+s.Type+"'"))
		case sp.NodePort < 1 || sp.NodePort > 65535:
			errs = append(errs, invalid(np, sp.NodePort, "must be between 1 and 65535, inclusive"))
		case seen[sp.NodePort]:
			errs = append(errs, &FieldError{Field: string(np), Type: ErrorDuplicate, Value: sp.NodePort})
		}
		seen[sp.NodePort] = true
	}
	if c := s.SessionAffinityConfig; c != nil {
		if s.SessionAffinity != "ClientIP" {
			errs = append(errs, forbidden(p.Child("sessionAffinityConfig"), "must not be set when `sessionAffinity` is None"))
		} else if c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > 86400 {
				errs = append(errs, invalid(p.Child("sessionAffinityConfig").Child("clientIP").Child("timeoutSeconds"), t, "must be greater than 0 and less than 86400"))
			}
		}
	}
	return errs
}
