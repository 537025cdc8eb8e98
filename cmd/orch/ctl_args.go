package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"
)

// verbFunc is what a verb's flag constructor returns: the command itself.
type verbFunc = func(ctx context.Context, c *ctl, pos []string) error

// timed bounds a whole verb by --command-timeout, so that an unreachable store fails the
// command instead of keeping it waiting forever.
func timed(mk func(fs *flag.FlagSet) verbFunc) func(fs *flag.FlagSet) verbFunc {
	return func(fs *flag.FlagSet) verbFunc {
		do := mk(fs)
		return func(ctx context.Context, c *ctl, pos []string) error {
			ctx, cancel := c.bounded(ctx)
			defer cancel()
			return do(ctx, c, pos)
		}
	}
}

// bounded returns ctx limited by --command-timeout (unlimited when it is 0). Streaming verbs
// use it for their individual requests.
func (c *ctl) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// target is one object named on the command line.
type target struct {
	res  api.Resource
	name string
}

// parseTargets reads the object names kubectl accepts: "TYPE NAME..." or "TYPE/NAME..."
// (TYPE as plural, kind or short name). With allowBare a lone "TYPE" gives one target with
// an empty name (every object of the type).
func parseTargets(pos []string, allowBare bool) ([]target, error) {
	if len(pos) == 0 {
		return nil, errUsage
	}
	if !strings.Contains(pos[0], "/") {
		r, err := lookupResource(pos[0])
		if err != nil {
			return nil, err
		}
		if len(pos) == 1 {
			if !allowBare {
				return nil, fmt.Errorf("you must specify the name of the %s", strings.ToLower(r.Kind))
			}
			return []target{{res: r}}, nil
		}
		var out []target
		for _, n := range pos[1:] {
			if strings.Contains(n, "/") {
				return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'orch ctl get resource/<resource_name>' instead of 'orch ctl get resource resource/<resource_name>'")
			}
			out = append(out, target{res: r, name: n})
		}
		return out, nil
	}
	var out []target
	for _, p := range pos {
		kind, name, ok := strings.Cut(p, "/")
		if !ok || name == "" {
			return nil, fmt.Errorf("arguments in resource/name form must have a single resource and name")
		}
		r, err := lookupResource(kind)
		if err != nil {
			return nil, err
		}
		out = append(out, target{res: r, name: name})
	}
	return out, nil
}

// lookupResource finds a resource by plural, kind or short name, optionally qualified by
// its API group as kubectl allows ("deployments.apps", "deployment.apps").
func lookupResource(name string) (api.Resource, error) {
	if r, ok := api.LookupResource(name); ok {
		return r, nil
	}
	if base, group, ok := strings.Cut(name, "."); ok {
		if r, found := api.LookupResource(base); found && strings.HasPrefix(r.APIVersion, group+"/") {
			return r, nil
		}
	}
	return api.Resource{}, fmt.Errorf("the server doesn't have a resource type %q", name)
}

// oneTarget parses exactly one object of one of the resources in want (by resource name).
func oneTarget(pos []string, want ...string) (target, error) {
	ts, err := parseTargets(pos, false)
	if err != nil {
		return target{}, err
	}
	if len(ts) != 1 {
		return target{}, fmt.Errorf("expected one object, got %d", len(ts))
	}
	for _, w := range want {
		if ts[0].res.Name == w {
			return ts[0], nil
		}
	}
	return target{}, fmt.Errorf("%s are not supported by this command (only %s)", ts[0].res.Name, strings.Join(want, ", "))
}

// podsOf returns the pods a workload's selector matches in its namespace.
func podsOf(ctx context.Context, st *registry.Stores, ns string, sel *api.LabelSelector) ([]*api.Pod, error) {
	s, err := sel.Selector()
	if err != nil {
		return nil, err
	}
	return listPods(ctx, st, ns, s)
}

func listPods(ctx context.Context, st *registry.Stores, ns string, sel labels.Selector) ([]*api.Pod, error) {
	l, err := st.Pods.List(ctx, registry.ListOptions{Namespace: ns, Selector: sel})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}
