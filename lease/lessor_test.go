package lease

import (
	"errors"
	"slices"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTest() (*Lessor, *clock) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	return New(Config{Now: c.now}), c
}

func TestGrantRevokeAttach(t *testing.T) {
	l, _ := newTest()
	if err := l.Grant(1, 10); err != nil {
		t.Fatal(err)
	}
	if err := l.Grant(1, 10); !errors.Is(err, ErrExists) {
		t.Fatalf("second grant: got %v, want ErrExists", err)
	}
	if err := l.Grant(2, MaxTTL+1); !errors.Is(err, ErrTTLTooLarge) {
		t.Fatalf("huge ttl: got %v, want ErrTTLTooLarge", err)
	}
	for _, k := range []string{"b", "a", "c"} {
		if err := l.Attach(1, k); err != nil {
			t.Fatal(err)
		}
	}
	l.Detach(1, "c")
	if err := l.Attach(9, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("attach to unknown lease: %v", err)
	}
	keys, err := l.Revoke(1)
	if err != nil || !slices.Equal(keys, []string{"a", "b"}) {
		t.Fatalf("revoke: keys %v err %v", keys, err)
	}
	if _, err := l.Revoke(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
	if l.Exists(1) {
		t.Fatal("revoked lease still exists")
	}
}

func TestOnlyAPrimaryExpiresLeases(t *testing.T) {
	l, c := newTest()
	_ = l.Grant(1, 5)
	c.advance(time.Hour)
	if got := l.Expired(10); len(got) != 0 {
		t.Fatalf("non-primary reported expiries %v", got)
	}
	if _, _, err := l.Renew(1); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("renew on non-primary: %v", err)
	}
	l.Promote(time.Second)
	c.advance(5 * time.Second)
	if got := l.Expired(10); len(got) != 0 {
		t.Fatalf("expired before TTL+extension: %v", got)
	}
	c.advance(time.Second)
	if got := l.Expired(10); !slices.Equal(got, []ID{1}) {
		t.Fatalf("after TTL+extension: %v", got)
	}
	l.Demote()
	if got := l.Expired(10); len(got) != 0 {
		t.Fatalf("demoted lessor reported expiries %v", got)
	}
}

func TestRenewPushesTheDeadline(t *testing.T) {
	l, c := newTest()
	l.Promote(0)
	_ = l.Grant(1, 5)
	for range 10 {
		c.advance(4 * time.Second)
		ttl, _, err := l.Renew(1)
		if err != nil || ttl != 5 {
			t.Fatalf("renew: ttl %d err %v", ttl, err)
		}
	}
	if got := l.Expired(10); len(got) != 0 {
		t.Fatalf("renewed lease expired: %v", got)
	}
	info, err := l.Lookup(1)
	if err != nil || info.Remaining != 5 || info.TTL != 5 {
		t.Fatalf("lookup: %+v %v", info, err)
	}
	c.advance(5 * time.Second)
	if _, _, err := l.Renew(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("renew past the deadline: %v, want ErrNotFound", err)
	}
}

func TestPromoteRestoresCheckpointedRemainingTTL(t *testing.T) {
	l, c := newTest()
	_ = l.Grant(1, 3600)
	if _, err := l.Checkpoint(1, 60); err != nil {
		t.Fatal(err)
	}
	l.Promote(2 * time.Second)
	c.advance(61 * time.Second)
	if got := l.Expired(10); len(got) != 0 {
		t.Fatalf("expired before remaining TTL + extension: %v", got)
	}
	c.advance(time.Second)
	if got := l.Expired(10); !slices.Equal(got, []ID{1}) {
		t.Fatalf("checkpointed lease should expire: %v", got)
	}
}

func TestExpiredIsOrderedAndLimited(t *testing.T) {
	l, c := newTest()
	l.Promote(0)
	for id := ID(1); id <= 5; id++ {
		_ = l.Grant(id, 10-id) // lease 5 expires first
	}
	c.advance(time.Hour)
	if got := l.Expired(3); !slices.Equal(got, []ID{5, 4, 3}) {
		t.Fatalf("expired order: %v", got)
	}
}
