package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/ingress"
)

func ingressClassOf(i *api.Ingress) string {
	if i.Spec.IngressClassName == nil {
		return "<none>"
	}
	return *i.Spec.IngressClassName
}

func ingressAddress(i *api.Ingress) string {
	var out []string
	for _, lb := range i.Status.LoadBalancer.Ingress {
		out = append(out, orDefault(lb.IP, lb.Hostname))
	}
	return strings.Join(out, ",")
}

func ingressBackendString(b *api.IngressBackend) string {
	if b == nil || b.Service == nil {
		return "<default>"
	}
	port := b.Service.Port.Name
	if port == "" {
		port = fmt.Sprint(b.Service.Port.Number)
	}
	return b.Service.Name + ":" + port
}

// ingress writes kubectl describe's view of an Ingress: each backend with its ready
// endpoints.
func (d *describer) ingress(ctx context.Context, w *describeWriter, i *api.Ingress) error {
	backend := func(b *api.IngressBackend) (string, error) {
		s := ingressBackendString(b)
		if b == nil || b.Service == nil {
			return s, nil
		}
		svc, err := d.st.Services.Get(ctx, i.Namespace, b.Service.Name)
		if isNotFound(err) {
			return s + " (<error: services \"" + b.Service.Name + "\" not found>)", nil
		} else if err != nil {
			return "", err
		}
		ep, err := d.st.Endpoints.Get(ctx, i.Namespace, b.Service.Name)
		if err != nil && !isNotFound(err) {
			return "", err
		}
		return s + " (" + orNone(strings.Join(ingress.ReadyAddrs(svc, ep, b.Service.Port), ",")) + ")", nil
	}
	w.line(0, "Name:\t%s", i.Name)
	w.labelsMultiline(0, "Labels", i.Labels, "=")
	w.line(0, "Namespace:\t%s", i.Namespace)
	w.line(0, "Address:\t%s", ingressAddress(i))
	w.line(0, "Ingress Class:\t%s", ingressClassOf(i))
	def, err := backend(i.Spec.DefaultBackend)
	if err != nil {
		return err
	}
	w.line(0, "Default backend:\t%s", def)
	for _, t := range i.Spec.TLS {
		w.line(0, "TLS:")
		w.line(1, "%s terminates %s", t.SecretName, strings.Join(t.Hosts, ","))
	}
	w.line(0, "Rules:")
	w.line(1, "Host\tPath\tBackends")
	w.line(1, "----\t----\t--------")
	for _, r := range i.Spec.Rules {
		w.line(1, "%s\t\t", orDefault(r.Host, "*"))
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			typ := ""
			if p.PathType != nil {
				typ = " (" + *p.PathType + ")"
			}
			b, err := backend(&p.Backend)
			if err != nil {
				return err
			}
			w.line(1, "\t%s%s\t%s", orDefault(p.Path, "/"), typ, b)
		}
	}
	w.labelsMultiline(0, "Annotations", i.Annotations, ": ")
	return nil
}
