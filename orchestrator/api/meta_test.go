package api_test

import (
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestLabelSelector(t *testing.T) {
	var none *api.LabelSelector
	sel, err := none.Selector()
	if err != nil || sel.Matches(map[string]string{}) {
		t.Fatalf("nil selector = %v, %v; want one matching nothing", sel, err)
	}
	sel, err = (&api.LabelSelector{}).Selector()
	if err != nil || !sel.Matches(map[string]string{"x": "y"}) {
		t.Fatalf("empty selector = %v, %v; want one matching everything", sel, err)
	}
	ls := &api.LabelSelector{
		MatchLabels: map[string]string{"app": "web"},
		MatchExpressions: []api.LabelSelectorRequirement{
			{Key: "tier", Operator: "In", Values: []string{"front", "edge"}},
			{Key: "env", Operator: "NotIn", Values: []string{"prod"}},
			{Key: "canary", Operator: "DoesNotExist"},
			{Key: "team", Operator: "Exists"},
		},
	}
	sel, err = ls.Selector()
	if err != nil {
		t.Fatal(err)
	}
	if want := "app=web,!canary,env notin (prod),team,tier in (edge,front)"; sel.String() != want {
		t.Errorf("String() = %q, want %q", sel.String(), want)
	}
	for _, tc := range []struct {
		ls   map[string]string
		want bool
	}{
		{map[string]string{"app": "web", "tier": "edge", "team": "a"}, true},
		{map[string]string{"app": "web", "tier": "edge", "team": "a", "env": "prod"}, false},
		{map[string]string{"app": "web", "tier": "edge", "team": "a", "canary": "1"}, false},
		{map[string]string{"app": "web", "tier": "back", "team": "a"}, false},
		{map[string]string{"app": "web", "tier": "edge"}, false},
	} {
		if got := sel.Matches(tc.ls); got != tc.want {
			t.Errorf("Matches(%v) = %v, want %v", tc.ls, got, tc.want)
		}
	}
	bad := &api.LabelSelector{MatchExpressions: []api.LabelSelectorRequirement{{Key: "a", Operator: "Gt", Values: []string{"1"}}}}
	if _, err := bad.Selector(); err == nil {
		t.Error("Gt accepted in a label selector")
	}
	bad = &api.LabelSelector{MatchExpressions: []api.LabelSelectorRequirement{{Key: "a", Operator: "In"}}}
	if _, err := bad.Selector(); err == nil {
		t.Error("In without values accepted")
	}
}

func TestLookupResource(t *testing.T) {
	for _, name := range []string{"pods", "pod", "Pod", "po", "deploy", "deployments", "svc", "endpoints", "ep", "leases", "nodes", "ns"} {
		if _, ok := api.LookupResource(name); !ok {
			t.Errorf("LookupResource(%q) not found", name)
		}
	}
	if r, _ := api.LookupResource("rs"); r.Kind != "ReplicaSet" || r.APIVersion != "apps/v1" || !r.Namespaced {
		t.Errorf("rs = %+v", r)
	}
	if _, ok := api.LookupResource("networkpolicy"); ok {
		t.Error("networkpolicy found")
	}
}
