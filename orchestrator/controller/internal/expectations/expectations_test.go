package expectations_test

import (
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/controller/internal/expectations"
)

func TestExpectations(t *testing.T) {
	now := time.Unix(0, 0)
	e := expectations.New(func() time.Time { return now }, time.Minute)
	if !e.Satisfied("a") {
		t.Fatal("no expectations: want satisfied")
	}
	e.ExpectAdds("a", 2)
	e.ExpectDeletes("a", []string{"ns/p"})
	e.ObserveAdd("a")
	e.ObserveAdd("a")
	if e.Satisfied("a") || !e.PendingDelete("a", "ns/p") {
		t.Fatal("delete still pending: want unsatisfied")
	}
	e.ObserveDelete("a", "ns/p")
	if !e.Satisfied("a") {
		t.Fatal("all observed: want satisfied")
	}
	e.ExpectAdds("b", 1)
	now = now.Add(2 * time.Minute)
	if !e.Satisfied("b") {
		t.Fatal("expired: want satisfied")
	}
}

func TestPendingDeletes(t *testing.T) {
	e := expectations.New(time.Now, time.Minute)
	if got := e.PendingDeletes("rs"); got != nil {
		t.Fatalf("no expectations: %v", got)
	}
	e.ExpectDeletes("rs", []string{"ns/a", "ns/b"})
	e.ObserveDelete("rs", "ns/a")
	got := e.PendingDeletes("rs")
	if len(got) != 1 || !got["ns/b"] || got["ns/a"] {
		t.Fatalf("pending %v, want ns/b only", got)
	}
	got["ns/c"] = true // a copy: the expectations are not changed
	if e.PendingDelete("rs", "ns/c") {
		t.Fatal("PendingDeletes returned the expectations' own set")
	}
}
