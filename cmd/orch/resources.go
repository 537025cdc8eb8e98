package main

import (
	"context"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"
)

// resourceClient reads and writes one resource's objects without knowing their Go type.
type resourceClient interface {
	resource() api.Resource
	get(ctx context.Context, ns, name string) (api.Object, error)
	list(ctx context.Context, ns string, sel labels.Selector) ([]api.Object, error)
	create(ctx context.Context, obj api.Object) (api.Object, error)
	update(ctx context.Context, obj api.Object) (api.Object, error)
	delete(ctx context.Context, ns, name string, opts registry.DeleteOptions) (api.Object, error)
	key(ns, name string) string
}

// typed is ctl's resourceClient over the registry's Generic store, the one `orch apiserver`
// serves every kind through too.
type typed struct{ g registry.Generic }

var (
	_ resourceClient = typed{}
	_ watchSource    = typed{}
)

func (t typed) resource() api.Resource { return t.g.Resource() }

func (t typed) get(ctx context.Context, ns, name string) (api.Object, error) {
	return t.g.Get(ctx, ns, name)
}

func (t typed) list(ctx context.Context, ns string, sel labels.Selector) ([]api.Object, error) {
	objs, _, err := t.listAt(ctx, ns, sel)
	return objs, err
}

// listAt is list with the revision the list was read at (get -w watches from it).
func (t typed) listAt(ctx context.Context, ns string, sel labels.Selector) ([]api.Object, int64, error) {
	l, err := t.g.List(ctx, registry.ListOptions{Namespace: ns, Selector: sel})
	if err != nil {
		return nil, 0, err
	}
	return l.Items, l.Revision, nil
}

func (t typed) create(ctx context.Context, obj api.Object) (api.Object, error) {
	return t.g.Create(ctx, obj)
}

func (t typed) update(ctx context.Context, obj api.Object) (api.Object, error) {
	return t.g.Update(ctx, obj)
}

func (t typed) delete(ctx context.Context, ns, name string, opts registry.DeleteOptions) (api.Object, error) {
	return t.g.Delete(ctx, ns, name, opts)
}

func (t typed) key(ns, name string) string { return t.g.Key(ns, name) }

func (t typed) watchPrefix(ns string) string { return t.g.NamespacePrefix(ns) }

func (t typed) decode(kv *mvccpb.KeyValue) (api.Object, error) { return t.g.Decode(kv) }

// clients returns a resourceClient for every resource, by resource name.
func clients(cli *clientv3.Client) map[string]resourceClient {
	out := map[string]resourceClient{}
	for name, g := range registry.Generics(cli, registry.Config{}) {
		out[name] = typed{g}
	}
	return out
}

// qualifiedKind is kubectl's "kind.group" form of a resource ("deployment.apps", "pod").
func qualifiedKind(r api.Resource) string {
	k := strings.ToLower(r.Kind)
	if group, _, ok := strings.Cut(r.APIVersion, "/"); ok {
		return k + "." + group
	}
	return k
}
