//go:build failpoints

package failpoint_test

import (
	"strings"
	"testing"

	"github.com/keeldb/keel/internal/failpoint"
)

func TestArmInjectDisarm(t *testing.T) {
	if !failpoint.Enabled {
		t.Fatal("Enabled = false with the failpoints tag")
	}
	for _, n := range failpoint.All() {
		t.Run(string(n), func(t *testing.T) {
			failpoint.Inject(n) // disarmed: returns at once
			if err := failpoint.Arm(n, "1*panic"); err != nil {
				t.Fatalf("Arm: %v", err)
			}
			if got := failpoint.Status()[n]; got != "1*panic" {
				t.Errorf("Status()[%s] = %q, want %q", n, got, "1*panic")
			}
			func() {
				defer func() {
					r := recover()
					if r == nil || !strings.Contains(r.(string), string(n)) {
						t.Errorf("recovered %v, want a failpoint panic naming %s", r, n)
					}
				}()
				failpoint.Inject(n)
			}()
			failpoint.Inject(n) // 1*: only the first evaluation panics
			if err := failpoint.Disarm(n); err != nil {
				t.Fatalf("Disarm: %v", err)
			}
			if err := failpoint.Disarm(n); err != nil {
				t.Fatalf("second Disarm: %v", err)
			}
			if _, ok := failpoint.Status()[n]; ok {
				t.Errorf("%s still armed after Disarm", n)
			}
		})
	}
}

func TestArmUnknownOrBadTermFails(t *testing.T) {
	if err := failpoint.Arm("noSuchFailpoint", "panic"); err == nil {
		t.Error("Arm(noSuchFailpoint) = nil, want an error")
	}
	if err := failpoint.Disarm("noSuchFailpoint"); err == nil {
		t.Error("Disarm(noSuchFailpoint) = nil, want an error")
	}
	if err := failpoint.Arm(failpoint.RaftBeforeSave, "explode(("); err == nil {
		t.Error("Arm with a bad term = nil, want an error")
	}
}

func TestInjectUnknownNamePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Inject of an unregistered name did not panic")
		}
	}()
	failpoint.Inject("noSuchFailpoint")
}
