package replicaset

import (
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// TestGroupValue: pods group by owner and exact label set, whatever the map order, and no
// owner's groups are found under another owner's prefix.
func TestGroupValue(t *testing.T) {
	a := groupValue("uid-1", map[string]string{"app": "x", "pod-template-hash": "abc"}, stateReady)
	b := groupValue("uid-1", map[string]string{"pod-template-hash": "abc", "app": "x"}, stateReady)
	if a != b {
		t.Fatalf("same labels, different groups: %q, %q", a, b)
	}
	for _, other := range []string{
		groupValue("uid-1", map[string]string{"app": "x"}, stateReady),
		groupValue("uid-1", map[string]string{"app": "x", "pod-template-hash": "abd"}, stateReady),
		groupValue("uid-2", map[string]string{"app": "x", "pod-template-hash": "abc"}, stateReady),
		groupValue(orphan, map[string]string{"app": "x", "pod-template-hash": "abc"}, stateReady),
		// Key/value boundaries are kept: "a"="bc" is not "ab"="c".
		groupValue("uid-1", map[string]string{"appx": "", "pod-template-hash": "abc"}, stateReady),
		groupValue("uid-1", map[string]string{"app": "x", "pod-template-hash": "abc"}, stateNotReady),
	} {
		if other == a {
			t.Errorf("different pods share the group %q", a)
		}
	}
	if groupValue("uid-1", map[string]string{"a": "bc"}, stateReady) == groupValue("uid-1", map[string]string{"ab": "c"}, stateReady) {
		t.Error("a=bc and ab=c share a group")
	}
}

func TestPodState(t *testing.T) {
	now := api.NewTime(time.Now())
	ready := []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue}}
	for _, tc := range []struct {
		name string
		pod  api.Pod
		want byte
	}{
		{"pending", api.Pod{}, stateNotReady},
		{"running ready", api.Pod{Status: api.PodStatus{Phase: api.PodRunning, Conditions: ready}}, stateReady},
		{"succeeded", api.Pod{Status: api.PodStatus{Phase: api.PodSucceeded}}, stateFinished},
		{"terminating", api.Pod{ObjectMeta: api.ObjectMeta{DeletionTimestamp: &now}, Status: api.PodStatus{Phase: api.PodRunning, Conditions: ready}}, stateTerminating},
		{"deleted and failed", api.Pod{ObjectMeta: api.ObjectMeta{DeletionTimestamp: &now}, Status: api.PodStatus{Phase: api.PodFailed}}, stateDeleted},
	} {
		if got := podState(&tc.pod); got != tc.want {
			t.Errorf("%s: state %c, want %c", tc.name, got, tc.want)
		}
	}
}
