package podautoscaler

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"
)

// scaleTarget reads and sets the scale of one kind's objects: what Kubernetes' scale
// subresource gives the autoscaler.
type scaleTarget interface {
	// scale returns spec.replicas and the pods' selector of ns/name.
	scale(ctx context.Context, ns, name string) (int32, labels.Selector, error)
	// setReplicas sets spec.replicas of ns/name.
	setReplicas(ctx context.Context, ns, name string, n int32) error
}

// target is a scaleTarget over a kind with a *int32 spec.replicas and a LabelSelector.
type target[T any, P registry.ObjectPtr[T]] struct {
	store *registry.Store[T, P]
	// fields returns the object's spec.replicas field and selector.
	fields func(P) (**int32, *api.LabelSelector)
}

func newTarget[T any, P registry.ObjectPtr[T]](cli *clientv3.Client, fields func(P) (**int32, *api.LabelSelector)) scaleTarget {
	return target[T, P]{store: registry.New[T, P](cli, registry.Config{}), fields: fields}
}

// targets are the kinds an autoscaler can scale, by kind. A kind with spec.replicas and a
// selector plugs in with one line.
func targets(cli *clientv3.Client) map[string]scaleTarget {
	return map[string]scaleTarget{
		"Deployment": newTarget(cli, func(o *api.Deployment) (**int32, *api.LabelSelector) {
			return &o.Spec.Replicas, o.Spec.Selector
		}),
		"ReplicaSet": newTarget(cli, func(o *api.ReplicaSet) (**int32, *api.LabelSelector) {
			return &o.Spec.Replicas, o.Spec.Selector
		}),
		"ReplicationController": newTarget(cli, func(o *api.ReplicationController) (**int32, *api.LabelSelector) {
			return &o.Spec.Replicas, o.Spec.LabelSelector()
		}),
		"StatefulSet": newTarget(cli, func(o *api.StatefulSet) (**int32, *api.LabelSelector) {
			return &o.Spec.Replicas, o.Spec.Selector
		}),
	}
}

func (t target[T, P]) scale(ctx context.Context, ns, name string) (int32, labels.Selector, error) {
	obj, err := t.store.Get(ctx, ns, name)
	if err != nil {
		return 0, labels.Selector{}, err
	}
	r, ls := t.fields(obj)
	n := int32(1)
	if *r != nil {
		n = **r
	}
	if ls == nil {
		return 0, labels.Selector{}, fmt.Errorf("%s %s/%s has no selector", t.store.Resource().Kind, ns, name)
	}
	sel, err := ls.Selector()
	if err != nil {
		return 0, labels.Selector{}, err
	}
	return n, sel, nil
}

func (t target[T, P]) setReplicas(ctx context.Context, ns, name string, n int32) error {
	_, err := t.store.GuaranteedUpdate(ctx, ns, name, func(cur P) (P, error) {
		r, _ := t.fields(cur)
		*r = &n
		return cur, nil
	})
	return err
}
