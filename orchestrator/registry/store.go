package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/labels"
)

// Sentinel errors; test them with errors.Is.
var (
	ErrNotFound      = errors.New("registry: not found")
	ErrAlreadyExists = errors.New("registry: already exists")
	// ErrConflict is returned when the object changed since the resourceVersion given.
	ErrConflict = errors.New("registry: conflict: the object has been modified")
	// ErrExpired is returned when a list or continue token names a compacted revision
	// (Kubernetes' 410 Gone).
	ErrExpired = errors.New("registry: resource version expired")
)

// DefaultPrefix is the key prefix of every object.
const DefaultPrefix = "/registry"

// Config configures a Store. The zero value is usable.
type Config struct {
	// Prefix is the key prefix; default DefaultPrefix.
	Prefix string
	// Now returns the current time (creationTimestamp); default time.Now.
	Now func() time.Time
	// Transformers transform the stored values of the resources they name ("secrets"):
	// encryption at rest (ParseEncryptionConfig). A resource without one is stored as
	// plain JSON (Kubernetes' identity provider).
	Transformers map[string]Transformer
	// ServiceClusterIPRange and ServiceNodePortRange are the ranges Services are allocated
	// from when the store holds none yet (services.go); defaults
	// DefaultServiceClusterIPRange and DefaultServiceNodePortRange.
	ServiceClusterIPRange, ServiceNodePortRange string
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ServiceClusterIPRange == "" {
		c.ServiceClusterIPRange = DefaultServiceClusterIPRange
	}
	if c.ServiceNodePortRange == "" {
		c.ServiceNodePortRange = DefaultServiceNodePortRange
	}
}

// ObjectPtr constrains P to be *T and an api.Object.
type ObjectPtr[T any] interface {
	*T
	api.Object
}

// Store reads and writes one resource's objects in the store. It is safe for concurrent
// use; besides its configuration it keeps only a cache of the namespaces known to have no
// LimitRange and no ResourceQuota, which saves reads, never a check (admitcache.go).
type Store[T any, P ObjectPtr[T]] struct {
	cli    *clientv3.Client
	res    api.Resource
	prefix string // "/registry/pods/"
	now    func() time.Time
	tr     Transformer       // nil = identity
	alloc  *serviceAllocator // Services only: their cluster IPs and node ports
	// limited: creates are admitted by LimitRanges (pods and claims).
	limited bool
	// empty: namespaces without LimitRange and ResourceQuota; nil when cluster-scoped.
	empty *emptyPolicies
}

// New returns a Store for T's resource.
func New[T any, P ObjectPtr[T]](cli *clientv3.Client, cfg Config) *Store[T, P] {
	cfg.setDefaults()
	res := api.ResourceOf(P(new(T)))
	s := &Store[T, P]{cli: cli, res: res, prefix: cfg.Prefix + "/" + res.Name + "/", now: cfg.Now, tr: cfg.Transformers[res.Name],
		limited: subjectToLimits(res)}
	if res.Namespaced {
		s.empty = newEmptyPolicies()
	}
	if res.Kind == "Service" {
		s.alloc = newServiceAllocator(cli, cfg)
	}
	return s
}

// Resource returns the store's resource.
func (s *Store[T, P]) Resource() api.Resource { return s.res }

// Prefix returns the key prefix of all the resource's objects ("/registry/pods/").
func (s *Store[T, P]) Prefix() string { return s.prefix }

// Transforms reports whether the store transforms values (encryption at rest), so that
// two stores of the resource may decode the same stored bytes differently.
func (s *Store[T, P]) Transforms() bool { return s.tr != nil }

// NamespacePrefix returns the key prefix of a namespace's objects, or Prefix when ns is ""
// or the resource is cluster-scoped.
func (s *Store[T, P]) NamespacePrefix(ns string) string {
	if ns == "" || !s.res.Namespaced {
		return s.prefix
	}
	return s.prefix + ns + "/"
}

// Key returns the key of the object named ns/name (ns ignored when cluster-scoped).
func (s *Store[T, P]) Key(ns, name string) string {
	if !s.res.Namespaced {
		return s.prefix + name
	}
	return s.prefix + ns + "/" + name
}

func (s *Store[T, P]) keyOf(obj P) string { return s.Key(obj.Meta().Namespace, obj.Meta().Name) }

