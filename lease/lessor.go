package lease

import (
	"container/heap"
	"errors"
	"math"
	"slices"
	"sync"
	"time"
)

// ID identifies a lease; 0 means no lease.
type ID = int64

// MaxTTL is etcd's largest lease TTL in seconds.
const MaxTTL = 9_000_000_000

// Errors returned by the lessor.
var (
	// ErrNotFound is returned for an unknown (or already revoked) lease.
	ErrNotFound = errors.New("lease: lease not found")
	// ErrExists is returned by Grant for an ID already in use.
	ErrExists = errors.New("lease: lease already exists")
	// ErrTTLTooLarge is returned by Grant for a TTL above MaxTTL.
	ErrTTLTooLarge = errors.New("lease: too large lease TTL")
	// ErrNotPrimary is returned by leader-only operations on a lessor that is not promoted.
	ErrNotPrimary = errors.New("lease: not primary")
)

// DefaultExpiredRetry is how long Expired waits before reporting again a lease it already
// reported that still exists: its revoke failed or has not applied yet (etcd's
// expiredLeaseRetryInterval).
const DefaultExpiredRetry = 3 * time.Second

// Config configures a Lessor. Zero values mean defaults.
type Config struct {
	// Now is the clock used for deadlines. Default time.Now.
	Now func() time.Time
	// ExpiredRetry is how long a lease Expired reported waits before Expired reports it again,
	// if it has not been revoked meanwhile. Default DefaultExpiredRetry.
	ExpiredRetry time.Duration
}

// Lessor holds every lease of the store. Safe for concurrent use.
type Lessor struct {
	now   func() time.Time
	retry time.Duration

	// mu guards the fields below it.
	mu      sync.Mutex
	leases  map[ID]*entry
	primary bool
	// expiry holds every lease while primary, nothing otherwise (see expiryQueue).
	expiry expiryQueue
	// clears holds, while primary, the leases renewed since their last checkpoint: their
	// replicated remaining TTL is stale and the leader owes a Checkpoint 0 (TakeClears).
	clears map[ID]struct{}
}

type entry struct {
	id        ID
	ttl       int64               // granted TTL, seconds
	remaining int64               // checkpointed remaining TTL, seconds; 0 = none
	keys      map[string]struct{} // attached keys; nil until the first Attach
	// Primary only (zero otherwise): deadline is when the lease expires; due is when Expired
	// next reports it (deadline, or a retry after it was reported); index is its position in
	// the expiry queue (-1 when not queued).
	deadline time.Time
	due      time.Time
	index    int
}

// New returns an empty, non-primary lessor.
func New(cfg Config) *Lessor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ExpiredRetry <= 0 {
		cfg.ExpiredRetry = DefaultExpiredRetry
	}
	return &Lessor{now: cfg.Now, retry: cfg.ExpiredRetry, leases: map[ID]*entry{}, clears: map[ID]struct{}{}}
}

// Grant adds lease id with ttl seconds. A primary lessor starts its deadline at once.
// Returns ErrExists or ErrTTLTooLarge without changing anything.
func (l *Lessor) Grant(id ID, ttl int64) error {
	if ttl > MaxTTL {
		return ErrTTLTooLarge
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.leases[id]; ok {
		return ErrExists
	}
	e := &entry{id: id, ttl: ttl, index: -1}
	if l.primary {
		e.deadline = l.now().Add(seconds(ttl))
		e.due = e.deadline
		heap.Push(&l.expiry, e)
	}
	l.leases[id] = e
	return nil
}

// Revoke removes lease id and returns its attached keys, sorted. The caller deletes them.
// O(log n + k log k) for k keys.
func (l *Lessor) Revoke(id ID) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.leases[id]
	if !ok {
		return nil, ErrNotFound
	}
	delete(l.leases, id)
	delete(l.clears, id)
	if e.index >= 0 {
		heap.Remove(&l.expiry, e.index)
	}
	return sortedKeys(e.keys), nil
}

