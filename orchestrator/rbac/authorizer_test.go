package rbac_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/authz"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/rbac"
	"github.com/keeldb/keel/orchestrator/registry"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Eventually(t, 20*time.Second, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("waiting for %s", what)
	})
}

// TestAuthorizerOverStore runs the cached authorizer against a real store: Bootstrap from
// racing replicas, a binding created and deleted while it runs, the access reviews, and
// the registry's refusal of a roleRef change.
func TestAuthorizerOverStore(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := registry.NewStores(cli, registry.Config{})

	// Several replicas bootstrap at once, then one again: every object once, and the second
	// run leaves them untouched.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- rbac.Bootstrap(ctx, registry.NewStores(c.Client(i%3), registry.Config{}))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Bootstrap: %v", err)
		}
	}
	roles, err := st.ClusterRoles.List(ctx, registry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(roles.Items), len(rbac.BootstrapClusterRoles()); got != want {
		t.Fatalf("%d clusterroles after bootstrap, want %d", got, want)
	}
	before := map[string]string{}
	for _, r := range roles.Items {
		before[r.Name] = r.ResourceVersion
	}
	if err := rbac.Bootstrap(ctx, st); err != nil {
		t.Fatalf("second Bootstrap: %v", err)
	}
	roles, err = st.ClusterRoles.List(ctx, registry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles.Items {
		if before[r.Name] != r.ResourceVersion {
			t.Errorf("clusterrole %s rewritten by a second Bootstrap (%s → %s)", r.Name, before[r.Name], r.ResourceVersion)
		}
	}
	binds, err := st.ClusterRoleBindings.List(ctx, registry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(binds.Items), len(rbac.BootstrapClusterRoleBindings()); got != want {
		t.Fatalf("%d clusterrolebindings after bootstrap, want %d", got, want)
	}

	// The authorizer reads another member than the writer.
	a, err := rbac.New(c.Client(1), registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	alice := authz.UserInfo{Name: "alice", Groups: []string{authz.AllAuthenticated}}
	listPods := authz.Attributes{User: alice, Verb: "list", ResourceRequest: true, APIVersion: "v1", Resource: "pods", Namespace: "team"}
	deletePod := listPods
	deletePod.Verb, deletePod.Name = "delete", "web"
	decide := func(attrs authz.Attributes) (authz.Decision, string) {
		d, reason, err := a.Authorize(ctx, attrs)
		if err != nil {
			t.Fatalf("Authorize: %v", err)
		}
		return d, reason
	}
	if d, reason := decide(listPods); d != authz.DecisionNoOpinion ||
		reason != `User "alice" cannot list resource "pods" in API group "" in the namespace "team"` {
		t.Fatalf("before any binding: %v, %q", d, reason)
	}
	if d, _ := decide(authz.Attributes{User: alice, Verb: "get", Path: "/apis"}); d != authz.DecisionAllow {
		t.Fatal("an authenticated user may not read /apis after bootstrap")
	}
	admin := authz.UserInfo{Name: "root", Groups: []string{authz.SystemPrivilegedGrp}}
	if d, _ := decide(authz.Attributes{User: admin, Verb: "delete", ResourceRequest: true, Resource: "nodes", Name: "n1"}); d != authz.DecisionAllow {
		t.Fatal("system:masters refused")
	}

	rb := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Namespace: "team", Name: "alice-view"},
		Subjects: []api.Subject{{Kind: api.UserKind, Name: "alice"}},
		RoleRef:  api.RoleRef{Kind: "ClusterRole", Name: rbac.View}}
	created, err := st.RoleBindings.Create(ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new binding to allow alice", func() bool { d, _ := decide(listPods); return d == authz.DecisionAllow })
	if d, reason := decide(listPods); !strings.Contains(reason, `RoleBinding "alice-view/team" of ClusterRole "view" to User "alice"`) {
		t.Errorf("allowed with reason %q (%v)", reason, d)
	}
	if d, _ := decide(deletePod); d == authz.DecisionAllow {
		t.Fatal("view allows deleting pods")
	}

	// kubectl auth can-i, through the review.
	can := func(verb string) authorizationv1.SubjectAccessReviewStatus {
		s, err := rbac.Review(ctx, a, alice, authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "team", Verb: verb, Resource: "pods"}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := can("list"); !s.Allowed || !strings.HasPrefix(s.Reason, "RBAC: allowed by RoleBinding") {
		t.Errorf("can-i list pods: %+v", s)
	}
	if s := can("delete"); s.Allowed || s.Denied || s.Reason != "" {
		t.Errorf("can-i delete pods: %+v", s)
	}
	if _, err := rbac.Review(ctx, a, alice, authorizationv1.SelfSubjectAccessReviewSpec{}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), "exactly one of nonResourceAttributes or resourceAttributes must be specified") {
		t.Errorf("empty review: %v", err)
	}
	s, err := rbac.ReviewSubject(ctx, a, authorizationv1.SubjectAccessReviewSpec{User: "bob",
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/version", Verb: "get"}})
	if err != nil || s.Allowed {
		t.Errorf("bob without groups get /version: %+v, %v", s, err)
	}

	// kubectl auth can-i --list, through the rules review.
	rr, err := rbac.RulesReview(ctx, a, alice, authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "team"})
	if err != nil || rr.Incomplete {
		t.Fatalf("rules review: %+v, %v", rr, err)
	}
	var listsPods, discovery bool
	for _, r := range rr.ResourceRules {
		listsPods = listsPods || (slices.Contains(r.Resources, "pods") && slices.Contains(r.Verbs, "list"))
	}
	for _, r := range rr.NonResourceRules {
		discovery = discovery || slices.Contains(r.NonResourceURLs, "/apis/*")
	}
	if !listsPods || !discovery {
		t.Errorf("rules review lacks list pods (%v) or discovery (%v): %+v", listsPods, discovery, rr)
	}
	if _, err := rbac.RulesReview(ctx, a, alice, authorizationv1.SelfSubjectRulesReviewSpec{}); !apierrors.IsBadRequest(err) {
		t.Errorf("rules review without a namespace: %v", err)
	}

	// alice, a viewer, may not grant cluster-admin in her namespace.
	grab := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Namespace: "team", Name: "grab"},
		Subjects: []api.Subject{{Kind: api.UserKind, Name: "alice"}}, RoleRef: api.RoleRef{Kind: "ClusterRole", Name: rbac.ClusterAdmin}}
	if err := a.CheckEscalation(ctx, alice, grab); !apierrors.IsForbidden(err) {
		t.Errorf("viewer binding cluster-admin: %v, want Forbidden", err)
	}
	if err := a.CheckEscalation(ctx, alice, &api.Role{ObjectMeta: api.ObjectMeta{Namespace: "team", Name: "r"},
		Rules: []api.PolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}); err != nil {
		t.Errorf("viewer writing a role of rules she holds: %v", err)
	}

	// A binding's roleRef cannot change.
	changed := api.DeepCopy(created)
	changed.RoleRef.Name = rbac.Edit
	if _, err := st.RoleBindings.Update(ctx, changed); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "cannot change roleRef") {
		t.Fatalf("roleRef change: %v", err)
	}

	// A binding to a role that does not exist is reported in the reason.
	if _, err := st.RoleBindings.Create(ctx, &api.RoleBinding{ObjectMeta: api.ObjectMeta{Namespace: "team", Name: "dangling"},
		Subjects: []api.Subject{{Kind: api.UserKind, Name: "alice"}}, RoleRef: api.RoleRef{Kind: "Role", Name: "ghost"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the dangling binding in the reason", func() bool {
		_, reason := decide(deletePod)
		return strings.HasSuffix(reason, `: RBAC: role.rbac.authorization.k8s.io "ghost" not found`)
	})
	_, reason := decide(deletePod)
	if ferr := rbac.ForbiddenError(deletePod, reason); ferr.ErrStatus.Code != http.StatusForbidden ||
		!strings.HasPrefix(ferr.Error(), `pods "web" is forbidden: User "alice" cannot delete resource "pods"`) {
		t.Errorf("ForbiddenError = %v", ferr)
	}

	if _, err := st.RoleBindings.Delete(ctx, "team", "alice-view", registry.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted binding to stop allowing", func() bool { d, _ := decide(listPods); return d != authz.DecisionAllow })

	// A second authorizer: refuses before it has synced, and stops when its context ends.
	b, err := rbac.New(c.Client(2), registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Authorize(ctx, listPods); !errors.Is(err, rbac.ErrNotSynced) {
		t.Errorf("Authorize before Start: %v, want ErrNotSynced", err)
	}
	bctx, bcancel := context.WithCancel(ctx)
	if err := b.Start(bctx); err != nil {
		t.Fatal(err)
	}
	if d, _, err := b.Authorize(ctx, authz.Attributes{User: alice, Verb: "get", Path: "/version"}); err != nil || d != authz.DecisionAllow {
		t.Errorf("second authorizer, get /version: %v, %v", d, err)
	}
	bcancel()
	b.Close() // returns once the informers, stopped by bctx, have ended

	a.Close()
	a.Close() // idempotent
	if err := a.Start(ctx); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}
