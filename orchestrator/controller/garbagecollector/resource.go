package garbagecollector

import (
	"context"
	"errors"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// ownerIndex indexes objects by the uid of each of their owners.
const ownerIndex = "owner"

// resource is one watched kind, whose objects may be dependents (and owners).
type resource interface {
	workqueue.Source
	// cached returns the cached object ns/name ("" ns when cluster-scoped).
	cached(ns, name string) (api.Object, bool)
	// dependents returns the cached objects that have an owner with uid.
	dependents(uid string) []api.Object
	// fetch reads the object from the store (registry.ErrNotFound when missing).
	fetch(ctx context.Context, ns, name string) (api.Object, error)
	// delete deletes the object if its resourceVersion is still rv.
	delete(ctx context.Context, ns, name, rv string) error
	// removeOwners removes the owner references with a uid in uids from the object with
	// the given uid; nothing happens when the object is gone or replaced.
	removeOwners(ctx context.Context, ns, name, uid string, uids map[string]bool) error
}

// watched is a resource backed by an informer and a registry Store.
type watched[T any, P registry.ObjectPtr[T]] struct {
	store *registry.Store[T, P]
	inf   *informer.Informer[T, P]
}

var _ resource = (*watched[api.Pod, *api.Pod])(nil)

func newWatched[T any, P registry.ObjectPtr[T]](cli *clientv3.Client, store *registry.Store[T, P], cfg informer.Config, h objectHandler) *watched[T, P] {
	w := &watched[T, P]{store: store, inf: informer.New(cli, store, cfg)}
	w.inf.AddIndex(ownerIndex, func(obj P) []string {
		refs := obj.Meta().OwnerReferences
		if len(refs) == 0 {
			return nil
		}
		uids := make([]string, len(refs))
		for i, r := range refs {
			uids[i] = r.UID
		}
		return uids
	})
	w.inf.AddHandler(informer.Handler[P]{
		OnAdd:    func(obj P) { h.added(obj) },
		OnUpdate: func(old, obj P) { h.updated(old, obj) },
		OnDelete: func(obj P) { h.deleted(obj) },
	})
	return w
}

// objectHandler receives the informers' events.
type objectHandler interface {
	added(obj api.Object)
	updated(old, obj api.Object)
	deleted(obj api.Object)
}

func (w *watched[T, P]) Run(ctx context.Context) error         { return w.inf.Run(ctx) }
func (w *watched[T, P]) WaitForSync(ctx context.Context) error { return w.inf.WaitForSync(ctx) }

func (w *watched[T, P]) cached(ns, name string) (api.Object, bool) {
	key := name
	if ns != "" {
		key = ns + "/" + name
	}
	obj, ok := w.inf.Cache().Get(key)
	if !ok {
		return nil, false
	}
	return obj, true
}

func (w *watched[T, P]) dependents(uid string) []api.Object {
	objs := w.inf.Cache().ByIndex(ownerIndex, uid)
	out := make([]api.Object, len(objs))
	for i, o := range objs {
		out[i] = o
	}
	return out
}

func (w *watched[T, P]) fetch(ctx context.Context, ns, name string) (api.Object, error) {
	obj, err := w.store.Get(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return obj, nil
}

func (w *watched[T, P]) delete(ctx context.Context, ns, name, rv string) error {
	_, err := w.store.Delete(ctx, ns, name, registry.DeleteOptions{ResourceVersion: rv})
	return err
}

var errSkip = errors.New("garbagecollector: object replaced, skip")

func (w *watched[T, P]) removeOwners(ctx context.Context, ns, name, uid string, uids map[string]bool) error {
	_, err := w.store.GuaranteedUpdate(ctx, ns, name, func(cur P) (P, error) {
		m := cur.Meta()
		if m.UID != uid {
			return nil, errSkip
		}
		refs := m.OwnerReferences[:0]
		for _, r := range m.OwnerReferences {
			if !uids[r.UID] {
				refs = append(refs, r)
			}
		}
		m.OwnerReferences = refs
		return cur, nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	return err
}

// getter reads one kind's objects from the store; owners of kinds that are not watched
// are looked up with it.
type getter func(ctx context.Context, ns, name string) (api.Object, error)

func get[T any, P registry.ObjectPtr[T]](s *registry.Store[T, P]) getter {
	return func(ctx context.Context, ns, name string) (api.Object, error) {
		obj, err := s.Get(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		return obj, nil
	}
}
