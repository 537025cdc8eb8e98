package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// resourceQuota writes kubectl's describe of a ResourceQuota: used and hard per resource.
func (d *describer) resourceQuota(w *describeWriter, q *api.ResourceQuota) {
	w.line(0, "Name:\t%s", q.Name)
	w.line(0, "Namespace:\t%s", q.Namespace)
	w.line(0, "Resource\tUsed\tHard")
	w.line(0, "--------\t----\t----")
	hard := q.Status.Hard
	if len(hard) == 0 {
		hard = q.Spec.Hard
	}
	for _, k := range sortedMapKeys(hard) {
		used := q.Status.Used[k]
		if used == "" {
			used = "0"
		}
		w.line(0, "%s\t%s\t%s", k, used, hard[k])
	}
}

// limitRange writes kubectl's describe of a LimitRange: one row per type and resource.
func (d *describer) limitRange(w *describeWriter, lr *api.LimitRange) {
	w.line(0, "Name:\t%s", lr.Name)
	w.line(0, "Namespace:\t%s", lr.Namespace)
	w.line(0, "Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\tMax Limit/Request Ratio")
	w.line(0, "----\t--------\t---\t---\t---------------\t-------------\t-----------------------")
	for _, it := range lr.Spec.Limits {
		names := map[string]bool{}
		for _, rl := range []api.ResourceList{it.Min, it.Max, it.Default, it.DefaultRequest, it.MaxLimitRequestRatio} {
			for k := range rl {
				names[k] = true
			}
		}
		keys := make([]string, 0, len(names))
		for k := range names {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		val := func(rl api.ResourceList, k string) string {
			if v, ok := rl[k]; ok {
				return string(v)
			}
			return "-"
		}
		for _, k := range keys {
			w.line(0, "%s\t%s\t%s\t%s\t%s\t%s\t%s", it.Type, k, val(it.Min, k), val(it.Max, k),
				val(it.DefaultRequest, k), val(it.Default, k), val(it.MaxLimitRequestRatio, k))
		}
	}
}

// createQuota is `orch ctl create quota NAME --hard=pods=10,cpu=2 [-n NS]`, as kubectl's.
func createQuota(ctx context.Context, c *ctl, ns string, pos []string, hard string) error {
	if len(pos) != 2 {
		fmt.Fprintln(c.stderr, "usage: orch ctl create quota NAME --hard=pods=10,cpu=2 [-n NS]")
		return errUsage
	}
	q := &api.ResourceQuota{ObjectMeta: api.ObjectMeta{Name: pos[1], Namespace: ns}}
	if hard != "" {
		q.Spec.Hard = api.ResourceList{}
		for _, kv := range strings.Split(hard, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("invalid resource specification: %s", kv)
			}
			q.Spec.Hard[k] = api.Quantity(v)
		}
	}
	if _, err := registry.New[api.ResourceQuota](c.cli, registry.Config{}).Create(ctx, q); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "resourcequota/%s created\n", q.Name)
	return nil
}
