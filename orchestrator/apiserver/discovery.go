package apiserver

import (
	"net/http"
	"runtime"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/keeldb/keel/orchestrator/rbac"
	kversion "github.com/keeldb/keel/version"
)

// KubernetesVersion is the Kubernetes API version the server reports on /version.
const KubernetesVersion = "v1.32.0"

const aggregatedDiscoveryType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// resourceInfo is one served resource or subresource as discovery lists it.
type resourceInfo struct {
	name       string // "pods", "pods/status"
	kind       string
	group      string // of the kind, when it differs from the group version's ("policy" for pods/eviction)
	version    string
	namespaced bool
	verbs      []string
	shortNames []string
}

var (
	readWrite = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	getUpdate = []string{"get", "patch", "update"}
)

// inAll are the kinds of the "all" category (`kubectl get all`), as Kubernetes lists them.
var inAll = map[string]bool{"Pod": true, "Service": true, "Deployment": true, "ReplicaSet": true, "StatefulSet": true,
	"DaemonSet": true, "Job": true, "CronJob": true, "ReplicationController": true, "HorizontalPodAutoscaler": true}

func categories(kind string) []string {
	if inAll[kind] {
		return []string{"all"}
	}
	return nil
}

// hasScale lists the kinds with a scale subresource.
var hasScale = map[string]bool{"Deployment": true, "ReplicaSet": true, "StatefulSet": true, "ReplicationController": true}

