package labels_test

import (
	"testing"

	"github.com/keeldb/keel/orchestrator/labels"
)

func TestParseAndMatch(t *testing.T) {
	sel, err := labels.Parse("a=b,c!=d,e in (x,y),!f")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ls   map[string]string
		want bool
	}{
		{"all satisfied", map[string]string{"a": "b", "e": "x"}, true},
		{"c differs", map[string]string{"a": "b", "c": "z", "e": "y"}, true},
		{"c equals d", map[string]string{"a": "b", "c": "d", "e": "x"}, false},
		{"a missing", map[string]string{"e": "x"}, false},
		{"e not in set", map[string]string{"a": "b", "e": "z"}, false},
		{"e missing", map[string]string{"a": "b"}, false},
		{"f present", map[string]string{"a": "b", "e": "x", "f": ""}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := sel.Matches(tc.ls); got != tc.want {
				t.Errorf("Matches(%v) = %v, want %v", tc.ls, got, tc.want)
			}
		})
	}
}

func TestParseForms(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"", ""},
		{"a", "a"},
		{"a==b", "a=b"},
		{"  a = b ,  c  ", "a=b,c"},
		{"x notin (z, y, y)", "x notin (y,z)"},
		{"app.kubernetes.io/name=web", "app.kubernetes.io/name=web"},
		{"a=", "a="},
		{"n>3,m<5", "m<5,n>3"},
		{"tier in (web),!canary", "!canary,tier in (web)"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			sel, err := labels.Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got := sel.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
			again, err := labels.Parse(sel.String())
			if err != nil || again.String() != sel.String() {
				t.Fatalf("round trip of %q = %q, %v", sel.String(), again.String(), err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"a=b,", ",a", "a in x", "a in (x", "a in ()", "a in (x,)", "a b", "!", "a=b=c",
		"-a=b", "a=-b", "a/b/c=d", "n>x", "a=(b)", "a in (x y)", "Bad_Prefix/a=b",
	} {
		t.Run(in, func(t *testing.T) {
			if sel, err := labels.Parse(in); err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", in, sel.String())
			}
		})
	}
}

func TestEverythingNothing(t *testing.T) {
	ls := map[string]string{"a": "b"}
	if !labels.Everything().Matches(ls) || !labels.Everything().Matches(nil) {
		t.Error("Everything does not match")
	}
	if labels.Nothing().Matches(ls) || labels.Nothing().Matches(nil) {
		t.Error("Nothing matches")
	}
	if !labels.SelectorFromSet(ls).Matches(map[string]string{"a": "b", "c": "d"}) {
		t.Error("SelectorFromSet does not match a superset")
	}
	if labels.SelectorFromSet(ls).Matches(map[string]string{"a": "c"}) {
		t.Error("SelectorFromSet matches a different value")
	}
}
