package rbac

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/authz"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
)

// ErrNotSynced is returned by Authorize before the policy caches have been listed once.
var ErrNotSynced = errors.New("rbac: policy cache not synced")

// Authorizer is Kubernetes' RBAC authorizer over the store: it keeps Roles, ClusterRoles
// and both kinds of bindings in informer caches, so Authorize reads memory only. It is safe
// for concurrent use.
type Authorizer struct {
	roles        *informer.Informer[api.Role, *api.Role]
	clusterRoles *informer.Informer[api.ClusterRole, *api.ClusterRole]
	bindings     *informer.Informer[api.RoleBinding, *api.RoleBinding]
	clusterBinds *informer.Informer[api.ClusterRoleBinding, *api.ClusterRoleBinding]

	// mu guards cancel, started, closed and wg's Add.
	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

var (
	_ authz.Authorizer = (*Authorizer)(nil)
	_ Policy           = (*cachePolicy)(nil)
)

// Options tunes New; the zero value means defaults.
type Options struct {
	// Logger receives the informers' list and watch failures; default discards.
	Logger *slog.Logger
}

// New returns an Authorizer reading the RBAC objects of the store behind cli, with cfg's
// key prefix. It starts nothing: call Start, and Close when done.
func New(cli *clientv3.Client, cfg registry.Config, opts ...Options) (*Authorizer, error) {
	if cli == nil {
		return nil, errors.New("rbac: nil client")
	}
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	icfg := informer.Config{Logger: o.Logger}
	return &Authorizer{
		roles:        informer.New(cli, registry.New[api.Role](cli, cfg), icfg),
		clusterRoles: informer.New(cli, registry.New[api.ClusterRole](cli, cfg), icfg),
		bindings:     informer.New(cli, registry.New[api.RoleBinding](cli, cfg), icfg),
		clusterBinds: informer.New(cli, registry.New[api.ClusterRoleBinding](cli, cfg), icfg),
	}, nil
}

// Start runs the four informers on goroutines the Authorizer owns, until Close is called or
// ctx ends, and waits until each has listed once (or ctx ends, whose error it returns; the
// goroutines then stop on their own, and Close still waits for them). Start may be called
// once, and not after Close.
func (a *Authorizer) Start(ctx context.Context) error {
	a.mu.Lock()
	if a.started || a.closed {
		a.mu.Unlock()
		return errors.New("rbac: authorizer already started or closed")
	}
	a.started = true
	runCtx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	for _, run := range []func(context.Context) error{a.roles.Run, a.clusterRoles.Run, a.bindings.Run, a.clusterBinds.Run} {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			_ = run(runCtx) // Run returns nil when runCtx ends, its only way to end
		}()
	}
	a.mu.Unlock()
	return a.WaitForSync(ctx)
}

// WaitForSync blocks until every cache has listed once or ctx ends.
func (a *Authorizer) WaitForSync(ctx context.Context) error {
	for _, wait := range []func(context.Context) error{a.roles.WaitForSync, a.clusterRoles.WaitForSync, a.bindings.WaitForSync, a.clusterBinds.WaitForSync} {
		if err := wait(ctx); err != nil {
			return fmt.Errorf("rbac: waiting for the policy caches: %w", err)
		}
	}
	return nil
}

// HasSynced reports whether every cache has listed once.
func (a *Authorizer) HasSynced() bool {
	return a.roles.HasSynced() && a.clusterRoles.HasSynced() && a.bindings.HasSynced() && a.clusterBinds.HasSynced()
}

// Close stops the informers and waits for their goroutines. It is idempotent and safe to
// call without Start.
func (a *Authorizer) Close() {
	a.mu.Lock()
	a.closed = true
	if a.cancel != nil {
		a.cancel()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

// Authorize implements authz.Authorizer. Members of system:masters are always allowed (as
// Kubernetes' privileged-group authorizer, ahead of RBAC). Otherwise the request is
// allowed when a binding grants it, with reason `RBAC: allowed by ...`; if not, the
// decision is DecisionNoOpinion (RBAC never denies outright) and the reason is Kubernetes'
// Forbidden text, ForbiddenReason, followed by the RBAC errors met (a binding to a missing
// role). Before the caches have synced it returns DecisionNoOpinion and ErrNotSynced.
func (a *Authorizer) Authorize(_ context.Context, attrs authz.Attributes) (authz.Decision, string, error) {
	if slices.Contains(attrs.User.Groups, authz.SystemPrivilegedGrp) {
		return authz.DecisionAllow, "", nil
	}
	if !a.HasSynced() {
		return authz.DecisionNoOpinion, ForbiddenReason(attrs), ErrNotSynced
	}
	r := Evaluate(a.Policy(), attrs)
	if r.Allowed {
		return authz.DecisionAllow, "RBAC: allowed by " + r.By, nil
	}
	return authz.DecisionNoOpinion, denialReason(attrs, r.Errors), nil
}

// Policy returns the cached policy (for Evaluate); it reads the caches live.
func (a *Authorizer) Policy() Policy { return (*cachePolicy)(a) }

// cachePolicy is the Policy of an Authorizer's caches.
type cachePolicy Authorizer

func (c *cachePolicy) ClusterRoleBindings() []*api.ClusterRoleBinding {
	return c.clusterBinds.Cache().List()
}

func (c *cachePolicy) RoleBindings(ns string) []*api.RoleBinding {
	return c.bindings.Cache().ByIndex(informer.NamespaceIndex, ns)
}

func (c *cachePolicy) Role(ns, name string) (*api.Role, bool) {
	return c.roles.Cache().Get(ns + "/" + name)
}

func (c *cachePolicy) ClusterRole(name string) (*api.ClusterRole, bool) {
	return c.clusterRoles.Cache().Get(name)
}

func (c *cachePolicy) ClusterRoles() []*api.ClusterRole { return c.clusterRoles.Cache().List() }
