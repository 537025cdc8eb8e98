package apiserver

import (
	"context"
	"errors"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// The registry has no finalizers yet, so the garbage collector only does Background
// propagation (dependents go after their owner). The other policies are done here, before
// the owner's delete: Orphan removes the owner's references from its dependents; Foreground
// deletes the direct dependents first (the collector then takes theirs) — the owner goes
// once they are asked to, not once they are gone, as Kubernetes' foregroundDeletion
// finalizer would wait.

// dependent is an object with an ownerReference to some owner.
type dependent struct {
	g   registry.Generic
	obj api.Object
}

// dependents returns the objects that name uid in their ownerReferences: in ns for a
// namespaced owner, everywhere for a cluster-scoped one.
func (s *Server) dependents(ctx context.Context, ns, uid string) ([]dependent, error) {
	var out []dependent
	for _, g := range s.gens {
		if ns != "" && !g.Resource().Namespaced {
			continue
		}
		l, err := g.List(ctx, registry.ListOptions{Namespace: ns})
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			if slices.ContainsFunc(o.Meta().OwnerReferences, func(r api.OwnerReference) bool { return r.UID == uid }) {
				out = append(out, dependent{g, o})
			}
		}
	}
	return out, nil
}

// propagate applies an Orphan or Foreground policy to the dependents of ns/name.
func (h *handler) propagate(ctx context.Context, ns, name string, o metav1.DeleteOptions) error {
	policy := metav1.DeletePropagationBackground
	//lint:ignore SA1019 the deprecated field is still honored by Kubernetes' apiserver
	orphan := o.OrphanDependents
	if o.PropagationPolicy != nil {
		policy = *o.PropagationPolicy
	} else if orphan != nil && *orphan {
		policy = metav1.DeletePropagationOrphan
	}
	if policy == metav1.DeletePropagationBackground {
		return nil
	}
	owner, err := h.g.Get(ctx, ns, name)
	if err != nil {
		return err
	}
	depNS := ns
	if !h.res.Namespaced {
		depNS = ""
	}
	deps, err := h.s.dependents(ctx, depNS, owner.Meta().UID)
	if err != nil {
		return err
	}
	uid := owner.Meta().UID
	for _, d := range deps {
		m := d.obj.Meta()
		if policy == metav1.DeletePropagationOrphan {
			_, err = d.g.GuaranteedUpdate(ctx, m.Namespace, m.Name, func(cur api.Object) (api.Object, error) {
				cm := cur.Meta()
				cm.OwnerReferences = slices.DeleteFunc(cm.OwnerReferences, func(r api.OwnerReference) bool { return r.UID == uid })
				return cur, nil
			})
		} else {
			_, err = d.g.Delete(ctx, m.Namespace, m.Name, registry.DeleteOptions{UID: m.UID})
		}
		if err != nil && !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrConflict) {
			return err
		}
	}
	return nil
}
