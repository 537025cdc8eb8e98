// Package apiserver is `orch apiserver`: a stateless Kubernetes API server over Keel's store,
// so that kubectl and client-go work unchanged. It authenticates every request (client
// certificates, bearer tokens), authorizes it (authz.Authorizer), and serves discovery and
// every kind of api.Resources through the registry — the one path of defaulting, validation
// and admission that `orch ctl` uses too. Replicas share nothing but the store.
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/apiserver/openapi"
	"github.com/keeldb/keel/orchestrator/authz"
	"github.com/keeldb/keel/orchestrator/registry"
)

// Config configures a Server.
type Config struct {
	// Client reaches the store.
	Client *clientv3.Client
	// Registry configures the stores (encryption at rest, service ranges).
	Registry registry.Config
	// Authorizer decides every authenticated request; nil allows all (authz.AlwaysAllow).
	Authorizer authz.Authorizer
	// Tokens are the bearer tokens of --token-auth-file.
	Tokens TokenFile
	// AnonymousAuth lets requests without credentials in as system:anonymous; else they get
	// 401 Unauthorized.
	AnonymousAuth bool
	// Now is the clock of Table ages; default time.Now.
	Now func() time.Time
	// Logger logs failed requests; default slog.Default().
	Logger *slog.Logger
}

// EscalationChecker is implemented by an Authorizer that refuses writes of roles and
// bindings granting more than their writer holds (rbac.Authorizer): the server asks it
// before every create and update of a Role, ClusterRole, RoleBinding or ClusterRoleBinding.
type EscalationChecker interface {
	CheckEscalation(ctx context.Context, user authz.UserInfo, obj api.Object) error
}

// rbacKinds are the kinds an EscalationChecker checks.
var rbacKinds = map[string]bool{"Role": true, "ClusterRole": true, "RoleBinding": true, "ClusterRoleBinding": true}

// checkEscalation asks the authorizer, if it checks escalation, whether the request's user
// may write obj.
func (s *Server) checkEscalation(ctx context.Context, obj api.Object) error {
	ec, ok := s.cfg.Authorizer.(EscalationChecker)
	if !ok || !rbacKinds[obj.TypeInfo().Kind] {
		return nil
	}
	return ec.CheckEscalation(ctx, userOf(ctx), obj)
}

// Server serves the Kubernetes API.
type Server struct {
	cfg  Config
	gens map[string]registry.Generic // by resource name
	// byGV maps "v1", "apps/v1", ... to the resources served there.
	byGV    map[string]map[string]registry.Generic
	extra   *http.ServeMux // /openapi/...
	handler http.Handler
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Authorizer == nil {
		cfg.Authorizer = authz.AlwaysAllow{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, gens: registry.Generics(cfg.Client, cfg.Registry), byGV: map[string]map[string]registry.Generic{}}
	for _, g := range s.gens {
		gv := g.Resource().APIVersion
		if s.byGV[gv] == nil {
			s.byGV[gv] = map[string]registry.Generic{}
		}
		s.byGV[gv][servedName(g.Resource())] = g
	}
	s.extra = http.NewServeMux()
	openapi.Register(s.extra, api.Resources())
	s.handler = http.HandlerFunc(s.serve)
	return s
}

// Handler returns the HTTP handler (to be served over TLS that asks for client
// certificates: tls.VerifyClientCertIfGiven with the client CA).
func (s *Server) Handler() http.Handler { return s.handler }

// servedName is the resource name the API serves a resource under: metrics-server's "pods"
// and "nodes" in metrics.k8s.io (what kubectl top asks for), else the store's name.
func servedName(r api.Resource) string {
	switch r.Kind {
	case "PodMetrics":
		return "pods"
	case "NodeMetrics":
		return "nodes"
	}
	return r.Name
}

// groupVersions returns the served API versions, core ("v1") first, then sorted.
func (s *Server) groupVersions() []string {
	var gvs []string
	for gv := range s.byGV {
		if gv != "v1" {
			gvs = append(gvs, gv)
		}
	}
	gvs = append(gvs, authenticationGV, authorizationGV, policyGV)
	sort.Strings(gvs)
	return append([]string{"v1"}, gvs...)
}

const (
	authenticationGV = "authentication.k8s.io/v1"
	authorizationGV  = "authorization.k8s.io/v1"
	policyGV         = "policy/v1"
)

// request is a parsed resource request.
type request struct {
	gv          string // "v1", "apps/v1"
	resource    string
	namespace   string
	name        string
	subresource string
	verb        string
}

// parseResourcePath parses /api/v1/... and /apis/G/V/...; ok is false for a non-resource path.
func parseResourcePath(path string) (rq request, ok bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		rq.gv, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		rq.gv, parts = parts[1]+"/"+parts[2], parts[3:]
	default:
		return rq, false
	}
	if parts[0] == "namespaces" && len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
		rq.namespace, parts = parts[1], parts[2:]
	}
	if len(parts) > 3 {
		return rq, false
	}
	rq.resource = parts[0]
	if len(parts) > 1 {
		rq.name = parts[1]
	}
	if len(parts) > 2 {
		rq.subresource = parts[2]
	}
	if rq.resource == "namespaces" && rq.name != "" {
		rq.namespace = rq.name
	}
	return rq, true
}

