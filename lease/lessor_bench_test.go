package lease

import (
	"fmt"
	"testing"
	"time"
)

// benchLessor returns a primary lessor with n leases of ttl seconds, granted 1 ms apart on a
// fake clock, so their deadlines are spread over n ms; the clock is left at the last grant.
func benchLessor(b *testing.B, n int, ttl int64) (*Lessor, *clock) {
	b.Helper()
	l, c := newTest()
	l.Promote(0)
	for i := range n {
		if err := l.Grant(ID(i+1), ttl); err != nil {
			b.Fatal(err)
		}
		c.advance(time.Millisecond)
	}
	return l, c
}

// BenchmarkExpired measures the leader's expiry tick with 100k leases: when nothing is due
// (the common case), and when 500 leases are due each tick and are revoked and replaced by new
// grants (a steady churn of 1,000 leases/s at a 500 ms tick).
func BenchmarkExpired(b *testing.B) {
	const n = 100_000
	b.Run(fmt.Sprintf("none-due/leases=%d", n), func(b *testing.B) {
		l, _ := benchLessor(b, n, 3600)
		b.ReportAllocs()
		for b.Loop() {
			if ids := l.Expired(1000); len(ids) != 0 {
				b.Fatalf("%d leases due", len(ids))
			}
		}
	})
	b.Run(fmt.Sprintf("500-due/leases=%d", n), func(b *testing.B) {
		// TTL 100 s: the first lease is due 100 s after its grant, when n ms have passed.
		l, c := benchLessor(b, n, 100)
		next := ID(n + 1)
		b.ReportAllocs()
		for b.Loop() {
			c.advance(500 * time.Millisecond)
			for _, id := range l.Expired(500) {
				if _, err := l.Revoke(id); err != nil {
					b.Fatal(err)
				}
				if err := l.Grant(next, 100); err != nil {
					b.Fatal(err)
				}
				next++
			}
		}
	})
}

// BenchmarkRenew measures one keepalive's lessor work with 100k leases.
func BenchmarkRenew(b *testing.B) {
	const n = 100_000
	b.Run(fmt.Sprintf("leases=%d", n), func(b *testing.B) {
		l, c := benchLessor(b, n, 3600)
		id := ID(0)
		b.ReportAllocs()
		for b.Loop() {
			c.advance(time.Microsecond)
			id = id%n + 1
			if _, _, err := l.Renew(id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCheckpointPass measures the leader's checkpoint pass over 100k long leases with a
// key each: one PendingCheckpoints pass against the way runLeaseCheckpoints used to do it,
// Leases (sorted IDs) then a Lookup (lock, keys sorted) per lease.
func BenchmarkCheckpointPass(b *testing.B) {
	const n = 100_000
	l, c := benchLessor(b, n, 3600)
	for i := range n {
		if err := l.Attach(ID(i+1), fmt.Sprintf("key-%d", i)); err != nil {
			b.Fatal(err)
		}
	}
	c.advance(time.Minute)
	b.Run(fmt.Sprintf("one-pass/leases=%d", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if got := l.PendingCheckpoints(300); len(got) != n {
				b.Fatalf("%d checkpoints", len(got))
			}
		}
	})
	b.Run(fmt.Sprintf("lookup-per-lease/leases=%d", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var cps []Checkpoint
			for _, id := range l.Leases() {
				info, err := l.Lookup(id)
				if err == nil && info.TTL > 300 && info.Remaining < info.TTL {
					cps = append(cps, Checkpoint{ID: id, Remaining: max(info.Remaining, 1)})
				}
			}
			if len(cps) != n {
				b.Fatalf("%d checkpoints", len(cps))
			}
		}
	})
}
