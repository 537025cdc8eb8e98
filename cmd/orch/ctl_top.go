package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"
)

// topFlags is `orch ctl top pods|nodes`: the usage the agents last reported as PodMetrics
// and NodeMetrics, in kubectl top's columns.
func topFlags(fs *flag.FlagSet) verbFunc {
	ns := namespaceFlag(fs)
	all := fs.Bool("A", false, "list pods of all namespaces")
	fs.BoolVar(all, "all-namespaces", false, "list pods of all namespaces")
	sel := fs.String("l", "", "label selector")
	fs.StringVar(sel, "selector", "", "label selector")
	sortBy := fs.String("sort-by", "", "sort by cpu or memory")
	return func(ctx context.Context, c *ctl, pos []string) error {
		if len(pos) < 1 || len(pos) > 2 {
			fmt.Fprintln(c.stderr, "usage: orch ctl top pods|nodes [NAME] [-n NS | -A] [-l SELECTOR] [--sort-by cpu|memory]")
			return errUsage
		}
		selector, err := labels.Parse(*sel)
		if err != nil {
			return err
		}
		name := ""
		if len(pos) == 2 {
			name = pos[1]
		}
		if *sortBy != "" && *sortBy != "cpu" && *sortBy != "memory" {
			return fmt.Errorf("--sort-by accepts only cpu or memory")
		}
		switch pos[0] {
		case "pod", "pods", "po":
			listNS := *ns
			if *all {
				listNS = ""
			}
			return topPods(ctx, c, listNS, name, selector, *sortBy)
		case "node", "nodes", "no":
			return topNodes(ctx, c, name, selector, *sortBy)
		}
		return fmt.Errorf("top: unknown resource %q (want pods or nodes)", pos[0])
	}
}

// topRow is one line of top's output.
type topRow struct {
	ns, name           string
	cpuMilli, memBytes int64
	cpuPct, memPct     string
}

func sumUsage(rows ...api.ResourceList) (cpuMilli, memBytes int64) {
	for _, u := range rows {
		if v, err := api.ParseQuantity(string(u["cpu"])); err == nil {
			cpuMilli += v
		}
		if v, err := api.ParseQuantity(string(u["memory"])); err == nil {
			memBytes += v / 1000
		}
	}
	return cpuMilli, memBytes
}

func topPods(ctx context.Context, c *ctl, ns, name string, sel labels.Selector, sortBy string) error {
	s := registry.New[api.PodMetrics](c.cli, registry.Config{})
	var items []*api.PodMetrics
	if name != "" {
		m, err := s.Get(ctx, ns, name)
		if err != nil {
			if isNotFound(err) {
				return fmt.Errorf("podmetrics.metrics.k8s.io %q not found", name)
			}
			return err
		}
		items = append(items, m)
	} else {
		l, err := s.List(ctx, registry.ListOptions{Namespace: ns, Selector: sel})
		if err != nil {
			return err
		}
		items = l.Items
	}
	if len(items) == 0 {
		if ns == "" {
			fmt.Fprintln(c.stderr, "No resources found")
		} else {
			fmt.Fprintf(c.stderr, "No resources found in %s namespace.\n", ns)
		}
		return nil
	}
	rows := make([]topRow, 0, len(items))
	for _, m := range items {
		var us []api.ResourceList
		for _, ct := range m.Containers {
			us = append(us, ct.Usage)
		}
		cpu, mem := sumUsage(us...)
		rows = append(rows, topRow{ns: m.Namespace, name: m.Name, cpuMilli: cpu, memBytes: mem})
	}
	sortTop(rows, sortBy)
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 3, ' ', 0)
	hdr := []string{"NAME", "CPU(cores)", "MEMORY(bytes)"}
	if ns == "" {
		hdr = append([]string{"NAMESPACE"}, hdr...)
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	for _, r := range rows {
		cells := []string{r.name, fmt.Sprintf("%dm", r.cpuMilli), fmt.Sprintf("%dMi", r.memBytes>>20)}
		if ns == "" {
			cells = append([]string{r.ns}, cells...)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func topNodes(ctx context.Context, c *ctl, name string, sel labels.Selector, sortBy string) error {
	st := registry.NewStores(c.cli, registry.Config{})
	s := registry.New[api.NodeMetrics](c.cli, registry.Config{})
	l, err := s.List(ctx, registry.ListOptions{Selector: sel})
	if err != nil {
		return err
	}
	nodes, err := st.Nodes.List(ctx, registry.ListOptions{})
	if err != nil {
		return err
	}
	alloc := map[string]api.ResourceList{}
	for _, n := range nodes.Items {
		alloc[n.Name] = n.Status.Allocatable
	}
	var rows []topRow
	for _, m := range l.Items {
		if name != "" && m.Name != name {
			continue
		}
		cpu, mem := sumUsage(m.Usage)
		r := topRow{name: m.Name, cpuMilli: cpu, memBytes: mem, cpuPct: "<unknown>", memPct: "<unknown>"}
		if a, ok := alloc[m.Name]; ok {
			acpu, amem := sumUsage(a)
			if acpu > 0 {
				r.cpuPct = fmt.Sprintf("%d%%", cpu*100/acpu)
			}
			if amem > 0 {
				r.memPct = fmt.Sprintf("%d%%", mem*100/amem)
			}
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		if name != "" {
			return fmt.Errorf("nodemetrics.metrics.k8s.io %q not found", name)
		}
		return fmt.Errorf("metrics not available yet")
	}
	sortTop(rows, sortBy)
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCPU(cores)\tCPU%\tMEMORY(bytes)\tMEMORY%")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%dm\t%s\t%dMi\t%s\n", r.name, r.cpuMilli, r.cpuPct, r.memBytes>>20, r.memPct)
	}
	return tw.Flush()
}

// sortTop orders rows by name, or by descending cpu or memory as kubectl's --sort-by.
func sortTop(rows []topRow, by string) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		switch by {
		case "cpu":
			if a.cpuMilli != b.cpuMilli {
				return a.cpuMilli > b.cpuMilli
			}
		case "memory":
			if a.memBytes != b.memBytes {
				return a.memBytes > b.memBytes
			}
		}
		if a.ns != b.ns {
			return a.ns < b.ns
		}
		return a.name < b.name
	})
}