func verbOf(r *http.Request, rq request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if rq.name == "" {
			if w := r.URL.Query().Get("watch"); w == "1" || w == "true" {
				return "watch"
			}
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if rq.name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return strings.ToLower(r.Method)
}

type userKey struct{}

func userOf(ctx context.Context) authz.UserInfo {
	u, _ := ctx.Value(userKey{}).(authz.UserInfo)
	return u
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authenticate(r)
	if !ok {
		writeStatus(w, newStatus(http.StatusUnauthorized, "Unauthorized", "Unauthorized"))
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
	rq, isResource := parseResourcePath(r.URL.Path)
	attrs := authz.Attributes{User: u, ResourceRequest: isResource, Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	if isResource {
		rq.verb = verbOf(r, rq)
		attrs.Verb, attrs.APIGroup, attrs.APIVersion = rq.verb, groupOf(rq.gv), versionOf(rq.gv)
		attrs.Resource, attrs.Subresource, attrs.Namespace, attrs.Name = rq.resource, rq.subresource, rq.namespace, rq.name
		if rq.resource == "namespaces" {
			attrs.Namespace = rq.name
		}
	}
	d, reason, err := s.cfg.Authorizer.Authorize(r.Context(), attrs)
	if err != nil && d != authz.DecisionAllow {
		s.cfg.Logger.Warn("authorizer failed", "err", err)
	}
	if d != authz.DecisionAllow {
		writeStatus(w, forbidden(attrs, reason))
		return
	}
	if !isResource {
		s.serveNonResource(w, r)
		return
	}
	s.serveResource(w, r, rq)
}

// forbidden is Kubernetes' 403 text: `pods "x" is forbidden: User "u" cannot delete resource
// "pods" in API group "" in the namespace "ns"`. An authorizer's reason (RBAC gives that same
// sentence, with the errors it met) replaces the part after "forbidden: ".
func forbidden(a authz.Attributes, reason string) *statusError {
	var what, why string
	if !a.ResourceRequest {
		what = "forbidden"
		why = "User \"" + a.User.Name + "\" cannot " + a.Verb + " path \"" + a.Path + "\""
	} else {
		res := a.Resource
		if a.Subresource != "" {
			res += "/" + a.Subresource
		}
		what = res
		if a.APIGroup != "" {
			what = a.Resource + "." + a.APIGroup
			if a.Subresource != "" {
				what += "/" + a.Subresource
			}
		}
		if a.Name != "" {
			what += " \"" + a.Name + "\""
		}
		what += " is forbidden"
		why = "User \"" + a.User.Name + "\" cannot " + a.Verb + " resource \"" + res + "\" in API group \"" + a.APIGroup + "\""
		if a.Namespace != "" {
			why += " in the namespace \"" + a.Namespace + "\""
		} else {
			why += " at the cluster scope"
		}
	}
	if reason != "" {
		why = reason
	}
	e := newStatus(http.StatusForbidden, metav1.StatusReasonForbidden, what+": "+why)
	if a.ResourceRequest {
		e.s.Details = &metav1.StatusDetails{Name: a.Name, Group: a.APIGroup, Kind: a.Resource}
	}
	return e
}

// SystemNamespaces are the namespaces the server makes sure exist, as kube-apiserver does.
var SystemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// Bootstrap creates the system namespaces that do not exist yet. Replicas may race on it.
func (s *Server) Bootstrap(ctx context.Context) error {
	nsg := s.gens["namespaces"]
	for _, name := range SystemNamespaces {
		ns := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}}
		if _, err := nsg.Create(ctx, ns); err != nil && !errors.Is(err, registry.ErrAlreadyExists) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	return nil
}
