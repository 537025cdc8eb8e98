package lease

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized lessor test (0 picks one)")

// step is one operation of a scripted lessor test. want is the result of expired; err the
// error of renew, revoke or checkpoint.
type step struct {
	op    string // grant, renew, revoke, checkpoint, advance, promote, demote, expired
	id    ID
	n     int64         // grant: TTL; checkpoint: remaining; expired: limit
	d     time.Duration // advance; promote: extension
	want  []ID
	err   error
	ttlOK int64 // renew: the TTL returned
	keys  int   // batch: the key budget; attach: how many keys
	has   bool  // has: whether a lease is due
}

func grant(id ID, ttl int64) step            { return step{op: "grant", id: id, n: ttl} }
func renew(id ID, ttl int64, err error) step { return step{op: "renew", id: id, ttlOK: ttl, err: err} }
func revoke(id ID, err error) step           { return step{op: "revoke", id: id, err: err} }
func checkpoint(id ID, rem int64) step       { return step{op: "checkpoint", id: id, n: rem} }
func advance(d time.Duration) step           { return step{op: "advance", d: d} }
func promote(ext time.Duration) step         { return step{op: "promote", d: ext} }
func demote() step                           { return step{op: "demote"} }
func expired(limit int64, want ...ID) step   { return step{op: "expired", n: limit, want: want} }
func attach(id ID, keys int) step            { return step{op: "attach", id: id, keys: keys} }
func has(due bool) step                      { return step{op: "has", has: due} }
func clears(want ...ID) step                 { return step{op: "clears", want: want} }

// batch is ExpiredBatch(limit, keys).
func batch(limit int64, keys int, want ...ID) step {
	return step{op: "batch", n: limit, keys: keys, want: want}
}

func TestExpiryQueue(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name  string
		steps []step
	}{
		{"soonest first, ties by ID", []step{promote(0),
			grant(3, 5), grant(1, 5), grant(2, 3), advance(10 * s), expired(10, 2, 1, 3)}},
		{"limit leaves the rest queued", []step{promote(0),
			grant(1, 1), grant(2, 2), grant(3, 3), grant(4, 4), advance(10 * s),
			expired(2, 1, 2), expired(2, 3, 4), expired(2)}},
		{"nothing before the deadline", []step{promote(0),
			grant(1, 5), advance(5*s - time.Nanosecond), expired(10), advance(time.Nanosecond), expired(10, 1)}},
		{"renew moves a lease later", []step{promote(0),
			grant(1, 5), grant(2, 6), advance(4 * s), renew(1, 5, nil),
			advance(2500 * time.Millisecond), expired(10, 2), // t=6.5: lease 1 is due at 9
			advance(2500 * time.Millisecond), expired(10, 1)}},
		{"renew past the deadline fails", []step{promote(0),
			grant(1, 2), advance(2 * s), renew(1, 0, ErrNotFound), expired(10, 1)}},
		{"revoke removes a lease", []step{promote(0),
			grant(1, 5), grant(2, 5), grant(3, 5), revoke(2, nil), revoke(2, ErrNotFound),
			advance(5 * s), expired(10, 1, 3)}},
		{"a reported lease is reported again after the retry until revoked", []step{promote(0),
			grant(1, 1), grant(2, 2), advance(s), expired(10, 1),
			advance(s), expired(10, 2), // 1 waits for its retry
			advance(2 * s), expired(10, 1), revoke(1, nil),
			advance(s), expired(10, 2), advance(10 * s), expired(10, 2)}},
		{"a non-primary lessor has no deadlines", []step{
			grant(1, 1), advance(time.Hour), expired(10), renew(1, 0, ErrNotPrimary),
			promote(0), expired(10), advance(s), expired(10, 1)}},
		{"promote starts deadlines from checkpoints plus the extension", []step{
			grant(1, 10), grant(2, 10), checkpoint(2, 3), promote(s),
			advance(4*s - time.Nanosecond), expired(10), advance(time.Nanosecond), expired(10, 2),
			revoke(2, nil), advance(7 * s), expired(10, 1)}},
		{"demote clears the queue and promote rebuilds it", []step{promote(0),
			grant(1, 5), grant(2, 8), advance(6 * s), demote(), expired(10), advance(time.Hour), expired(10),
			revoke(2, nil), promote(0), advance(5*s - time.Nanosecond), expired(10),
			advance(time.Nanosecond), expired(10, 1)}},
		{"a checkpoint does not move a primary's deadline", []step{promote(0),
			grant(1, 10), checkpoint(1, 2), advance(3 * s), expired(10), advance(7 * s), expired(10, 1)}},
		{"has expired", []step{promote(0),
			grant(1, 1), has(false), advance(s), has(true), expired(10, 1), has(false), advance(3 * s), has(true),
			demote(), has(false)}},
		{"a key budget splits batches", []step{promote(0),
			grant(1, 1), grant(2, 1), grant(3, 1), attach(1, 3), attach(2, 3), attach(3, 1), advance(s),
			batch(10, 5, 1), batch(10, 5, 2, 3), batch(10, 5)}},
		{"a lease over the key budget goes alone", []step{promote(0),
			grant(1, 1), grant(2, 1), attach(1, 10), advance(s), batch(10, 5, 1), batch(10, 5, 2)}},
		{"a renewed checkpointed lease owes a clear", []step{promote(0),
			grant(1, 10), grant(2, 10), grant(3, 10), checkpoint(1, 4), checkpoint(2, 4), advance(s),
			renew(1, 10, nil), renew(3, 10, nil), clears(1), clears(), renew(2, 10, nil), revoke(2, nil), clears(),
			renew(1, 10, nil), demote(), promote(0), clears()}},
		{"renew after a demote and promote", []step{promote(0),
			grant(1, 5), demote(), promote(0), advance(4 * s), renew(1, 5, nil), advance(5*s - time.Nanosecond),
			expired(10), advance(time.Nanosecond), expired(10, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c := newTest()
			for i, st := range tt.steps {
				runStep(t, l, c, i, st)
			}
		})
	}
}