// Decode decodes a stored value and sets resourceVersion to the key's mod_revision.
func (s *Store[T, P]) Decode(kv *mvccpb.KeyValue) (P, error) {
	obj := P(new(T))
	value := kv.Value
	if s.tr != nil {
		var err error
		if value, err = s.tr.TransformFromStorage(kv.Value, string(kv.Key)); err != nil {
			return nil, err
		}
	} else if bytes.HasPrefix(value, encPrefix) {
		return nil, encryptedError(kv)
	}
	if err := json.Unmarshal(value, obj); err != nil {
		return nil, fmt.Errorf("registry: decode %s: %w", kv.Key, err)
	}
	obj.Meta().ResourceVersion = strconv.FormatInt(kv.ModRevision, 10)
	return obj, nil
}

// encode marshals obj without its resourceVersion (which is the key's mod_revision).
func encode[P api.Object](obj P) ([]byte, error) {
	rv := obj.Meta().ResourceVersion
	obj.Meta().ResourceVersion = ""
	b, err := json.Marshal(obj)
	obj.Meta().ResourceVersion = rv
	return b, err
}

// toStorage transforms an encoded value for key (encryption at rest, when configured).
func (s *Store[T, P]) toStorage(b []byte, key string) ([]byte, error) {
	if s.tr == nil {
		return b, nil
	}
	return s.tr.TransformToStorage(b, key)
}