// Attach records that key is attached to lease id.
func (l *Lessor) Attach(id ID, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.leases[id]
	if !ok {
		return ErrNotFound
	}
	if e.keys == nil {
		e.keys = map[string]struct{}{}
	}
	e.keys[key] = struct{}{}
	return nil
}

// Detach records that key no longer belongs to lease id. Unknown leases are ignored.
func (l *Lessor) Detach(id ID, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.leases[id]; ok {
		delete(e.keys, key)
	}
}

// Checkpoint records the remaining TTL of lease id (replicated), so a new leader restores
// it instead of the full TTL, and returns the lease's granted TTL. remaining 0 clears the
// checkpoint. It never moves a deadline: a primary lessor's checkpoints are taken from its own
// deadlines (PendingCheckpoints), and checkpoints of earlier terms are all applied before a
// new leader's Promote, which reads them. Returns ErrNotFound.
func (l *Lessor) Checkpoint(id ID, remaining int64) (ttl int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.leases[id]
	if !ok {
		return 0, ErrNotFound
	}
	e.remaining = remaining
	return e.ttl, nil
}

// Exists reports whether lease id exists.
func (l *Lessor) Exists(id ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.leases[id]
	return ok
}

// LeaseExists implements apply.Leases.
func (l *Lessor) LeaseExists(id int64) bool { return l.Exists(id) }

// Len returns the number of leases.
func (l *Lessor) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.leases)
}

// Promote makes the lessor primary: every lease's deadline becomes now + (its checkpointed
// remaining TTL, or its TTL) + extend, and the expiry queue is rebuilt from them in O(n).
// Promoting a primary lessor starts every deadline again the same way.
func (l *Lessor) Promote(extend time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.primary = true
	l.expiry = make(expiryQueue, 0, len(l.leases))
	for _, e := range l.leases {
		ttl := e.ttl
		if e.remaining > 0 {
			ttl = e.remaining
		}
		e.deadline = now.Add(seconds(ttl) + extend)
		e.due = e.deadline
		e.index = len(l.expiry)
		l.expiry = append(l.expiry, e)
	}
	heap.Init(&l.expiry)
}

// Demote drops every deadline, empties the expiry queue and forgets the checkpoints owed;
// nothing expires until the next Promote.
func (l *Lessor) Demote() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.primary = false
	clear(l.clears)
	for _, e := range l.expiry {
		e.deadline, e.due, e.index = time.Time{}, time.Time{}, -1
	}
	l.expiry = nil
}

// Primary reports whether the lessor is promoted.
func (l *Lessor) Primary() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.primary
}

// Renew restarts lease id's deadline at its full TTL and returns the TTL, in O(log n).
// checkpointed reports that the lease carries a replicated remaining TTL, now stale: a later
// leader would restore that shorter time, so the lessor also records that the leader owes a
// Checkpoint 0 for the lease (TakeClears).
// Returns ErrNotPrimary or ErrNotFound (also for a lease already past its deadline: once
// Expired may have reported it, the lease can only be revoked).
func (l *Lessor) Renew(id ID) (ttl int64, checkpointed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary {
		return 0, false, ErrNotPrimary
	}
	e, ok := l.leases[id]
	now := l.now()
	if !ok || !now.Before(e.deadline) {
		return 0, false, ErrNotFound
	}
	e.deadline = now.Add(seconds(e.ttl))
	e.due = e.deadline
	heap.Fix(&l.expiry, e.index)
	if e.remaining > 0 {
		l.clears[id] = struct{}{}
	}
	return e.ttl, e.remaining > 0, nil
}

// TakeClears returns up to limit leases renewed since their last checkpoint and forgets
// them: the caller proposes a Checkpoint 0 for each (primary only; the order is unspecified).
// O(k) for k returned.
func (l *Lessor) TakeClears(limit int) []ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary || len(l.clears) == 0 {
		return nil
	}
	ids := make([]ID, 0, min(limit, len(l.clears)))
	for id := range l.clears {
		if len(ids) == limit {
			break
		}
		ids = append(ids, id)
		delete(l.clears, id)
	}
	return ids
}

