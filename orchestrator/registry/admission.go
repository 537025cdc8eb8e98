package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
)

// LimitRanger and ResourceQuota admission at create (docs/ORCHESTRATOR.md "LimitRange and
// ResourceQuota"). Both run in the registry, so every writer (orch ctl, the controllers,
// the API server) goes through them. The LimitRanges of the namespace default and bound a
// new pod or claim before its create transaction; the ResourceQuotas of the namespace are
// read in each attempt of that transaction, and those the object counts against are
// rewritten in it with their new status.used, guarded by their mod_revision: two creates
// that read the same usage cannot both commit, so a quota is never exceeded, whatever the
// number of writers. The loser re-reads and is checked again. Usage is released by the
// quota controller (orchestrator/controller/resourcequota), which recomputes status.used.

// ErrForbidden is matched (errors.Is) by a ForbiddenError: an admission refusal,
// Kubernetes' 403 Forbidden.
var ErrForbidden = errors.New("registry: forbidden")

// ForbiddenError is an admission refusal of a write; its text is the apiserver's:
// `pods "web" is forbidden: exceeded quota: ...`.
type ForbiddenError struct {
	// Resource is the plural resource name ("pods"), Name the object's name.
	Resource, Name string
	// Reason is the admission plugin's message.
	Reason error
}

// Error renders the apiserver's text.
func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("%s %q is forbidden: %v", e.Resource, e.Name, e.Reason)
}

// Is makes errors.Is(e, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Unwrap returns the reason.
func (e *ForbiddenError) Unwrap() error { return e.Reason }

// siblingPrefix is the key prefix of resource's objects in ns, beside s's.
func (s *Store[T, P]) siblingPrefix(resource, ns string) string {
	return strings.TrimSuffix(s.prefix, s.res.Name+"/") + resource + "/" + ns + "/"
}

func (s *Store[T, P]) forbidden(obj P, reason error) error {
	return &ForbiddenError{Resource: s.res.Name, Name: obj.Meta().Name, Reason: reason}
}

// admitLimits applies the LimitRanges of obj's namespace to a new pod (defaults, then
// min/max/ratio; its QoS class follows the defaults) or claim (storage min/max). It reads
// them serializably unless linearizable is set. emptyAt is the revision of its read when the
// namespace has no LimitRange (admitcache.go), 0 when it has some or obj is not subject to them.
func (s *Store[T, P]) admitLimits(ctx context.Context, obj P, linearizable bool) (emptyAt int64, err error) {
	if !s.limited {
		return 0, nil
	}
	kvs, rev, err := s.readSiblings(ctx, api.LimitRangeResource.Name, obj.Meta().Namespace, !linearizable)
	if err != nil {
		return 0, err
	}
	if len(kvs) == 0 {
		return rev, nil
	}
	lrs := make([]*api.LimitRange, 0, len(kvs))
	for _, kv := range kvs {
		lr := new(api.LimitRange)
		if err := json.Unmarshal(kv.Value, lr); err != nil {
			return 0, fmt.Errorf("registry: decode %s: %w", kv.Key, err)
		}
		lrs = append(lrs, lr)
	}
	switch o := any(obj).(type) {
	case *api.PersistentVolumeClaim:
		if err := api.AdmitClaimLimits(lrs, o); err != nil {
			return 0, s.forbidden(obj, err)
		}
	case *api.Pod:
		if err := api.AdmitPodLimits(lrs, o); err != nil {
			return 0, s.forbidden(obj, err)
		}
		o.Status.QOSClass = api.PodQOSClass(&o.Spec)
	}
	return 0, nil
}

// subjectToLimits reports whether creates of res are admitted by LimitRanges.
func subjectToLimits(res api.Resource) bool {
	return res.Kind == "Pod" || res.Kind == "PersistentVolumeClaim"
}

// readSiblings reads resource's objects in ns. A serializable read answers from the member's
// own state without a leadership round: admission reads them on every create, and
// Kubernetes' admission plugins read them from a cache, as stale as a member's state.
// rev is the header revision of the read.
func (s *Store[T, P]) readSiblings(ctx context.Context, resource, ns string, serializable bool) (kvs []*mvccpb.KeyValue, rev int64, err error) {
	prefix := s.siblingPrefix(resource, ns)
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := s.cli.Get(ctx, prefix, opts...)
	if err != nil {
		return nil, 0, fmt.Errorf("registry: read %s: %w", prefix, err)
	}
	return resp.Kvs, resp.Header.Revision, nil
}

// admitQuota checks obj's create against every ResourceQuota of its namespace and returns
// the compares and puts that charge it to them in the create transaction. The first attempt
// reads the quotas serializably: a stale quota fails the transaction's compare on its
// mod_revision, and the attempts after it read them linearizably. emptyAt is the revision of
// its read when the namespace has no ResourceQuota (admitcache.go), else 0.
func (s *Store[T, P]) admitQuota(ctx context.Context, obj P, attempt int) (cmps []clientv3.Cmp, ops []clientv3.Op, emptyAt int64, err error) {
	if !s.res.Namespaced {
		return nil, nil, 0, nil
	}
	kvs, rev, err := s.readSiblings(ctx, api.ResourceQuotaResource.Name, obj.Meta().Namespace, attempt == 1)
	if err != nil {
		return nil, nil, 0, err
	}
	if len(kvs) == 0 {
		return nil, nil, rev, nil
	}
	for _, kv := range kvs {
		q := new(api.ResourceQuota)
		if err := json.Unmarshal(kv.Value, q); err != nil {
			return nil, nil, 0, fmt.Errorf("registry: decode %s: %w", kv.Key, err)
		}
		used, err := api.AdmitQuota(q, obj, s.now())
		if err != nil {
			return nil, nil, 0, s.forbidden(obj, err)
		}
		if used == nil {
			continue
		}
		q.Status.Used = used
		b, err := json.Marshal(q)
		if err != nil {
			return nil, nil, 0, err
		}
		key := string(kv.Key)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision))
		ops = append(ops, clientv3.OpPut(key, string(b), clientv3.WithLease(clientv3.LeaseID(kv.Lease))))
	}
	return cmps, ops, 0, nil
}
