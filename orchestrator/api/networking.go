package api

import (
	"net/netip"
	"slices"
	"strings"
)

// Networking resources (networking.k8s.io/v1).
var (
	IngressResource      = Resource{Name: "ingresses", Kind: "Ingress", APIVersion: "networking.k8s.io/v1", Namespaced: true, HasStatus: true, ShortNames: []string{"ing"}}
	IngressClassResource = Resource{Name: "ingressclasses", Kind: "IngressClass", APIVersion: "networking.k8s.io/v1"}
)

// Ingress path types (spec.rules[].http.paths[].pathType).
const (
	PathTypeExact                  = "Exact"
	PathTypePrefix                 = "Prefix"
	PathTypeImplementationSpecific = "ImplementationSpecific"
)

// AnnotationIsDefaultIngressClass marks the IngressClass that serves Ingresses without
// spec.ingressClassName.
const AnnotationIsDefaultIngressClass = "ingressclass.kubernetes.io/is-default-class"

// Ingress routes HTTP requests by host and path to Services (networking.k8s.io/v1).
type Ingress struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       IngressSpec   `json:"spec"`
	Status     IngressStatus `json:"status,omitzero"`
}

// IngressSpec is the Ingress's desired routing.
type IngressSpec struct {
	IngressClassName *string         `json:"ingressClassName,omitempty"`
	DefaultBackend   *IngressBackend `json:"defaultBackend,omitempty"`
	TLS              []IngressTLS    `json:"tls,omitempty"`
	Rules            []IngressRule   `json:"rules,omitempty"`
}

// IngressTLS names the Secret holding the certificate of some hosts.
type IngressTLS struct {
	Hosts      []string `json:"hosts,omitempty"`
	SecretName string   `json:"secretName,omitempty"`
}

// IngressRule maps the paths of one host ("" = every host; "*.example.com" = one label of
// any subdomain) to backends.
type IngressRule struct {
	Host string                `json:"host,omitempty"`
	HTTP *HTTPIngressRuleValue `json:"http,omitempty"`
}

// HTTPIngressRuleValue lists a rule's paths.
type HTTPIngressRuleValue struct {
	Paths []HTTPIngressPath `json:"paths"`
}

// HTTPIngressPath maps a path to a backend.
type HTTPIngressPath struct {
	Path     string         `json:"path,omitempty"`
	PathType *string        `json:"pathType,omitempty"`
	Backend  IngressBackend `json:"backend"`
}

// IngressBackend is a Service port (resource backends are not supported).
type IngressBackend struct {
	Service *IngressServiceBackend `json:"service,omitempty"`
}

// IngressServiceBackend names a Service and one of its ports.
type IngressServiceBackend struct {
	Name string             `json:"name"`
	Port ServiceBackendPort `json:"port,omitzero"`
}

// ServiceBackendPort is a service port by name or number.
type ServiceBackendPort struct {
	Name   string `json:"name,omitempty"`
	Number int32  `json:"number,omitempty"`
}

// IngressStatus is the Ingress's observed state: where the controller serves it.
type IngressStatus struct {
	LoadBalancer LoadBalancerStatus `json:"loadBalancer,omitzero"`
}

// IngressClass names a controller serving Ingresses (cluster-scoped).
type IngressClass struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       IngressClassSpec `json:"spec"`
}

// IngressClassSpec names the controller.
type IngressClassSpec struct {
	Controller string `json:"controller,omitempty"`
}

// IsDefault reports whether c is annotated as the default IngressClass.
func (c *IngressClass) IsDefault() bool {
	return c.Annotations[AnnotationIsDefaultIngressClass] == "true"
}