// Expired returns up to limit leases whose deadline has passed, soonest due first (primary
// only). It pops them from the expiry queue without looking at the leases not yet due, in
// O(k log n) for k returned, and queues each again ExpiredRetry later: a lease stays reported
// until Revoke removes it, so a revoke that failed or was lost with a leader is retried, and
// one still in flight is not proposed again at once.
func (l *Lessor) Expired(limit int) []ID { return l.ExpiredBatch(limit, math.MaxInt) }

// ExpiredBatch is Expired with a budget of attached keys as well: it stops before the lease
// whose keys would take the batch over maxKeys, unless that lease comes first (a lease with
// more keys than maxKeys is returned alone).
func (l *Lessor) ExpiredBatch(limit, maxKeys int) []ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary || limit <= 0 {
		return nil
	}
	now := l.now()
	var ids []ID
	keys := 0
	for len(ids) < limit && len(l.expiry) > 0 && !now.Before(l.expiry[0].due) {
		e := l.expiry[0]
		if len(ids) > 0 && keys+len(e.keys) > maxKeys {
			break
		}
		keys += len(e.keys)
		ids = append(ids, e.id)
		e.due = now.Add(l.retry)
		heap.Fix(&l.expiry, 0)
	}
	return ids
}

// HasExpired reports whether Expired would return a lease now, in O(1).
func (l *Lessor) HasExpired() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.primary && len(l.expiry) > 0 && !l.now().Before(l.expiry[0].due)
}

// Checkpoint is one lease's remaining TTL, as PendingCheckpoints reports it.
type Checkpoint struct {
	ID ID
	// Remaining is the time left in seconds, rounded up, at least 1.
	Remaining int64
}

// PendingCheckpoints returns, in one pass under the lock, the remaining TTL of every lease
// granted for more than minTTL seconds that has run for a while (remaining below its TTL) and
// whose remaining time differs from its last checkpoint (primary only; nil otherwise). The
// order is unspecified.
func (l *Lessor) PendingCheckpoints(minTTL int64) []Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary {
		return nil
	}
	now := l.now()
	cps := make([]Checkpoint, 0, len(l.expiry)) // no regrowth under the lock
	for _, e := range l.expiry {
		if e.ttl <= minTTL {
			continue
		}
		left := max(1, ceilSeconds(e.deadline.Sub(now)))
		if left < e.ttl && left != e.remaining {
			cps = append(cps, Checkpoint{ID: e.id, Remaining: left})
		}
	}
	return cps
}

// Info describes one lease.
type Info struct {
	ID ID
	// TTL is the granted TTL in seconds.
	TTL int64
	// Remaining is the time left in seconds: from the deadline on a primary lessor, otherwise
	// the checkpointed remaining TTL or the TTL.
	Remaining int64
	// Keys are the attached keys, sorted.
	Keys []string
}

// Lookup returns lease id, or ErrNotFound.
func (l *Lessor) Lookup(id ID) (Info, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.leases[id]
	if !ok {
		return Info{}, ErrNotFound
	}
	info := Info{ID: id, TTL: e.ttl, Keys: sortedKeys(e.keys), Remaining: e.ttl}
	if e.remaining > 0 {
		info.Remaining = e.remaining
	}
	if l.primary && !e.deadline.IsZero() {
		info.Remaining = max(0, ceilSeconds(e.deadline.Sub(l.now())))
	}
	return info, nil
}

// Leases returns every lease ID, ascending.
func (l *Lessor) Leases() []ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]ID, 0, len(l.leases))
	for id := range l.leases {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Reset drops every lease (before rebuilding from a restored snapshot). A primary lessor stays
// primary: leases granted afterwards get deadlines, and the caller promotes it again once the
// leases are rebuilt.
func (l *Lessor) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leases = map[ID]*entry{}
	l.expiry = nil
	clear(l.clears)
}

func seconds(s int64) time.Duration { return time.Duration(s) * time.Second }

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

func sortedKeys(m map[string]struct{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