func (s *Store[T, P]) notFound(ns, name string) error {
	return fmt.Errorf("%w: %s %q", ErrNotFound, s.res.Name, qualified(ns, name))
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// prepareCreate defaults, validates and stamps a new object.
func (s *Store[T, P]) prepareCreate(obj P) error {
	m := obj.Meta()
	if m.ResourceVersion != "" {
		return api.ErrorList{{Field: "metadata.resourceVersion", Type: api.ErrorForbidden, Detail: "must not be set on create"}}
	}
	if m.Name == "" && m.GenerateName != "" {
		m.Name = m.GenerateName + randomSuffix()
	}
	api.Default(obj)
	if errs := api.Validate(obj); len(errs) > 0 {
		return fmt.Errorf("%s %q: %w", s.res.Kind, m.Name, errs)
	}
	m.UID = newUID()
	m.CreationTimestamp = api.NewTime(s.now())
	m.DeletionTimestamp = nil
	m.Generation = 1
	return nil
}

// Create stores a new object and returns it as stored (uid, creationTimestamp, generation
// and resourceVersion set). It fails with ErrAlreadyExists when the key exists, and with an
// error matching api.ErrInvalid when the object does not validate. obj is not modified.
func (s *Store[T, P]) Create(ctx context.Context, obj P) (P, error) {
	return s.CreateWithLease(ctx, obj, clientv3.NoLease)
}

// CreateWithLease is Create with the object's key attached to the store lease id, so that
// the object is deleted when the lease expires or is revoked (Kubernetes' Event TTL). The
// lease must exist (else the store's lease-not-found error is returned); clientv3.NoLease
// means no lease, as Create.
func (s *Store[T, P]) CreateWithLease(ctx context.Context, obj P, id clientv3.LeaseID) (P, error) {
	prepared := api.DeepCopy(obj)
	if err := s.prepareCreate(prepared); err != nil {
		return nil, err
	}
	if err := s.defaultStorageClass(ctx, prepared); err != nil {
		return nil, err
	}
	key, ns := s.keyOf(prepared), prepared.Meta().Namespace
	// limited: the LimitRanges were applied to prepared. limitsEmptyAt: the revision they
	// were read empty at (admitcache.go).
	limited, limitsEmptyAt := false, int64(0)
	for attempt := 1; ; attempt++ {
		// In a namespace known to have no LimitRange and no ResourceQuota, both reads are
		// replaced by guards in the transaction (admitcache.go).
		emptyAt, cached := int64(0), false
		var elseProbes []clientv3.Op // with the guards: reads telling a failed guard from an existing key
		if s.empty != nil {
			emptyAt, cached = s.empty.get(ns)
		}
		if !cached && !limited {
			rev, err := s.admitLimits(ctx, prepared, attempt > 1)
			if err != nil {
				return nil, err
			}
			limited, limitsEmptyAt = true, rev
		}
		// Only a Service's attempt writes into the object (its allocations): it starts from
		// a pristine copy, so that a retry picks afresh. Quota charges only read it.
		obj := prepared
		if s.alloc != nil {
			obj = api.DeepCopy(prepared)
		}
		cmps, ops, err := s.allocate(ctx, obj)
		if err != nil {
			return nil, err
		}
		if cached {
			guards, probes := s.emptyGuards(ns, emptyAt)
			cmps, elseProbes = append(cmps, guards...), probes
		} else {
			// The quotas are charged in the same transaction (admission.go).
			qcmps, qops, quotasEmptyAt, err := s.admitQuota(ctx, obj, attempt)
			if err != nil {
				return nil, err
			}
			cmps, ops = append(cmps, qcmps...), append(ops, qops...)
			if quotasEmptyAt > 0 && (limitsEmptyAt > 0 || !s.limited) {
				rev := quotasEmptyAt
				if s.limited {
					rev = min(rev, limitsEmptyAt)
				}
				s.empty.put(ns, rev)
			}
		}
		b, err := encode(obj)
		if err != nil {
			return nil, err
		}
		if b, err = s.toStorage(b, key); err != nil {
			return nil, err
		}
		cmps = append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", 0)}, cmps...)
		ops = append([]clientv3.Op{clientv3.OpPut(key, string(b), clientv3.WithLease(id))}, ops...)
		elseOps := []clientv3.Op{clientv3.OpGet(key, clientv3.WithCountOnly())}
		if cached {
			elseOps = append(elseOps, elseProbes...)
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(elseOps...).Commit()
		if err != nil {
			return nil, fmt.Errorf("registry: create %s: %w", key, err)
		}
		if resp.Succeeded {
			obj.Meta().ResourceVersion = strconv.FormatInt(resp.Header.Revision, 10)
			return obj, nil
		}
		if len(cmps) == 1 || resp.Responses[0].GetResponseRange().Count > 0 {
			return nil, fmt.Errorf("%w: %s %q", ErrAlreadyExists, s.res.Name, qualified(obj.Meta().Namespace, obj.Meta().Name))
		}
		if cached && guardFailed(resp) {
			// A LimitRange or ResourceQuota was created since emptyAt: admit through the reads.
			s.empty.drop(ns, emptyAt)
		}
		// Another writer claimed an address picked meanwhile, or charged a quota, or a guard
		// failed: pick and check again.
		if attempt == maxAllocAttempts {
			return nil, fmt.Errorf("registry: create %s: allocation or quota charge lost %d races", key, attempt)
		}
	}
}

// guardFailed reports whether one of a failed guarded create's probes (emptyGuards, after
// the key's count) found a key.
func guardFailed(resp *clientv3.TxnResponse) bool {
	for _, r := range resp.Responses[1:] {
		if r.GetResponseRange().Count > 0 {
			return true
		}
	}
	return false
}

// allocate claims a new Service's cluster IP and node ports (setting them in obj) and
// returns the compares and puts that go with its create; nothing for other kinds.
func (s *Store[T, P]) allocate(ctx context.Context, obj P) ([]clientv3.Cmp, []clientv3.Op, error) {
	svc, ok := any(obj).(*api.Service)
	if s.alloc == nil || !ok {
		return nil, nil, nil
	}
	cmps, ops, err := s.alloc.allocate(ctx, svc)
	var errs api.ErrorList
	if errors.As(err, &errs) {
		// A Service that exists holds what it asked for: report that it exists.
		key := s.keyOf(obj)
		if resp, gerr := s.cli.Get(ctx, key, clientv3.WithCountOnly()); gerr == nil && resp.Count > 0 {
			return nil, nil, fmt.Errorf("%w: %s %q", ErrAlreadyExists, s.res.Name, qualified(svc.Namespace, svc.Name))
		}
		return nil, nil, fmt.Errorf("%s %q: %w", s.res.Kind, svc.Name, err)
	}
	return cmps, ops, err
}

// release returns the deletes of a Service's allocations, for its delete transaction.
func (s *Store[T, P]) release(obj P) []clientv3.Op {
	if svc, ok := any(obj).(*api.Service); ok && s.alloc != nil {
		return s.alloc.release(svc)
	}
	return nil
}

// Get returns the object ns/name (ns ignored when cluster-scoped), or ErrNotFound.
func (s *Store[T, P]) Get(ctx context.Context, ns, name string) (P, error) {
	resp, err := s.cli.Get(ctx, s.Key(ns, name))
	if err != nil {
		return nil, fmt.Errorf("registry: get %s: %w", s.Key(ns, name), err)
	}
	if len(resp.Kvs) == 0 {
		return nil, s.notFound(ns, name)
	}
	return s.Decode(resp.Kvs[0])
}

// ListOptions selects and pages a List.
type ListOptions struct {
	// Namespace restricts the list to one namespace ("" = all).
	Namespace string
	// Selector filters by labels; the zero value selects everything.
	Selector labels.Selector
	// Limit caps the number of items returned (0 = no cap); when more remain, the result's
	// Continue token fetches the next page at the same revision.
	Limit int64
	// Continue is a token from a previous page; Namespace and Selector must be the same.
	Continue string
	// Revision reads at that store revision (0 = the latest). Ignored with Continue.
	Revision int64
}

// List is one page of a list.
type List[P any] struct {
	Items []P
	// Revision is the store revision the whole list was read at.
	Revision int64
	// Continue is non-empty when more items remain.
	Continue string
}

type continueToken struct {
	Rev   int64  `json:"rev"`
	Start string `json:"start"`
}

// List returns the objects matching opts, all read at one revision. It fails with
// ErrExpired when that revision has been compacted.
func (s *Store[T, P]) List(ctx context.Context, opts ListOptions) (*List[P], error) {
	prefix := s.NamespacePrefix(opts.Namespace)
	start, rev := prefix, opts.Revision
	if opts.Continue != "" {
		raw, err := base64.RawURLEncoding.DecodeString(opts.Continue)
		var tok continueToken
		if err == nil {
			err = json.Unmarshal(raw, &tok)
		}
		if err != nil || len(tok.Start) < len(prefix) || tok.Start[:len(prefix)] != prefix {
			return nil, fmt.Errorf("%w: invalid continue token", api.ErrInvalid)
		}
		start, rev = tok.Start, tok.Rev
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	out := &List[P]{Revision: rev}
	for {
		ops := []clientv3.OpOption{clientv3.WithRange(end)}
		if out.Revision != 0 {
			ops = append(ops, clientv3.WithRev(out.Revision))
		}
		if opts.Limit > 0 {
			ops = append(ops, clientv3.WithLimit(opts.Limit-int64(len(out.Items))))
		}
		resp, err := s.cli.Get(ctx, start, ops...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil, fmt.Errorf("%w: revision %d: %w", ErrExpired, out.Revision, err)
			}
			return nil, fmt.Errorf("registry: list %s: %w", prefix, err)
		}
		if out.Revision == 0 {
			out.Revision = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			obj, err := s.Decode(kv)
			if err != nil {
				return nil, err
			}
			if opts.Selector.Matches(obj.Meta().Labels) {
				out.Items = append(out.Items, obj)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		if opts.Limit > 0 && int64(len(out.Items)) >= opts.Limit {
			b, _ := json.Marshal(continueToken{Rev: out.Revision, Start: start})
			out.Continue = base64.RawURLEncoding.EncodeToString(b)
			return out, nil
		}
	}
}

// stored is an object as read with its key's mod_revision and lease.
type stored[P any] struct {
	obj    P
	modRev int64
	lease  clientv3.LeaseID
}

// current reads the object at key with its mod_revision and lease.
func (s *Store[T, P]) current(ctx context.Context, ns, name string) (stored[P], error) {
	resp, err := s.cli.Get(ctx, s.Key(ns, name))
	if err != nil {
		return stored[P]{}, fmt.Errorf("registry: get %s: %w", s.Key(ns, name), err)
	}
	if len(resp.Kvs) == 0 {
		return stored[P]{}, s.notFound(ns, name)
	}
	obj, err := s.Decode(resp.Kvs[0])
	if err != nil {
		return stored[P]{}, err
	}
	return stored[P]{obj: obj, modRev: resp.Kvs[0].ModRevision, lease: clientv3.LeaseID(resp.Kvs[0].Lease)}, nil
}

func parseRV(rv string) (int64, error) {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n <= 0 {
		return 0, api.ErrorList{{Field: "metadata.resourceVersion", Type: api.ErrorInvalid, Value: rv, Detail: "must be a positive integer"}}
	}
	return n, nil
}

// Update replaces the object's spec and metadata (labels, annotations, ownerReferences,
// finalizers, deletionTimestamp) if its resourceVersion is still the stored one, else it
// fails with ErrConflict. Status, uid and creationTimestamp keep their stored values;
// generation is bumped when the spec changed; the key keeps its store lease, if any. A
// missing object gives ErrNotFound.
func (s *Store[T, P]) Update(ctx context.Context, obj P) (P, error) {
	rv, err := parseRV(obj.Meta().ResourceVersion)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, obj, rv, false)
}

// UpdateStatus replaces only the object's status, keeping the stored spec and metadata.
// With a resourceVersion set it fails with ErrConflict when the object changed; without
// one it retries internally until the write applies.
func (s *Store[T, P]) UpdateStatus(ctx context.Context, obj P) (P, error) {
	if obj.Meta().ResourceVersion == "" {
		status := obj
		return s.GuaranteedUpdate(ctx, obj.Meta().Namespace, obj.Meta().Name, func(cur P) (P, error) {
			return mergeStatus(cur, status)
		})
	}
	rv, err := parseRV(obj.Meta().ResourceVersion)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, obj, rv, true)
}

func (s *Store[T, P]) update(ctx context.Context, obj P, rv int64, statusOnly bool) (P, error) {
	m := obj.Meta()
	st, err := s.current(ctx, m.Namespace, m.Name)
	if err != nil {
		return nil, err
	}
	cur, modRev := st.obj, st.modRev
	if modRev != rv {
		return nil, s.conflict(m.Namespace, m.Name)
	}
	var next P
	if statusOnly {
		next, err = mergeStatus(cur, obj)
	} else {
		next, err = mergeSpec(cur, obj)
	}
	if err != nil {
		return nil, err
	}
	keepDeletion(cur, next)
	out, ok, err := s.write(ctx, cur, next, modRev, st.lease)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.conflict(m.Namespace, m.Name)
	}
	return out, nil
}

func (s *Store[T, P]) conflict(ns, name string) error {
	return fmt.Errorf("%w: %s %q", ErrConflict, s.res.Name, qualified(ns, name))
}

// write validates next, keeps cur's identity, bumps generation on a spec change, and puts it
// with lease attached if the key's mod_revision is still modRev. ok is false on a failed
// compare. An unchanged object is not written and cur is returned (its lease unchanged).
func (s *Store[T, P]) write(ctx context.Context, cur, next P, modRev int64, lease clientv3.LeaseID) (P, bool, error) {
	nm, cm := next.Meta(), cur.Meta()
	nm.Name, nm.Namespace, nm.UID, nm.CreationTimestamp = cm.Name, cm.Namespace, cm.UID, cm.CreationTimestamp
	nm.GenerateName = cm.GenerateName
	nm.Generation = cm.Generation
	if nm.ManagedFields == nil {
		nm.ManagedFields = cm.ManagedFields // writers that do not know it keep it
	}
	api.Default(next)
	if svc, ok := any(next).(*api.Service); ok && s.alloc != nil {
		if err := keepAllocated(any(cur).(*api.Service), svc); err != nil {
			return nil, false, fmt.Errorf("%s %q: %w", s.res.Kind, nm.Name, err)
		}
	}
	if errs := append(api.Validate(next), api.ValidateUpdate(cur, next)...); len(errs) > 0 {
		return nil, false, fmt.Errorf("%s %q: %w", s.res.Kind, nm.Name, errs)
	}
	changed, err := specChanged(cur, next)
	if err != nil {
		return nil, false, err
	}
	if changed {
		nm.Generation++
	}
	b, err := encode(next)
	if err != nil {
		return nil, false, err
	}
	if old, _ := encode(cur); bytes.Equal(old, b) {
		return cur, true, nil
	}
	key := s.keyOf(next)
	if b, err = s.toStorage(b, key); err != nil {
		return nil, false, err
	}
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithLease(lease))).Commit()
	if err != nil {
		return nil, false, fmt.Errorf("registry: update %s: %w", key, err)
	}
	if !resp.Succeeded {
		return nil, false, nil
	}
	nm.ResourceVersion = strconv.FormatInt(resp.Header.Revision, 10)
	return next, true, nil
}

