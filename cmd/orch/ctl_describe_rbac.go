package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
)

// policyRules writes kubectl's describe table of a role's rules: one row per resource
// ("replicasets.apps/scale") and resource names, or per non-resource URL set, its verbs merged,
// sorted by resource.
func (d *describer) policyRules(w *describeWriter, m *api.ObjectMeta, namespaced bool, rules []api.PolicyRule) {
	d.meta(w, m, namespaced)
	type row struct {
		resource    string
		urls, names []string
		verbs       []string
	}
	var rows []*row
	add := func(resource string, urls, names, verbs []string) {
		for _, r := range rows {
			if r.resource == resource && slices.Equal(r.urls, urls) && slices.Equal(r.names, names) {
				for _, v := range verbs {
					if !slices.Contains(r.verbs, v) {
						r.verbs = append(r.verbs, v)
					}
				}
				return
			}
		}
		rows = append(rows, &row{resource, urls, names, slices.Clone(verbs)})
	}
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			add("", r.NonResourceURLs, nil, r.Verbs)
		}
		for _, rs := range r.Resources {
			for _, g := range r.APIGroups {
				base, sub, isSub := strings.Cut(rs, "/")
				if g != "" {
					base += "." + g
				}
				if isSub {
					base += "/" + sub
				}
				add(base, nil, r.ResourceNames, r.Verbs)
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b *row) int { return strings.Compare(a.resource, b.resource) })
	w.line(0, "PolicyRule:")
	w.line(1, "Resources\tNon-Resource URLs\tResource Names\tVerbs")
	w.line(1, "---------\t-----------------\t--------------\t-----")
	for _, r := range rows {
		w.line(1, "%s\t%s\t%s\t%s", r.resource, fmtList(r.urls), fmtList(r.names), fmtList(r.verbs))
	}
}

func fmtList(vs []string) string { return fmt.Sprintf("%v", append([]string{}, vs...)) }

// binding writes kubectl's describe of a RoleBinding or ClusterRoleBinding.
func (d *describer) binding(w *describeWriter, m *api.ObjectMeta, namespaced bool, ref api.RoleRef, subjects []api.Subject) {
	d.meta(w, m, namespaced)
	w.line(0, "Role:")
	w.line(1, "Kind:\t%s", ref.Kind)
	w.line(1, "Name:\t%s", ref.Name)
	w.line(0, "Subjects:")
	w.line(1, "Kind\tName\tNamespace")
	w.line(1, "----\t----\t---------")
	for _, s := range subjects {
		w.line(1, "%s\t%s\t%s", s.Kind, s.Name, s.Namespace)
	}
}