// resourcesOf returns the resources served at gv, sorted by name.
func (s *Server) resourcesOf(gv string) []resourceInfo {
	var out []resourceInfo
	for name, g := range s.byGV[gv] {
		r := g.Resource()
		r.Name = name
		verbs := readWrite
		if groupOf(gv) == "metrics.k8s.io" {
			verbs = []string{"get", "list"}
		}
		out = append(out, resourceInfo{name: r.Name, kind: r.Kind, namespaced: r.Namespaced, verbs: verbs, shortNames: r.ShortNames})
		if r.HasStatus {
			out = append(out, resourceInfo{name: r.Name + "/status", kind: r.Kind, namespaced: r.Namespaced, verbs: getUpdate})
		}
		if hasScale[r.Kind] {
			out = append(out, resourceInfo{name: r.Name + "/scale", kind: "Scale", group: "autoscaling", version: "v1", namespaced: true, verbs: getUpdate})
		}
		if r.Kind == "Pod" {
			out = append(out,
				resourceInfo{name: "pods/log", kind: "Pod", namespaced: true, verbs: []string{"get"}},
				resourceInfo{name: "pods/eviction", kind: "Eviction", group: "policy", version: "v1", namespaced: true, verbs: []string{"create"}},
				resourceInfo{name: "pods/binding", kind: "Binding", namespaced: true, verbs: []string{"create"}})
		}
	}
	if gv == authenticationGV {
		out = append(out, resourceInfo{name: "selfsubjectreviews", kind: "SelfSubjectReview", verbs: []string{"create"}})
	}
	if gv == authorizationGV {
		out = append(out, resourceInfo{name: "selfsubjectaccessreviews", kind: "SelfSubjectAccessReview", verbs: []string{"create"}})
		if _, ok := s.cfg.Authorizer.(*rbac.Authorizer); ok {
			out = append(out, resourceInfo{name: "selfsubjectrulesreviews", kind: "SelfSubjectRulesReview", verbs: []string{"create"}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (s *Server) apiResourceList(gv string) *metav1.APIResourceList {
	l := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv, APIResources: []metav1.APIResource{}}
	for _, ri := range s.resourcesOf(gv) {
		l.APIResources = append(l.APIResources, metav1.APIResource{
			Name: ri.name, SingularName: singular(ri), Namespaced: ri.namespaced, Kind: ri.kind,
			Group: ri.group, Version: ri.version, Verbs: ri.verbs, ShortNames: ri.shortNames,
		})
		if !strings.Contains(ri.name, "/") {
			l.APIResources[len(l.APIResources)-1].Categories = categories(ri.kind)
		}
	}
	return l
}

func singular(ri resourceInfo) string {
	if strings.Contains(ri.name, "/") {
		return ""
	}
	return strings.ToLower(ri.kind)
}

// groups returns the API groups other than the core one, each with its versions.
func (s *Server) groups() map[string][]string {
	out := map[string][]string{}
	for _, gv := range s.groupVersions() {
		if g := groupOf(gv); g != "" {
			out[g] = append(out[g], versionOf(gv))
		}
	}
	return out
}

func (s *Server) apiGroupList() *metav1.APIGroupList {
	l := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	gs := s.groups()
	names := make([]string, 0, len(gs))
	for g := range gs {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		l.Groups = append(l.Groups, apiGroup(g, gs[g]))
	}
	return l
}

func apiGroup(g string, versions []string) metav1.APIGroup {
	ag := metav1.APIGroup{Name: g}
	for _, v := range versions {
		ag.Versions = append(ag.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g + "/" + v, Version: v})
	}
	ag.PreferredVersion = ag.Versions[0]
	return ag
}

// aggregated returns the aggregated discovery document of the core group (core) or of the
// named groups.
func (s *Server) aggregated(core bool) *apidiscoveryv2.APIGroupDiscoveryList {
	l := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	var gvs []string
	for _, gv := range s.groupVersions() {
		if (groupOf(gv) == "") == core {
			gvs = append(gvs, gv)
		}
	}
	byGroup := map[string]*apidiscoveryv2.APIGroupDiscovery{}
	var order []string
	for _, gv := range gvs {
		g := groupOf(gv)
		gd := byGroup[g]
		if gd == nil {
			gd = &apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g}}
			byGroup[g] = gd
			order = append(order, g)
		}
		vd := apidiscoveryv2.APIVersionDiscovery{Version: versionOf(gv), Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		subs := map[string][]apidiscoveryv2.APISubresourceDiscovery{}
		for _, ri := range s.resourcesOf(gv) {
			if parent, sub, ok := strings.Cut(ri.name, "/"); ok {
				rk := &metav1.GroupVersionKind{Group: ri.group, Version: ri.version, Kind: ri.kind}
				if ri.version == "" {
					rk.Group, rk.Version = g, versionOf(gv)
				}
				subs[parent] = append(subs[parent], apidiscoveryv2.APISubresourceDiscovery{Subresource: sub, ResponseKind: rk, Verbs: ri.verbs})
			}
		}
		for _, ri := range s.resourcesOf(gv) {
			if strings.Contains(ri.name, "/") {
				continue
			}
			scope := apidiscoveryv2.ScopeCluster
			if ri.namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			vd.Resources = append(vd.Resources, apidiscoveryv2.APIResourceDiscovery{
				Resource: ri.name, ResponseKind: &metav1.GroupVersionKind{Group: g, Version: versionOf(gv), Kind: ri.kind},
				Scope: scope, SingularResource: singular(ri), Verbs: ri.verbs, ShortNames: ri.shortNames, Subresources: subs[ri.name], Categories: categories(ri.kind),
			})
		}
		gd.Versions = append(gd.Versions, vd)
	}
	for _, g := range order {
		l.Items = append(l.Items, *byGroup[g])
	}
	return l
}

// wantsAggregated tells whether the Accept header asks for aggregated discovery (v2).
func wantsAggregated(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		p := strings.ReplaceAll(part, " ", "")
		if strings.Contains(p, "as=APIGroupDiscoveryList") && strings.Contains(p, "v=v2") && !strings.Contains(p, "v=v2beta1") {
			return true
		}
	}
	return false
}

func (s *Server) serveNonResource(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeStatus(w, errMethodNotAllowed(r.Method))
		return
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case p == "/version":
		writeJSON(w, http.StatusOK, serverVersion())
		return
	case p == "/healthz" || p == "/livez" || p == "/readyz" || strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/livez/") || strings.HasPrefix(p, "/readyz/"):
		if p == "/readyz" {
			if _, err := s.cfg.Client.Get(r.Context(), "health", clientv3.WithCountOnly()); err != nil {
				http.Error(w, "[-]etcd failed: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
		return
	case p == "/api":
		if wantsAggregated(r) {
			w.Header().Set("Content-Type", aggregatedDiscoveryType)
			writeJSON(w, http.StatusOK, s.aggregated(true))
			return
		}
		writeJSON(w, http.StatusOK, &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}}})
		return
	case p == "/apis":
		if wantsAggregated(r) {
			w.Header().Set("Content-Type", aggregatedDiscoveryType)
			writeJSON(w, http.StatusOK, s.aggregated(false))
			return
		}
		writeJSON(w, http.StatusOK, s.apiGroupList())
		return
	case p == "/api/v1":
		writeJSON(w, http.StatusOK, s.apiResourceList("v1"))
		return
	case strings.HasPrefix(p, "/apis/"):
		parts := strings.Split(strings.TrimPrefix(p, "/apis/"), "/")
		gs := s.groups()
		if vs, ok := gs[parts[0]]; ok {
			if len(parts) == 1 {
				g := apiGroup(parts[0], vs)
				g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
				writeJSON(w, http.StatusOK, &g)
				return
			}
			for _, v := range vs {
				if len(parts) == 2 && parts[1] == v {
					writeJSON(w, http.StatusOK, s.apiResourceList(parts[0]+"/"+v))
					return
				}
			}
		}
	case strings.HasPrefix(p, "/openapi"):
		s.extra.ServeHTTP(w, r)
		return
	}
	writeStatus(w, newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource"))
}

func serverVersion() *version.Info {
	minor := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), ".")[1]
	return &version.Info{
		Major: "1", Minor: minor, GitVersion: KubernetesVersion + "-keel",
		GitCommit: kversion.Get().GitSHA, GitTreeState: "clean", GoVersion: runtime.Version(),
		Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
}
