package replicaset

import "testing"

// TestGroupValue: pods group by owner and exact label set, whatever the map order, and no
// owner's groups are found under another owner's prefix.
func TestGroupValue(t *testing.T) {
	a := groupValue("uid-1", map[string]string{"app": "x", "pod-template-hash": "abc"})
	b := groupValue("uid-1", map[string]string{"pod-template-hash": "abc", "app": "x"})
	if a != b {
		t.Fatalf("same labels, different groups: %q, %q", a, b)
	}
	for _, other := range []string{
		groupValue("uid-1", map[string]string{"app": "x"}),
		groupValue("uid-1", map[string]string{"app": "x", "pod-template-hash": "abd"}),
		groupValue("uid-2", map[string]string{"app": "x", "pod-template-hash": "abc"}),
		groupValue(orphan, map[string]string{"app": "x", "pod-template-hash": "abc"}),
		// Key/value boundaries are kept: "a"="bc" is not "ab"="c".
		groupValue("uid-1", map[string]string{"appx": "", "pod-template-hash": "abc"}),
	} {
		if other == a {
			t.Errorf("different pods share the group %q", a)
		}
	}
	if groupValue("uid-1", map[string]string{"a": "bc"}) == groupValue("uid-1", map[string]string{"ab": "c"}) {
		t.Error("a=bc and ab=c share a group")
	}
}
