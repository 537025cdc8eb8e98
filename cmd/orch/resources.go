package main

import (
	"context"
	"strings"

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

type typed[T any, P registry.ObjectPtr[T]] struct{ s *registry.Store[T, P] }

var _ resourceClient = typed[api.Pod, *api.Pod]{}

func (t typed[T, P]) resource() api.Resource { return t.s.Resource() }

func (t typed[T, P]) get(ctx context.Context, ns, name string) (api.Object, error) {
	return t.s.Get(ctx, ns, name)
}

func (t typed[T, P]) list(ctx context.Context, ns string, sel labels.Selector) ([]api.Object, error) {
	l, err := t.s.List(ctx, registry.ListOptions{Namespace: ns, Selector: sel})
	if err != nil {
		return nil, err
	}
	out := make([]api.Object, len(l.Items))
	for i, o := range l.Items {
		out[i] = o
	}
	return out, nil
}

func (t typed[T, P]) create(ctx context.Context, obj api.Object) (api.Object, error) {
	return t.s.Create(ctx, obj.(P))
}

func (t typed[T, P]) update(ctx context.Context, obj api.Object) (api.Object, error) {
	return t.s.Update(ctx, obj.(P))
}

func (t typed[T, P]) delete(ctx context.Context, ns, name string, opts registry.DeleteOptions) (api.Object, error) {
	return t.s.Delete(ctx, ns, name, opts)
}

func (t typed[T, P]) key(ns, name string) string { return t.s.Key(ns, name) }

// clients returns a resourceClient for every resource, by resource name.
func clients(cli *clientv3.Client) map[string]resourceClient {
	st := registry.NewStores(cli, registry.Config{})
	out := map[string]resourceClient{}
	for _, rc := range []resourceClient{
		typed[api.Namespace, *api.Namespace]{st.Namespaces}, typed[api.Node, *api.Node]{st.Nodes},
		typed[api.Pod, *api.Pod]{st.Pods}, typed[api.Service, *api.Service]{st.Services},
		typed[api.Endpoints, *api.Endpoints]{st.Endpoints}, typed[api.Event, *api.Event]{st.Events},
		typed[api.ReplicaSet, *api.ReplicaSet]{st.ReplicaSets}, typed[api.Deployment, *api.Deployment]{st.Deployments},
		typed[api.Lease, *api.Lease]{st.Leases},
		typed[api.Job, *api.Job]{st.Jobs}, typed[api.CronJob, *api.CronJob]{st.CronJobs},
		typed[api.DaemonSet, *api.DaemonSet]{st.DaemonSets}, typed[api.StatefulSet, *api.StatefulSet]{st.StatefulSets},
	} {
		out[rc.resource().Name] = rc
	}
	for _, rc := range autoscalingClients(cli) {
		out[rc.resource().Name] = rc
	}
	for _, rc := range append(append(ingressClients(cli), storageClients(cli)...), rbacClients(cli)...) {
		out[rc.resource().Name] = rc
	}
	for _, rc := range policyClients(cli) {
		out[rc.resource().Name] = rc
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
