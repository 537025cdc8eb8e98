package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// Event types.
const (
	TypeNormal  = "Normal"
	TypeWarning = "Warning"
)

// Defaults.
const (
	// DefaultTTL is how long an Event stays in the store after its last write
	// (kube-apiserver --event-ttl).
	DefaultTTL = time.Hour
	// DefaultAggregationWindow is how long a repeated event bumps the previous Event's count
	// instead of creating a new Event.
	DefaultAggregationWindow = 10 * time.Minute
	// DefaultBufferSize is the number of events waiting to be written before new ones are
	// dropped.
	DefaultBufferSize = 1000
	// maxLeaseReuse caps the default LeaseReuse.
	maxLeaseReuse = time.Minute
	// maxCorrelated bounds the correlation state (client-go's LRU holds 4096 entries too).
	maxCorrelated = 4096
)

// Config configures a Recorder. The zero value means defaults.
type Config struct {
	// Component and Host are written as the events' source.
	Component, Host string
	// TTL is how long an Event stays in the store after it was last written; default 1 h.
	TTL time.Duration
	// LeaseReuse is how long one store lease is shared by the events written; default 5 % of
	// TTL, at most 1 min.
	LeaseReuse time.Duration
	// AggregationWindow is how long an identical event bumps the previous Event's count;
	// default 10 min.
	AggregationWindow time.Duration
	// BufferSize is how many events may wait to be written; default 1000.
	BufferSize int
	// SpamBurst and SpamInterval rate-limit events per involved object: a burst of
	// SpamBurst, then one per SpamInterval (default 25 and 5 min, as client-go). Events over
	// the limit are dropped silently, as Kubernetes drops them.
	SpamBurst    int
	SpamInterval time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now is the clock of timestamps, names, aggregation and lease reuse; default time.Now.
	Now func() time.Time
}

// Recorder records events; see the package documentation. Create it with NewRecorder and
// run its writer with Run.
type Recorder struct {
	cfg     Config
	log     *slog.Logger
	cli     *clientv3.Client
	store   *registry.Store[api.Event, *api.Event]
	ch      chan record
	running atomic.Bool
	dropped atomic.Int64
	spam    *spamFilter
	// filtered counts events the spam filter dropped.
	filtered atomic.Int64

	// The fields below are owned by the writer goroutine (Run).
	lease      clientv3.LeaseID
	leaseUntil time.Time // when lease stops being handed to new writes
	seen       map[correlationKey]*correlated
	pruned     time.Time
}

// record is one event waiting to be written.
type record struct {
	ref       api.ObjectReference
	namespace string
	eventType string
	reason    string
	message   string
	at        time.Time
}

// correlationKey identifies identical events.
type correlationKey struct {
	object, reason, message, eventType string
}

// correlated is the Event last written for a correlationKey.
type correlated struct {
	namespace, name string
	last            time.Time
}

// NewRecorder returns a Recorder writing through cli. It starts no goroutine: call Run.
func NewRecorder(cli *clientv3.Client, cfg Config) *Recorder {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.LeaseReuse <= 0 {
		cfg.LeaseReuse = min(cfg.TTL/20, maxLeaseReuse)
	}
	if cfg.AggregationWindow <= 0 {
		cfg.AggregationWindow = DefaultAggregationWindow
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.SpamBurst <= 0 {
		cfg.SpamBurst = DefaultSpamBurst
	}
	if cfg.SpamInterval <= 0 {
		cfg.SpamInterval = DefaultSpamInterval
	}
	return &Recorder{cfg: cfg, spam: newSpamFilter(cfg.SpamBurst, cfg.SpamInterval), log: cfg.Logger.With("component", "event-recorder", "source", cfg.Component), cli: cli,
		store: registry.New[api.Event](cli, registry.Config{Now: cfg.Now}),
		ch:    make(chan record, cfg.BufferSize), seen: map[correlationKey]*correlated{}}
}

// Event records an event of eventType (TypeNormal or TypeWarning) about obj. It never
// blocks: the event is written later by Run, or dropped (with a log) when the buffer is
// full. obj is read, not kept. A nil Recorder records nothing.
func (r *Recorder) Event(obj api.Object, eventType, reason, message string) {
	if r == nil || obj == nil {
		return
	}
	m, tm := obj.Meta(), obj.TypeInfo()
	kind, apiVersion := tm.Kind, tm.APIVersion
	if kind == "" {
		res := api.ResourceOf(obj)
		kind, apiVersion = res.Kind, res.APIVersion
	}
	ns := m.Namespace
	if ns == "" {
		ns = "default"
	}
	rec := record{
		ref: api.ObjectReference{Kind: kind, APIVersion: apiVersion, Namespace: m.Namespace, Name: m.Name,
			UID: m.UID, ResourceVersion: m.ResourceVersion},
		namespace: ns, eventType: eventType, reason: reason, message: message, at: r.cfg.Now(),
	}
	object := rec.ref.UID
	if object == "" {
		object = kind + "/" + m.Namespace + "/" + m.Name
	}
	if !r.spam.allow(object, rec.at) {
		r.filtered.Add(1)
		return
	}
	select {
	case r.ch <- rec:
	default:
		if n := r.dropped.Add(1); n == 1 || n%100 == 0 {
			r.log.Warn("event buffer full, dropping events", "reason", reason, "dropped_total", n)
		}
	}
}

// Eventf is Event with a fmt.Sprintf message.
func (r *Recorder) Eventf(obj api.Object, eventType, reason, format string, args ...any) {
	if r == nil {
		return
	}
	r.Event(obj, eventType, reason, fmt.Sprintf(format, args...))
}

// Dropped returns how many events were dropped because the buffer was full.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Filtered returns how many events the per-object spam filter dropped.
func (r *Recorder) Filtered() int64 { return r.filtered.Load() }

// Run writes buffered events until ctx ends, then returns nil; events still buffered are
// dropped. It may be called once at a time (a concurrent call returns an error).
func (r *Recorder) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("events: recorder already running")
	}
	defer r.running.Store(false)
	for {
		select {
		case <-ctx.Done():
			return nil
		case rec := <-r.ch:
			if err := r.writeWithRetry(ctx, rec); err != nil && ctx.Err() == nil {
				r.log.Warn("cannot record event", "object", rec.ref.Namespace+"/"+rec.ref.Name, "reason", rec.reason, "err", err)
			}
		}
	}
}

