package registry

import (
	"context"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
)

// Generic reads and writes one resource's objects without knowing their Go type: what
// `orch ctl` and `orch apiserver` need to serve every kind through one code path, so that
// defaulting, validation and the store's admission rules are the same for both.
type Generic interface {
	Resource() api.Resource
	// New returns an empty object of the resource's kind, apiVersion and kind set.
	New() api.Object
	Get(ctx context.Context, ns, name string) (api.Object, error)
	// List returns one page of the objects matching opts and the revision it was read at.
	List(ctx context.Context, opts ListOptions) (*List[api.Object], error)
	Create(ctx context.Context, obj api.Object) (api.Object, error)
	Update(ctx context.Context, obj api.Object) (api.Object, error)
	UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error)
	Delete(ctx context.Context, ns, name string, opts DeleteOptions) (api.Object, error)
	// GuaranteedUpdate is Store.GuaranteedUpdate: fn's whole object (status too) is written.
	GuaranteedUpdate(ctx context.Context, ns, name string, fn func(cur api.Object) (api.Object, error)) (api.Object, error)
	// Decode decodes a stored value of the resource (watch events).
	Decode(kv *mvccpb.KeyValue) (api.Object, error)
	Key(ns, name string) string
	Prefix() string
	NamespacePrefix(ns string) string
}

// Generic returns s as a Generic.
func (s *Store[T, P]) Generic() Generic { return generic[T, P]{s} }

type generic[T any, P ObjectPtr[T]] struct{ *Store[T, P] }

func (g generic[T, P]) New() api.Object {
	obj := api.Object(P(new(T)))
	api.SetTypeMeta(obj)
	return obj
}

func (g generic[T, P]) Get(ctx context.Context, ns, name string) (api.Object, error) {
	return nilIfErr(g.Store.Get(ctx, ns, name))
}

func (g generic[T, P]) List(ctx context.Context, opts ListOptions) (*List[api.Object], error) {
	l, err := g.Store.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	out := &List[api.Object]{Items: make([]api.Object, len(l.Items)), Revision: l.Revision, Continue: l.Continue}
	for i, o := range l.Items {
		out.Items[i] = o
	}
	return out, nil
}

func (g generic[T, P]) Create(ctx context.Context, obj api.Object) (api.Object, error) {
	return nilIfErr(g.Store.Create(ctx, obj.(P)))
}

func (g generic[T, P]) Update(ctx context.Context, obj api.Object) (api.Object, error) {
	return nilIfErr(g.Store.Update(ctx, obj.(P)))
}

func (g generic[T, P]) UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error) {
	return nilIfErr(g.Store.UpdateStatus(ctx, obj.(P)))
}

func (g generic[T, P]) Delete(ctx context.Context, ns, name string, opts DeleteOptions) (api.Object, error) {
	return nilIfErr(g.Store.Delete(ctx, ns, name, opts))
}

func (g generic[T, P]) GuaranteedUpdate(ctx context.Context, ns, name string, fn func(cur api.Object) (api.Object, error)) (api.Object, error) {
	return nilIfErr(g.Store.GuaranteedUpdate(ctx, ns, name, func(cur P) (P, error) {
		next, err := fn(cur)
		if err != nil {
			return nil, err
		}
		return next.(P), nil
	}))
}

func (g generic[T, P]) Decode(kv *mvccpb.KeyValue) (api.Object, error) {
	return nilIfErr(g.Store.Decode(kv))
}

// nilIfErr turns a typed nil pointer that goes with an error into a nil interface.
func nilIfErr[P api.Object](obj P, err error) (api.Object, error) {
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// Generics returns a Generic for every resource of api.Resources, by resource name.
func Generics(cli *clientv3.Client, cfg Config) map[string]Generic {
	out := map[string]Generic{}
	for _, g := range []Generic{
		New[api.Namespace](cli, cfg).Generic(), New[api.Node](cli, cfg).Generic(),
		New[api.Pod](cli, cfg).Generic(), New[api.Service](cli, cfg).Generic(),
		New[api.Endpoints](cli, cfg).Generic(), New[api.Event](cli, cfg).Generic(),
		New[api.ReplicaSet](cli, cfg).Generic(), New[api.Deployment](cli, cfg).Generic(),
		New[api.Lease](cli, cfg).Generic(), New[api.Job](cli, cfg).Generic(),
		New[api.CronJob](cli, cfg).Generic(), New[api.DaemonSet](cli, cfg).Generic(),
		New[api.StatefulSet](cli, cfg).Generic(), New[api.ReplicationController](cli, cfg).Generic(),
		New[api.HorizontalPodAutoscaler](cli, cfg).Generic(), New[api.PodMetrics](cli, cfg).Generic(),
		New[api.NodeMetrics](cli, cfg).Generic(), New[api.ConfigMap](cli, cfg).Generic(),
		New[api.Secret](cli, cfg).Generic(), New[api.Ingress](cli, cfg).Generic(),
		New[api.IngressClass](cli, cfg).Generic(), New[api.PersistentVolume](cli, cfg).Generic(),
		New[api.PersistentVolumeClaim](cli, cfg).Generic(), New[api.StorageClass](cli, cfg).Generic(),
		New[api.Role](cli, cfg).Generic(), New[api.ClusterRole](cli, cfg).Generic(),
		New[api.RoleBinding](cli, cfg).Generic(), New[api.ClusterRoleBinding](cli, cfg).Generic(),
		New[api.LimitRange](cli, cfg).Generic(), New[api.ResourceQuota](cli, cfg).Generic(),
	} {
		out[g.Resource().Name] = g
	}
	return out
}
