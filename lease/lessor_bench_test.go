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
