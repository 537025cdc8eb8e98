package lease

import (
	"errors"
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

// Config configures a Lessor. Zero values mean defaults.
type Config struct {
	// Now is the clock used for deadlines. Default time.Now.
	Now func() time.Time
}

// Lessor holds every lease of the store. Safe for concurrent use.
type Lessor struct {
	now func() time.Time

	mu sync.Mutex
	// guarded by mu
	leases  map[ID]*entry
	primary bool
}

type entry struct {
	ttl       int64               // granted TTL, seconds
	remaining int64               // checkpointed remaining TTL, seconds; 0 = none
	keys      map[string]struct{} // attached keys
	deadline  time.Time           // primary only; zero = none
}

// New returns an empty, non-primary lessor.
func New(cfg Config) *Lessor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Lessor{now: cfg.Now, leases: map[ID]*entry{}}
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
	e := &entry{ttl: ttl, keys: map[string]struct{}{}}
	if l.primary {
		e.deadline = l.now().Add(seconds(ttl))
	}
	l.leases[id] = e
	return nil
}

// Revoke removes lease id and returns its attached keys, sorted. The caller deletes them.
func (l *Lessor) Revoke(id ID) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.leases[id]
	if !ok {
		return nil, ErrNotFound
	}
	delete(l.leases, id)
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
// it instead of the full TTL. remaining 0 clears the checkpoint.
func (l *Lessor) Checkpoint(id ID, remaining int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.leases[id]
	if !ok {
		return ErrNotFound
	}
	e.remaining = remaining
	return nil
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

// Promote makes the lessor primary: every lease's deadline becomes now + (its checkpointed
// remaining TTL, or its TTL) + extend.
func (l *Lessor) Promote(extend time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.primary = true
	for _, e := range l.leases {
		ttl := e.ttl
		if e.remaining > 0 {
			ttl = e.remaining
		}
		e.deadline = now.Add(seconds(ttl) + extend)
	}
}

// Demote drops every deadline; nothing expires until the next Promote.
func (l *Lessor) Demote() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.primary = false
	for _, e := range l.leases {
		e.deadline = time.Time{}
	}
}

// Primary reports whether the lessor is promoted.
func (l *Lessor) Primary() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.primary
}

// Renew restarts lease id's deadline at its full TTL and returns the TTL. checkpointed reports
// that the lease carries a replicated remaining TTL the caller should clear (Checkpoint 0)
// so a later leader does not restore a stale, shorter time.
// Returns ErrNotPrimary or ErrNotFound (also for a lease already past its deadline).
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
	return e.ttl, e.remaining > 0, nil
}

// Expired returns up to limit leases whose deadline has passed, soonest first (primary only).
func (l *Lessor) Expired(limit int) []ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary {
		return nil
	}
	now := l.now()
	type due struct {
		id ID
		at time.Time
	}
	var out []due
	for id, e := range l.leases {
		if !e.deadline.IsZero() && !now.Before(e.deadline) {
			out = append(out, due{id, e.deadline})
		}
	}
	slices.SortFunc(out, func(a, b due) int { return a.at.Compare(b.at) })
	ids := make([]ID, 0, min(limit, len(out)))
	for _, d := range out[:min(limit, len(out))] {
		ids = append(ids, d.id)
	}
	return ids
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
		left := e.deadline.Sub(l.now())
		info.Remaining = max(0, int64((left+time.Second-1)/time.Second))
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

// Reset drops every lease (before rebuilding from a restored snapshot).
func (l *Lessor) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leases = map[ID]*entry{}
}

func seconds(s int64) time.Duration { return time.Duration(s) * time.Second }

func sortedKeys(m map[string]struct{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