func validateIngress(s *IngressSpec, p Path) ErrorList {
	var errs ErrorList
	if s.DefaultBackend == nil && len(s.Rules) == 0 {
		errs = append(errs, invalid(p, "", "either `defaultBackend` or `rules` must be specified"))
	}
	if c := s.IngressClassName; c != nil && (len(*c) > 253 || !dnsSubdomainRe.MatchString(*c)) {
		errs = append(errs, invalid(p.Child("ingressClassName"), *c, "must be a DNS subdomain (lowercase alphanumerics, '-' and '.', at most 253)"))
	}
	if s.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(s.DefaultBackend, p.Child("defaultBackend"))...)
	}
	for i, t := range s.TLS {
		for j, h := range t.Hosts {
			errs = append(errs, validateIngressHost(h, p.Child("tls").Index(i).Child("hosts").Index(j))...)
		}
	}
	for i, r := range s.Rules {
		rp := p.Child("rules").Index(i)
		if r.Host != "" {
			errs = append(errs, validateIngressHost(r.Host, rp.Child("host"))...)
		}
		if r.HTTP == nil {
			continue
		}
		hp := rp.Child("http").Child("paths")
		if len(r.HTTP.Paths) == 0 {
			errs = append(errs, required(hp, ""))
		}
		for j, hpath := range r.HTTP.Paths {
			errs = append(errs, validateIngressPath(&hpath, hp.Index(j))...)
		}
	}
	return errs
}

// validateIngressHost checks a host: a DNS subdomain, with "*." allowed as first label,
// not an IP address (Kubernetes' messages).
func validateIngressHost(h string, p Path) ErrorList {
	if _, err := netip.ParseAddr(h); err == nil {
		return ErrorList{invalid(p, h, "must be a DNS name, not an IP address")}
	}
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		if len(h) > 253 || !dnsSubdomainRe.MatchString(rest) {
			return ErrorList{invalid(p, h, "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com')")}
		}
		return nil
	}
	if len(h) > 253 || !dnsSubdomainRe.MatchString(h) {
		return ErrorList{invalid(p, h, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')")}
	}
	return nil
}

func validateIngressPath(hp *HTTPIngressPath, p Path) ErrorList {
	var errs ErrorList
	types := []string{PathTypeExact, PathTypeImplementationSpecific, PathTypePrefix}
	switch {
	case hp.PathType == nil:
		errs = append(errs, required(p.Child("pathType"), "pathType must be specified"))
	case !slices.Contains(types, *hp.PathType):
		errs = append(errs, notSupported(p.Child("pathType"), *hp.PathType, types...))
	case *hp.PathType != PathTypeImplementationSpecific || hp.Path != "":
		if !strings.HasPrefix(hp.Path, "/") {
			errs = append(errs, invalid(p.Child("path"), hp.Path, "must be an absolute path"))
		} else if *hp.PathType != PathTypeImplementationSpecific && strings.Contains(hp.Path, "//") {
			errs = append(errs, invalid(p.Child("path"), hp.Path, "must not contain '//'"))
		}
	}
	return append(errs, validateIngressBackend(&hp.Backend, p.Child("backend"))...)
}

func validateIngressBackend(b *IngressBackend, p Path) ErrorList {
	if b.Service == nil {
		return ErrorList{invalid(p, "", "one backend (`service`) must be specified")}
	}
	var errs ErrorList
	sp := p.Child("service")
	if b.Service.Name == "" {
		errs = append(errs, required(sp.Child("name"), ""))
	} else if !isDNSLabel(b.Service.Name) {
		errs = append(errs, invalid(sp.Child("name"), b.Service.Name, "must be a DNS label (lowercase alphanumerics and '-', at most 63)"))
	}
	port := b.Service.Port
	switch {
	case port.Name != "" && port.Number != 0:
		errs = append(errs, invalid(sp.Child("port"), port.Name, "cannot set both port name & port number"))
	case port.Name == "" && port.Number == 0:
		errs = append(errs, required(sp.Child("port"), "port name or number is required"))
	case port.Number != 0 && (port.Number < 1 || port.Number > 65535):
		errs = append(errs, invalid(sp.Child("port").Child("number"), port.Number, "must be between 1 and 65535, inclusive"))
	case port.Name != "" && !portNameRe.MatchString(port.Name):
		errs = append(errs, invalid(sp.Child("port").Child("name"), port.Name, "must be a valid port name (lowercase alphanumerics and '-', at most 15)"))
	}
	return errs
}

func validateIngressClass(c *IngressClass) ErrorList {
	p := Path("spec.controller")
	switch ctl := c.Spec.Controller; {
	case ctl == "":
		return ErrorList{required(p, "")}
	case len(ctl) > 250 || !strings.Contains(ctl, "/") || !dnsSubdomainRe.MatchString(ctl[:strings.Index(ctl, "/")]):
		return ErrorList{invalid(p, ctl, "must be a domain-prefixed path (such as \"acme.io/foo\")")}
	}
	return nil
}
