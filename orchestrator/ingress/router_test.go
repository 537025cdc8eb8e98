package ingress

import (
	"slices"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

func path(p, typ, svc string) api.HTTPIngressPath {
	return api.HTTPIngressPath{Path: p, PathType: &typ,
		Backend: api.IngressBackend{Service: &api.IngressServiceBackend{Name: svc, Port: api.ServiceBackendPort{Number: 80}}}}
}

func ing(name string, age int, def string, rules ...api.IngressRule) *api.Ingress {
	i := &api.Ingress{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}}
	i.CreationTimestamp.Time = time.Unix(int64(1000-age), 0)
	i.Spec.Rules = rules
	if def != "" {
		i.Spec.DefaultBackend = &api.IngressBackend{Service: &api.IngressServiceBackend{Name: def, Port: api.ServiceBackendPort{Number: 80}}}
	}
	return i
}

func rule(host string, paths ...api.HTTPIngressPath) api.IngressRule {
	return api.IngressRule{Host: host, HTTP: &api.HTTPIngressRuleValue{Paths: paths}}
}

func TestRoutePrecedence(t *testing.T) {
	r := Build([]*api.Ingress{
		ing("a", 2, "",
			rule("foo.example.com",
				path("/", "Prefix", "root"),
				path("/api", "Prefix", "api"),
				path("/api/v2/", "Prefix", "v2"),
				path("/api/exact", "Exact", "exact"),
				path("/impl", "ImplementationSpecific", "impl")),
			rule("*.example.com", path("/", "Prefix", "wild")),
			rule("", path("/only", "Exact", "nohost"))),
		ing("b", 1, "fallback",
			rule("foo.example.com", path("/api", "Prefix", "newer-api"), path("/b", "Prefix", "b"))),
	}, nil, nil)
	for _, tc := range []struct{ host, path, want string }{
		{"foo.example.com", "/", "root"},
		{"foo.example.com:8080", "/x", "root"},
		{"FOO.example.com", "/api", "api"},         // oldest Ingress wins a tie
		{"foo.example.com", "/api/", "api"},        // trailing slash is an empty element
		{"foo.example.com", "/apix", "root"},       // prefixes match by element
		{"foo.example.com", "/api/v2", "v2"},       // "/api/v2/" matches "/api/v2"
		{"foo.example.com", "/api/v2/users", "v2"}, // longest prefix wins
		{"foo.example.com", "/api/exact", "exact"}, // exact over prefix
		{"foo.example.com", "/api/exact/x", "api"}, // exact is exact
		{"foo.example.com", "/impl/x", "impl"},     // ImplementationSpecific is Prefix here
		{"foo.example.com", "/b", "b"},             // merged from the second Ingress
		{"bar.example.com", "/anything", "wild"},   // wildcard: one label
		{"a.bar.example.com", "/only", "nohost"},   // wildcard does not span labels
		{"example.com", "/only", "nohost"},
		{"other.io", "/only/x", "fallback"}, // no path matches: default backend
	} {
		b, ok := r.Route(tc.host, tc.path)
		if !ok || b.Service != tc.want {
			t.Errorf("Route(%q, %q) = %+v, %v; want %s", tc.host, tc.path, b, ok, tc.want)
		}
	}
	if b, ok := Build([]*api.Ingress{ing("a", 1, "", rule("x.io", path("/", "Prefix", "x")))}, nil, nil).Route("y.io", "/"); ok {
		t.Errorf("unknown host without default backend routed to %+v", b)
	}
}

func TestBuildResolvesReadyEndpoints(t *testing.T) {
	svc := &api.Service{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.ServiceSpec{Ports: []api.ServicePort{{Name: "http", Port: 80}, {Name: "admin", Port: 81}}}}
	ep := &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"}, Subsets: []api.EndpointSubset{{
		Addresses:         []api.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}},
		NotReadyAddresses: []api.EndpointAddress{{IP: "10.0.0.3"}},
		Ports:             []api.EndpointPort{{Name: "http", Port: 8080}, {Name: "admin", Port: 9090}},
	}}}
	named := path("/admin", "Prefix", "web")
	named.Backend.Service.Port = api.ServiceBackendPort{Name: "admin"}
	r := Build([]*api.Ingress{ing("a", 1, "", rule("", path("/", "Prefix", "web"), named, path("/gone", "Prefix", "gone")))},
		[]*api.Service{svc}, []*api.Endpoints{ep})
	b, _ := r.Route("h", "/")
	var got []string
	for range 3 {
		a, _ := b.Pick()
		got = append(got, a)
	}
	if want := []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.1:8080"}; !slices.Equal(got, want) {
		t.Errorf("round-robin %v, want %v", got, want)
	}
	if b, _ := r.Route("h", "/admin"); !slices.Equal(b.Addrs, []string{"10.0.0.1:9090", "10.0.0.2:9090"}) {
		t.Errorf("named port: %v", b.Addrs)
	}
	if b, _ := r.Route("h", "/gone"); len(b.Addrs) != 0 {
		t.Errorf("missing service has endpoints %v", b.Addrs)
	} else if _, ok := b.Pick(); ok {
		t.Error("Pick without endpoints succeeded")
	}
}

func TestServed(t *testing.T) {
	keel, other := "keel", "nginx"
	named := ing("named", 1, "x")
	named.Spec.IngressClassName = &keel
	foreign := ing("foreign", 1, "x")
	foreign.Spec.IngressClassName = &other
	unnamed := ing("unnamed", 1, "x")
	all := []*api.Ingress{named, foreign, unnamed}
	cls := &api.IngressClass{ObjectMeta: api.ObjectMeta{Name: "keel"}}
	names := func(ings []*api.Ingress) (out []string) {
		for _, i := range ings {
			out = append(out, i.Name)
		}
		return out
	}
	if got := names(Served(all, []*api.IngressClass{cls}, "keel")); !slices.Equal(got, []string{"named"}) {
		t.Errorf("not default: served %v", got)
	}
	cls.Annotations = map[string]string{api.AnnotationIsDefaultIngressClass: "true"}
	if got := names(Served(all, []*api.IngressClass{cls}, "keel")); !slices.Equal(got, []string{"named", "unnamed"}) {
		t.Errorf("default: served %v", got)
	}
}