func runStep(t *testing.T, l *Lessor, c *clock, i int, st step) {
	t.Helper()
	switch st.op {
	case "grant":
		if err := l.Grant(st.id, st.n); err != nil {
			t.Fatalf("step %d: grant %d: %v", i, st.id, err)
		}
	case "renew":
		ttl, _, err := l.Renew(st.id)
		if !errors.Is(err, st.err) || ttl != st.ttlOK {
			t.Fatalf("step %d: renew %d: got TTL %d, %v; want %d, %v", i, st.id, ttl, err, st.ttlOK, st.err)
		}
	case "revoke":
		if _, err := l.Revoke(st.id); !errors.Is(err, st.err) {
			t.Fatalf("step %d: revoke %d: got %v, want %v", i, st.id, err, st.err)
		}
	case "checkpoint":
		if _, err := l.Checkpoint(st.id, st.n); err != nil {
			t.Fatalf("step %d: checkpoint %d: %v", i, st.id, err)
		}
	case "advance":
		c.advance(st.d)
	case "promote":
		l.Promote(st.d)
	case "demote":
		l.Demote()
	case "expired":
		if got := l.Expired(int(st.n)); !slices.Equal(got, st.want) {
			t.Fatalf("step %d: expired(%d): got %v, want %v", i, st.n, got, st.want)
		}
	case "batch":
		if got := l.ExpiredBatch(int(st.n), st.keys); !slices.Equal(got, st.want) {
			t.Fatalf("step %d: expired batch(%d, %d keys): got %v, want %v", i, st.n, st.keys, got, st.want)
		}
	case "attach":
		for k := range st.keys {
			if err := l.Attach(st.id, fmt.Sprintf("k%d-%d", st.id, k)); err != nil {
				t.Fatalf("step %d: attach to %d: %v", i, st.id, err)
			}
		}
	case "clears":
		got := l.TakeClears(100)
		slices.Sort(got)
		if !slices.Equal(got, st.want) {
			t.Fatalf("step %d: clears: got %v, want %v", i, got, st.want)
		}
	case "has":
		if got := l.HasExpired(); got != st.has {
			t.Fatalf("step %d: has expired: got %v, want %v", i, got, st.has)
		}
	default:
		t.Fatalf("step %d: unknown op %q", i, st.op)
	}
}