func (r *Recorder) correlationKey(rec record) correlationKey {
	obj := rec.ref.UID
	if obj == "" {
		obj = rec.ref.Kind + "/" + rec.ref.Namespace + "/" + rec.ref.Name
	}
	return correlationKey{object: obj, reason: rec.reason, message: rec.message, eventType: rec.eventType}
}

// Write retries: transient store errors (no leader, timeouts) are retried a few times with
// back-off, as client-go's recordToSink does (with shorter waits).
const (
	writeAttempts = 4
	retryBackoff  = 100 * time.Millisecond
)

// writeWithRetry writes rec, retrying failed writes that may succeed later.
func (r *Recorder) writeWithRetry(ctx context.Context, rec record) error {
	backoff := retryBackoff
	for attempt := 1; ; attempt++ {
		err := r.write(ctx, rec)
		if err == nil || attempt == writeAttempts || errors.Is(err, api.ErrInvalid) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff *= 2
	}
}

// write bumps the correlated Event of rec, or creates a new one.
func (r *Recorder) write(ctx context.Context, rec record) error {
	r.prune(rec.at)
	key := r.correlationKey(rec)
	if c, ok := r.seen[key]; ok && rec.at.Sub(c.last) < r.cfg.AggregationWindow {
		err := r.withLease(ctx, func(lease clientv3.LeaseID) error {
			_, err := r.store.GuaranteedUpdateWithLease(ctx, c.namespace, c.name, lease, func(cur *api.Event) (*api.Event, error) {
				cur.Count++
				cur.LastTimestamp = api.NewTime(rec.at)
				return cur, nil
			})
			return err
		})
		if err == nil {
			c.last = rec.at
			return nil
		}
		if !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		// Expired or deleted meanwhile: start a new Event.
		delete(r.seen, key)
	}
	t := api.NewTime(rec.at)
	ev := &api.Event{
		ObjectMeta:     api.ObjectMeta{Namespace: rec.namespace, Name: eventName(rec.ref.Name, rec.at)},
		InvolvedObject: rec.ref,
		Reason:         rec.reason,
		Message:        rec.message,
		Source:         api.EventSource{Component: r.cfg.Component, Host: r.cfg.Host},
		FirstTimestamp: t,
		LastTimestamp:  t,
		Count:          1,
		Type:           rec.eventType,
	}
	err := r.withLease(ctx, func(lease clientv3.LeaseID) error {
		_, err := r.store.CreateWithLease(ctx, ev, lease)
		return err
	})
	// Names are unique per object and nanosecond, so an existing one is this very event,
	// written by an earlier attempt whose reply was lost.
	if err != nil && !errors.Is(err, registry.ErrAlreadyExists) {
		return err
	}
	if len(r.seen) < maxCorrelated {
		r.seen[key] = &correlated{namespace: ev.Namespace, name: ev.Name, last: rec.at}
	}
	return nil
}

// eventName returns "<name>.<nanoseconds in hex>", shortening name to keep within the 253
// characters of a DNS subdomain.
func eventName(name string, at time.Time) string {
	suffix := "." + strconv.FormatInt(at.UnixNano(), 16)
	if len(name)+len(suffix) > 253 {
		name = name[:253-len(suffix)]
	}
	return name + suffix
}

// prune forgets correlations older than the aggregation window, at most once a window.
func (r *Recorder) prune(now time.Time) {
	if now.Sub(r.pruned) < r.cfg.AggregationWindow && len(r.seen) < maxCorrelated {
		return
	}
	r.pruned = now
	for k, c := range r.seen {
		if now.Sub(c.last) >= r.cfg.AggregationWindow {
			delete(r.seen, k)
		}
	}
}

// withLease calls write with the current shared lease, granting a new one when the reuse
// window has passed or the store no longer knows the lease.
func (r *Recorder) withLease(ctx context.Context, write func(clientv3.LeaseID) error) error {
	for attempt := 0; ; attempt++ {
		lease, err := r.currentLease(ctx)
		if err != nil {
			return err
		}
		err = write(lease)
		if attempt == 0 && errors.Is(err, rpctypes.ErrLeaseNotFound) {
			r.lease = clientv3.NoLease
			continue
		}
		return err
	}
}

// currentLease returns the lease to attach to a write now.
func (r *Recorder) currentLease(ctx context.Context) (clientv3.LeaseID, error) {
	now := r.cfg.Now()
	if r.lease != clientv3.NoLease && now.Before(r.leaseUntil) {
		return r.lease, nil
	}
	ttl := int64(math.Ceil((r.cfg.TTL + r.cfg.LeaseReuse).Seconds()))
	resp, err := r.cli.Grant(ctx, ttl)
	if err != nil {
		return clientv3.NoLease, fmt.Errorf("events: grant lease: %w", err)
	}
	r.lease, r.leaseUntil = resp.ID, now.Add(r.cfg.LeaseReuse)
	r.log.Debug("granted event lease", "lease_ttl_seconds", ttl)
	return r.lease, nil
}
