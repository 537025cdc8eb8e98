package main

import (
	"context"
	"maps"
	"slices"
	"testing"
)

func TestControllerSelection(t *testing.T) {
	all := func() map[string]func(context.Context) error {
		m := map[string]func(context.Context) error{"events": nil}
		for _, n := range cmControllerNames {
			m[n] = nil
		}
		return m
	}
	for _, tc := range []struct {
		spec string
		want []string // besides events
	}{
		{"*", cmControllerNames},
		{"", nil},
		{"replicaset, deployment,garbagecollector", []string{"deployment", "garbagecollector", "replicaset"}},
		{"*,-nodelifecycle,-resourcequota", slices.DeleteFunc(slices.Clone(cmControllerNames), func(n string) bool {
			return n == "nodelifecycle" || n == "resourcequota"
		})},
		{"-job,*", slices.DeleteFunc(slices.Clone(cmControllerNames), func(n string) bool { return n == "job" })},
	} {
		s := controllerSelection{spec: tc.spec}
		if err := s.parse(); err != nil {
			t.Fatalf("%q: %v", tc.spec, err)
		}
		m := all()
		if err := s.apply(m); err != nil {
			t.Fatalf("%q: apply: %v", tc.spec, err)
		}
		want := append([]string{"events"}, tc.want...)
		slices.Sort(want)
		if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, want) {
			t.Errorf("%q: controllers %v, want %v", tc.spec, got, want)
		}
	}
	for _, bad := range []string{"replicasets", "*,-nope", "-"} {
		s := controllerSelection{spec: bad}
		if err := s.parse(); err == nil {
			t.Errorf("parse accepted %q", bad)
		}
	}
	// A map that has drifted from cmControllerNames is refused either way.
	s := controllerSelection{spec: "*"}
	if err := s.parse(); err != nil {
		t.Fatal(err)
	}
	m := all()
	m["newcontroller"] = nil
	if err := s.apply(m); err == nil {
		t.Error("apply accepted a controller missing from cmControllerNames")
	}
	m = all()
	delete(m, "job")
	if err := s.apply(m); err == nil {
		t.Error("apply accepted a listed controller that is not built")
	}
}
