package labels_test

import (
	"testing"

	"github.com/keeldb/keel/orchestrator/labels"
)

// FuzzParse checks that Parse never panics and that what it accepts round-trips through
// String to an equivalent selector.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"a=b,c!=d,e in (x,y),!f", "a", "x notin (a)", "n>3", "a==", "k8s.io/app=web", "(", "a in (,)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := labels.Parse(s)
		if err != nil {
			return
		}
		again, err := labels.Parse(sel.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok but its String %q does not parse: %v", s, sel.String(), err)
		}
		if again.String() != sel.String() {
			t.Fatalf("round trip of %q: %q then %q", s, sel.String(), again.String())
		}
		ls := map[string]string{"a": "b", "e": "x"}
		if sel.Matches(ls) != again.Matches(ls) {
			t.Fatalf("round trip of %q changed matching", s)
		}
	})
}