// GuaranteedUpdate reads the object, applies fn to a copy and writes the result if the
// object did not change meanwhile, re-reading and re-applying fn after every conflict
// until it succeeds, fn fails, or ctx ends. The whole object (spec, metadata and status)
// is taken from fn's result, except identity fields; generation is bumped on a spec change.
// The key keeps its store lease, if any. A missing object gives ErrNotFound; fn's error is
// returned as is.
func (s *Store[T, P]) GuaranteedUpdate(ctx context.Context, ns, name string, fn func(cur P) (P, error)) (P, error) {
	return s.guaranteedUpdate(ctx, ns, name, fn, false, clientv3.NoLease)
}

// GuaranteedUpdateWithLease is GuaranteedUpdate that (re)attaches the key to the store lease
// id, which must exist, when it writes; an unchanged object keeps its lease. Events use it
// to restart their TTL when they are bumped.
func (s *Store[T, P]) GuaranteedUpdateWithLease(ctx context.Context, ns, name string, id clientv3.LeaseID, fn func(cur P) (P, error)) (P, error) {
	return s.guaranteedUpdate(ctx, ns, name, fn, true, id)
}

func (s *Store[T, P]) guaranteedUpdate(ctx context.Context, ns, name string, fn func(cur P) (P, error), setLease bool, id clientv3.LeaseID) (P, error) {
	for {
		st, err := s.current(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		cur := st.obj
		next, err := fn(api.DeepCopy(cur))
		if err != nil {
			return nil, err
		}
		keepDeletion(cur, next)
		lease := st.lease
		if setLease {
			lease = id
		}
		out, ok, err := s.write(ctx, cur, next, st.modRev, lease)
		if err != nil || ok {
			return out, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// DeleteOptions are a Delete's preconditions and grace period.
type DeleteOptions struct {
	// ResourceVersion, when set, must equal the stored one, else ErrConflict.
	ResourceVersion string
	// UID, when set, must equal the stored one, else ErrConflict.
	UID string
	// GracePeriodSeconds is, for pods, how long the node agent lets the containers stop
	// (nil = the pod's spec.terminationGracePeriodSeconds; 0 = remove the object at once,
	// a force delete). Other objects are always removed at once.
	GracePeriodSeconds *int64
}

// Delete deletes the object ns/name. A pod bound to a node and not yet Succeeded or Failed
// is deleted gracefully, as the apiserver does: Delete only sets its deletionTimestamp (now
// + grace period) and deletionGracePeriodSeconds, and its node agent removes it (a Delete
// with grace period 0 and a UID precondition) once its containers stopped; a second
// graceful Delete may only shorten the grace period. Everything else, and a grace period of
// 0, removes the object at once. Delete returns the object as it was removed, or as marked
// (deletionTimestamp set). It fails with ErrNotFound when the object does not exist and
// ErrConflict when a precondition does not hold.
func (s *Store[T, P]) Delete(ctx context.Context, ns, name string, opts DeleteOptions) (P, error) {
	key := s.Key(ns, name)
	for {
		st, err := s.current(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		cur, modRev := st.obj, st.modRev
		if opts.ResourceVersion != "" && opts.ResourceVersion != cur.Meta().ResourceVersion ||
			opts.UID != "" && opts.UID != cur.Meta().UID {
			return nil, s.conflict(ns, name)
		}
		next := api.DeepCopy(cur)
		switch gracefulDelete(next, opts.GracePeriodSeconds, s.now()) {
		case deletePending:
			return cur, nil
		case deleteMark:
			out, ok, err := s.write(ctx, cur, next, modRev, st.lease)
			if err != nil {
				return nil, err
			}
			if ok {
				return out, nil
			}
			if opts.ResourceVersion != "" {
				return nil, s.conflict(ns, name)
			}
			continue
		}
		resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(append([]clientv3.Op{clientv3.OpDelete(key)}, s.release(cur)...)...).Commit()
		if err != nil {
			return nil, fmt.Errorf("registry: delete %s: %w", key, err)
		}
		if resp.Succeeded {
			return cur, nil
		}
		// Changed meanwhile: with a precondition that is a conflict, without one retry.
		if opts.ResourceVersion != "" {
			return nil, s.conflict(ns, name)
		}
	}
}

func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

const suffixChars = "bcdfghjklmnpqrstvwxz2456789"

func randomSuffix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = suffixChars[int(b[i])%len(suffixChars)]
	}
	return string(b[:])
}