func TestPendingCheckpoints(t *testing.T) {
	l, c := newTest()
	if got := l.PendingCheckpoints(0); got != nil {
		t.Fatalf("non-primary: got %v, want none", got)
	}
	l.Promote(0)
	for id, ttl := range map[ID]int64{1: 60, 2: 600, 3: 600, 4: 3600} {
		if err := l.Grant(id, ttl); err != nil {
			t.Fatal(err)
		}
	}
	c.advance(100 * time.Second)
	if _, _, err := l.Renew(3); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(4, 3500); err != nil {
		t.Fatal(err)
	}
	c.advance(500 * time.Millisecond)
	// 1: TTL not above the minimum; 3: renewed, so its remaining time is its TTL;
	// 4: the remaining time is already recorded (3499.5 s rounds up to 3500).
	got := l.PendingCheckpoints(300)
	want := []Checkpoint{{ID: 2, Remaining: 500}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	c.advance(time.Hour)
	got = l.PendingCheckpoints(300)
	slices.SortFunc(got, func(a, b Checkpoint) int { return cmp.Compare(a.ID, b.ID) })
	want = []Checkpoint{{ID: 2, Remaining: 1}, {ID: 3, Remaining: 1}, {ID: 4, Remaining: 1}}
	if !slices.Equal(got, want) {
		t.Fatalf("past every deadline: got %v, want %v", got, want)
	}
}

// modelLease and model are the reference the randomized test checks the lessor against:
// a map and a sort on every Expired, the obviously correct (and slow) way.
type modelLease struct {
	ttl, remaining int64
	deadline, due  time.Time
}

type model struct {
	leases  map[ID]*modelLease
	primary bool
	clears  map[ID]bool
}

func (m *model) expired(now time.Time, limit int) []ID {
	if !m.primary {
		return nil
	}
	var due []ID
	for id, e := range m.leases {
		if !now.Before(e.due) {
			due = append(due, id)
		}
	}
	slices.SortFunc(due, func(a, b ID) int {
		return cmp.Or(m.leases[a].due.Compare(m.leases[b].due), cmp.Compare(a, b))
	})
	due = due[:min(limit, len(due))]
	for _, id := range due {
		m.leases[id].due = now.Add(DefaultExpiredRetry)
	}
	return due
}

func (m *model) hasDue(now time.Time) bool {
	for _, e := range m.leases {
		if m.primary && !now.Before(e.due) {
			return true
		}
	}
	return false
}

func (m *model) remaining(now time.Time, id ID) int64 {
	e := m.leases[id]
	switch {
	case m.primary:
		return max(0, ceilSeconds(e.deadline.Sub(now)))
	case e.remaining > 0:
		return e.remaining
	}
	return e.ttl
}

// TestLessorMatchesModel runs seeded random operations on a lessor and on the model and
// compares every result. Reproduce a failure with -seed.
func TestLessorMatchesModel(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	l, c := newTest()
	m := &model{leases: map[ID]*modelLease{}, clears: map[ID]bool{}}
	const ids = 40
	for i := range 20_000 {
		id := ID(rng.IntN(ids) + 1)
		now := c.now()
		switch op := rng.IntN(100); {
		case op < 20:
			ttl := int64(rng.IntN(20) + 1)
			err := l.Grant(id, ttl)
			_, exists := m.leases[id]
			if exists != errors.Is(err, ErrExists) || (!exists && err != nil) {
				t.Fatalf("op %d: grant %d: %v (model has it: %v)", i, id, err, exists)
			}
			if !exists {
				e := &modelLease{ttl: ttl}
				if m.primary {
					e.deadline = now.Add(seconds(ttl))
					e.due = e.deadline
				}
				m.leases[id] = e
			}
		case op < 30:
			_, err := l.Revoke(id)
			_, exists := m.leases[id]
			if exists == errors.Is(err, ErrNotFound) {
				t.Fatalf("op %d: revoke %d: %v (model has it: %v)", i, id, err, exists)
			}
			delete(m.leases, id)
			delete(m.clears, id)
		case op < 55:
			ttl, cp, err := l.Renew(id)
			e, exists := m.leases[id]
			var want error
			switch {
			case !m.primary:
				want = ErrNotPrimary
			case !exists || !now.Before(e.deadline):
				want = ErrNotFound
			}
			if !errors.Is(err, want) || (want == nil && (ttl != e.ttl || cp != (e.remaining > 0))) {
				t.Fatalf("op %d: renew %d: got %d %v %v, want error %v", i, id, ttl, cp, err, want)
			}
			if want == nil {
				e.deadline = now.Add(seconds(e.ttl))
				e.due = e.deadline
				if e.remaining > 0 {
					m.clears[id] = true
				}
			}
		case op < 62:
			e, exists := m.leases[id]
			rem := int64(0)
			if exists {
				rem = rng.Int64N(e.ttl + 1)
			}
			if _, err := l.Checkpoint(id, rem); exists == errors.Is(err, ErrNotFound) {
				t.Fatalf("op %d: checkpoint %d: %v (model has it: %v)", i, id, err, exists)
			}
			if exists {
				e.remaining = rem
			}
		case op < 80:
			c.advance(time.Duration(rng.IntN(3000)) * time.Millisecond)
		case op < 90:
			limit := rng.IntN(8) + 1
			if got, want := l.HasExpired(), m.hasDue(now); got != want {
				t.Fatalf("op %d: has expired: got %v, want %v", i, got, want)
			}
			if got, want := l.Expired(limit), m.expired(now, limit); !slices.Equal(got, want) {
				t.Fatalf("op %d: expired(%d): got %v, want %v", i, limit, got, want)
			}
		case op < 93:
			ext := time.Duration(rng.IntN(2000)) * time.Millisecond
			l.Promote(ext)
			m.primary = true
			for _, e := range m.leases {
				ttl := cmp.Or(e.remaining, e.ttl)
				e.deadline = now.Add(seconds(ttl) + ext)
				e.due = e.deadline
			}
		case op < 95:
			l.Demote()
			m.primary = false
			clear(m.clears)
			for _, e := range m.leases {
				e.deadline, e.due = time.Time{}, time.Time{}
			}
		case op < 97:
			info, err := l.Lookup(id)
			_, exists := m.leases[id]
			if exists == errors.Is(err, ErrNotFound) {
				t.Fatalf("op %d: lookup %d: %v (model has it: %v)", i, id, err, exists)
			}
			if exists && info.Remaining != m.remaining(now, id) {
				t.Fatalf("op %d: lookup %d: remaining %d, want %d", i, id, info.Remaining, m.remaining(now, id))
			}
		case op < 99:
			got := l.TakeClears(math.MaxInt)
			slices.Sort(got)
			want := slices.Sorted(maps.Keys(m.clears))
			clear(m.clears)
			if !slices.Equal(got, want) {
				t.Fatalf("op %d: clears: got %v, want %v", i, got, want)
			}
		default:
			const minTTL = 5
			got := l.PendingCheckpoints(minTTL)
			slices.SortFunc(got, func(a, b Checkpoint) int { return cmp.Compare(a.ID, b.ID) })
			var want []Checkpoint
			if m.primary {
				for _, id := range slices.Sorted(maps.Keys(m.leases)) {
					e := m.leases[id]
					left := max(1, ceilSeconds(e.deadline.Sub(now)))
					if e.ttl > minTTL && left < e.ttl && left != e.remaining {
						want = append(want, Checkpoint{ID: id, Remaining: left})
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("op %d: pending checkpoints: got %v, want %v", i, got, want)
			}
		}
		if l.Len() != len(m.leases) {
			t.Fatalf("op %d: %d leases, model has %d", i, l.Len(), len(m.leases))
		}
		if i%97 == 0 {
			checkQueue(t, l)
		}
	}
	checkQueue(t, l)
}

// checkQueue checks the expiry queue's invariants: a heap, indexes right, every lease queued
// exactly once while primary and none otherwise.
func checkQueue(t *testing.T, l *Lessor) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary {
		if len(l.expiry) != 0 {
			t.Fatalf("non-primary lessor has %d queued leases", len(l.expiry))
		}
		return
	}
	if len(l.expiry) != len(l.leases) {
		t.Fatalf("%d queued, %d leases", len(l.expiry), len(l.leases))
	}
	for i, e := range l.expiry {
		if e.index != i || l.leases[e.id] != e {
			t.Fatalf("queue position %d holds lease %d with index %d", i, e.id, e.index)
		}
		if i > 0 && l.expiry.Less(i, (i-1)/2) {
			t.Fatalf("queue position %d is due before its parent", i)
		}
	}
}
