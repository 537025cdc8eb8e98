package ingress

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/keeldb/keel/orchestrator/api"
)

// Backend is one Service port an Ingress routes to, with its ready endpoints.
type Backend struct {
	// Namespace and Service name the Service; Port is the backend's port as the Ingress
	// gives it (name or number).
	Namespace, Service string
	Port               api.ServiceBackendPort
	// Addrs are the "ip:port" of the ready endpoints, in the Endpoints' order; empty when
	// the Service, its port or ready endpoints are missing.
	Addrs []string
	next  atomic.Uint64
}

// Pick returns the next ready endpoint, round-robin, and false when there is none.
func (b *Backend) Pick() (string, bool) {
	if len(b.Addrs) == 0 {
		return "", false
	}
	return b.Addrs[(b.next.Add(1)-1)%uint64(len(b.Addrs))], true
}

// route is one path of one host.
type route struct {
	path     string // as given; Prefix paths are matched without their trailing "/"
	exact    bool   // Exact; Prefix and ImplementationSpecific match by path element
	backend  *Backend
	ingress  string // namespace/name, for conflicts: the oldest Ingress wins
	position int    // rank of the Ingress (creation time, then name)
}

// Router is the routing table of a set of Ingresses. It is immutable once built, but for
// the round-robin counters of its backends.
type Router struct {
	exact    map[string][]route // host -> routes
	wildcard map[string][]route // "example.com" for "*.example.com" -> routes
	any      []route            // rules without host
	def      *Backend           // the oldest Ingress's defaultBackend, nil when none
}

// Build returns the Router of ingresses (already filtered to the served class), resolving
// each backend with services and endpoints: a numbered port is the Service port of that
// number, a named one the Service port of that name; its ready endpoints are the
// addresses of the Endpoints' subsets carrying the Service port's name.
func Build(ingresses []*api.Ingress, services []*api.Service, endpoints []*api.Endpoints) *Router {
	svcs := map[string]*api.Service{}
	for _, s := range services {
		svcs[s.Namespace+"/"+s.Name] = s
	}
	eps := map[string]*api.Endpoints{}
	for _, e := range endpoints {
		eps[e.Namespace+"/"+e.Name] = e
	}
	ings := sortedByAge(ingresses)
	r := &Router{exact: map[string][]route{}, wildcard: map[string][]route{}}
	for pos, ing := range ings {
		backend := func(b *api.IngressBackend) *Backend {
			if b.Service == nil {
				return &Backend{Namespace: ing.Namespace}
			}
			out := &Backend{Namespace: ing.Namespace, Service: b.Service.Name, Port: b.Service.Port}
			out.Addrs = ReadyAddrs(svcs[ing.Namespace+"/"+b.Service.Name], eps[ing.Namespace+"/"+b.Service.Name], b.Service.Port)
			return out
		}
		if ing.Spec.DefaultBackend != nil && r.def == nil {
			r.def = backend(ing.Spec.DefaultBackend)
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			var routes []route
			for _, p := range rule.HTTP.Paths {
				path := p.Path
				if path == "" {
					path = "/"
				}
				exact := p.PathType != nil && *p.PathType == api.PathTypeExact
				routes = append(routes, route{path: path, exact: exact, backend: backend(&p.Backend),
					ingress: ing.Namespace + "/" + ing.Name, position: pos})
			}
			host := strings.ToLower(rule.Host)
			switch {
			case host == "":
				r.any = append(r.any, routes...)
			case strings.HasPrefix(host, "*."):
				r.wildcard[host[2:]] = append(r.wildcard[host[2:]], routes...)
			default:
				r.exact[host] = append(r.exact[host], routes...)
			}
		}
	}
	return r
}

// ReadyAddrs returns the ready "ip:port" of the Service port port (by name or number) of
// svc, from ep; nil when either is nil or svc has no such port.
func ReadyAddrs(svc *api.Service, ep *api.Endpoints, port api.ServiceBackendPort) []string {
	if svc == nil || ep == nil {
		return nil
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(sp api.ServicePort) bool {
		if port.Name != "" {
			return sp.Name == port.Name
		}
		return sp.Port == port.Number
	})
	if i < 0 {
		return nil
	}
	name := svc.Spec.Ports[i].Name
	var out []string
	for _, s := range ep.Subsets {
		for _, p := range s.Ports {
			if p.Name != name || (p.Protocol != "" && p.Protocol != "TCP") {
				continue
			}
			for _, a := range s.Addresses {
				out = append(out, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
			break
		}
	}
	return out
}

// Route returns the backend of a request for host (a Host header, port allowed) and path,
// and false when no rule matches and there is no default backend. The host's rules are
// those of the exact host if any, else of the wildcard "*.parent" (one label), else the
// rules without host; within them an Exact path equal to path wins, else the longest
// Prefix (or ImplementationSpecific) path that is path or a leading run of its elements
// ("/foo" matches "/foo", "/foo/" and "/foo/bar", not "/foobar"); on a tie the oldest
// Ingress wins. Without a matching path the default backend answers.
func (r *Router) Route(host, path string) (*Backend, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	routes, ok := r.exact[host]
	if !ok {
		if _, parent, found := strings.Cut(host, "."); found {
			routes, ok = r.wildcard[parent]
		}
	}
	if !ok {
		routes = r.any
	}
	if path == "" {
		path = "/"
	}
	var best *route
	bestLen := -1
	for i := range routes {
		rt := &routes[i]
		if rt.exact {
			if rt.path == path && (best == nil || !best.exact || rt.position < best.position) {
				best = rt
			}
			continue
		}
		if best != nil && best.exact {
			continue
		}
		prefix := strings.TrimSuffix(rt.path, "/")
		if !prefixMatches(prefix, path) {
			continue
		}
		if l := len(prefix); l > bestLen || (l == bestLen && rt.position < best.position) {
			best, bestLen = rt, l
		}
	}
	if best != nil {
		return best.backend, true
	}
	if r.def != nil {
		return r.def, true
	}
	return nil, false
}

// prefixMatches reports whether prefix (without trailing "/"; "" for "/") is path or a
// leading run of path's elements.
func prefixMatches(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	rest := path[len(prefix):]
	return rest == "" || rest[0] == '/'
}

// sortedByAge returns ingresses oldest first (then by namespace and name).
func sortedByAge(ingresses []*api.Ingress) []*api.Ingress {
	ings := slices.Clone(ingresses)
	slices.SortFunc(ings, func(a, b *api.Ingress) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return ings
}
