package agent

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// serviceLinksTimeout bounds the read of a pod's namespace's Services at container start.
const serviceLinksTimeout = 5 * time.Second

// serviceLinks returns the service environment of p's containers, read from the Services
// of its namespace as they are when the container starts (serviceLinkEnv); none when
// p.spec.enableServiceLinks is false. A failed read is logged and gives none, as the
// container's own env is complete without it.
func (rt *procRuntime) serviceLinks(p *api.Pod) []string {
	if p.Spec.EnableServiceLinks != nil && !*p.Spec.EnableServiceLinks {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), serviceLinksTimeout)
	defer cancel()
	list, err := rt.a.stores.Services.List(ctx, registry.ListOptions{Namespace: p.Namespace})
	if err != nil {
		rt.log.Warn("service links: list services failed", "namespace", p.Namespace, "err", err)
		return nil
	}
	return serviceLinkEnv(list.Items)
}

// serviceLinkEnv returns the variables the kubelet gives containers for Services with a
// cluster IP (envvars.FromServices), in Service name order, as KEY=VALUE pairs. For a
// Service "redis-master" at 10.0.0.11 with port 6379/TCP named "redis":
//
//	REDIS_MASTER_SERVICE_HOST=10.0.0.11
//	REDIS_MASTER_SERVICE_PORT=6379
//	REDIS_MASTER_SERVICE_PORT_REDIS=6379
//	REDIS_MASTER_PORT=tcp://10.0.0.11:6379
//	REDIS_MASTER_PORT_6379_TCP=tcp://10.0.0.11:6379
//	REDIS_MASTER_PORT_6379_TCP_PROTO=tcp
//	REDIS_MASTER_PORT_6379_TCP_PORT=6379
//	REDIS_MASTER_PORT_6379_TCP_ADDR=10.0.0.11
//
// Headless and ExternalName Services give none.
func serviceLinkEnv(svcs []*api.Service) []string {
	svcs = slices.Clone(svcs)
	slices.SortFunc(svcs, func(a, b *api.Service) int { return strings.Compare(a.Name, b.Name) })
	var env []string
	for _, svc := range svcs {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == api.ClusterIPNone || svc.Spec.Type == api.ServiceTypeExternalName || len(svc.Spec.Ports) == 0 {
			continue
		}
		name := envName(svc.Name)
		first := svc.Spec.Ports[0]
		env = append(env, name+"_SERVICE_HOST="+ip, name+"_SERVICE_PORT="+strconv.Itoa(int(first.Port)))
		for _, sp := range svc.Spec.Ports {
			if sp.Name != "" {
				env = append(env, name+"_SERVICE_PORT_"+envName(sp.Name)+"="+strconv.Itoa(int(sp.Port)))
			}
		}
		for i, sp := range svc.Spec.Ports {
			proto := sp.Protocol
			if proto == "" {
				proto = "TCP"
			}
			lower := strings.ToLower(proto)
			hostPort := net.JoinHostPort(ip, strconv.Itoa(int(sp.Port)))
			if i == 0 {
				env = append(env, name+"_PORT="+lower+"://"+hostPort)
			}
			prefix := fmt.Sprintf("%s_PORT_%d_%s", name, sp.Port, strings.ToUpper(proto))
			env = append(env, prefix+"="+lower+"://"+hostPort, prefix+"_PROTO="+lower,
				prefix+"_PORT="+strconv.Itoa(int(sp.Port)), prefix+"_ADDR="+ip)
		}
	}
	return env
}

// envName makes a Service or port name a variable name: upper case, '-' as '_'.
func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
