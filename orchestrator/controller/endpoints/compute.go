package endpoints

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
)

// protocolTCP is the default protocol of service and container ports.
const protocolTCP = "TCP"

// podEligible reports whether p may appear in any Endpoints at all: it has an IP, it is
// not terminal and not being deleted (Kubernetes' ShouldPodBeInEndpoints without
// terminating endpoints).
func podEligible(p *api.Pod) bool {
	return p.Status.PodIP != "" && p.DeletionTimestamp == nil &&
		p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed
}

// podReady reports whether p's Ready condition is True.
func podReady(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

func protocolOr(proto string) string {
	if proto == "" {
		return protocolTCP
	}
	return proto
}

// findPort resolves sp's targetPort on p: a number is used as is (the default targetPort
// is the service port); a name is looked up among the ports of p's containers and sidecar
// init containers with the same protocol. ok is false when p has no such named port.
func findPort(p *api.Pod, sp api.ServicePort) (port int32, ok bool) {
	tp := sp.TargetPort
	if !tp.IsString {
		if tp.IntVal == 0 {
			return sp.Port, true
		}
		return tp.IntVal, true
	}
	proto := protocolOr(sp.Protocol)
	match := func(c api.Container) (int32, bool) {
		for _, cp := range c.Ports {
			if cp.Name == tp.StrVal && protocolOr(cp.Protocol) == proto {
				return cp.ContainerPort, true
			}
		}
		return 0, false
	}
	for _, c := range p.Spec.Containers {
		if n, ok := match(c); ok {
			return n, true
		}
	}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != api.RestartAlways {
			continue // only sidecars among init containers serve traffic
		}
		if n, ok := match(c); ok {
			return n, true
		}
	}
	return 0, false
}

// address returns p's endpoint address.
func address(p *api.Pod) api.EndpointAddress {
	a := api.EndpointAddress{
		IP:        p.Status.PodIP,
		TargetRef: &api.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
	}
	if p.Spec.NodeName != "" {
		n := p.Spec.NodeName
		a.NodeName = &n
	}
	return a
}

// Subsets computes the endpoint subsets of svc from pods, which must be the pods of svc's
// namespace matching its selector (other pods are not filtered out here).
//
// Each eligible pod (see the package doc) contributes its address with the ports it
// resolves, one per service port; a pod resolving none of the service's ports is left out
// (a service without ports publishes every eligible pod without ports). Pods with the same
// resolved port set share a subset, so a named targetPort that pods map to different
// numbers yields one subset per number, as Kubernetes' RepackSubsets does. Within a subset
// ready pods go to Addresses and the others to NotReadyAddresses, both sorted by IP, then
// namespace/name, then uid; ports are sorted by name, then number, then protocol; subsets
// are sorted by their ports. The result is nil when there is no address, and never holds
// empty non-nil slices, so it compares equal with reflect.DeepEqual to the same subsets
// read back from the store.
func Subsets(svc *api.Service, pods []*api.Pod) []api.EndpointSubset {
	type group struct {
		ports           []api.EndpointPort
		ready, notReady []api.EndpointAddress
	}
	groups := map[string]*group{}
	for _, p := range pods {
		if !podEligible(p) {
			continue
		}
		var ports []api.EndpointPort
		for _, sp := range svc.Spec.Ports {
			if n, ok := findPort(p, sp); ok {
				ports = append(ports, api.EndpointPort{Name: sp.Name, Port: n, Protocol: protocolOr(sp.Protocol)})
			}
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		slices.SortFunc(ports, comparePorts)
		sig := portsKey(ports)
		g := groups[sig]
		if g == nil {
			g = &group{ports: ports}
			groups[sig] = g
		}
		if podReady(p) {
			g.ready = append(g.ready, address(p))
		} else {
			g.notReady = append(g.notReady, address(p))
		}
	}
	if len(groups) == 0 {
		return nil
	}
	out := make([]api.EndpointSubset, 0, len(groups))
	for _, sig := range slices.Sorted(maps.Keys(groups)) {
		g := groups[sig]
		slices.SortFunc(g.ready, compareAddresses)
		slices.SortFunc(g.notReady, compareAddresses)
		out = append(out, api.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out
}

func comparePorts(a, b api.EndpointPort) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Port, b.Port), strings.Compare(a.Protocol, b.Protocol))
}

// portsKey encodes sorted ports so that the keys of port sets sort like the sets.
func portsKey(ports []api.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&b, "%s\x00%05d\x00%s\x01", p.Name, p.Port, p.Protocol)
	}
	return b.String()
}

func compareAddresses(a, b api.EndpointAddress) int {
	if c := strings.Compare(a.IP, b.IP); c != 0 {
		return c
	}
	var ra, rb api.ObjectReference
	if a.TargetRef != nil {
		ra = *a.TargetRef
	}
	if b.TargetRef != nil {
		rb = *b.TargetRef
	}
	return cmp.Or(strings.Compare(ra.Namespace, rb.Namespace), strings.Compare(ra.Name, rb.Name),
		strings.Compare(ra.UID, rb.UID))
}

// upToDate reports whether ep already holds subsets and labels, so that no write is needed.
func upToDate(ep *api.Endpoints, subsets []api.EndpointSubset, labels map[string]string) bool {
	return maps.Equal(ep.Labels, labels) && reflect.DeepEqual(normalize(ep.Subsets), subsets)
}

// normalize turns empty slices into nil, the form Subsets produces; stored objects are
// already in that form (the JSON fields are omitempty), hand-built ones may not be.
func normalize(subsets []api.EndpointSubset) []api.EndpointSubset {
	if len(subsets) == 0 {
		return nil
	}
	out := slices.Clone(subsets)
	for i := range out {
		s := &out[i]
		if len(s.Addresses) == 0 {
			s.Addresses = nil
		}
		if len(s.NotReadyAddresses) == 0 {
			s.NotReadyAddresses = nil
		}
		if len(s.Ports) == 0 {
			s.Ports = nil
		}
	}
	return out
}
