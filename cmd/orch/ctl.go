package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"
)

// ctl carries what every ctl verb needs.
type ctl struct {
	cli     *clientv3.Client
	clients map[string]resourceClient
	stdout  io.Writer
	stderr  io.Writer
	now     func() time.Time
	// timeout is --command-timeout: the bound of a command that does not stream (see timed).
	timeout time.Duration
}

func runCtl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage) // asked for: not an error, as kubectl --help
		return nil
	}
	if a := args[0]; strings.HasPrefix(a, "-") {
		verb, rest, err := hoistCommand(args) // "orch ctl --endpoints X -n NS get pods"
		if err != nil {
			fmt.Fprintf(stderr, "%v\n%s", err, usage)
			return errUsage
		}
		if verb == "" {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		args = append([]string{verb}, rest...)
	}
	// Verbs wrapped in timed end after --command-timeout; the others stream (get -w, logs -f,
	// rollout status, drain) and bound only their requests, or honour their own --timeout.
	verbs := map[string]func(fs *flag.FlagSet) func(ctx context.Context, c *ctl, pos []string) error{
		"apply": timed(applyFlags), "get": getFlags, "delete": deleteFlags, "scale": timed(scaleFlags),
		"describe": timed(describeFlags), "rollout": rolloutFlags, "logs": logsFlags,
		"cordon": timed(cordonFlags(true)), "uncordon": timed(cordonFlags(false)), "drain": drainFlags,
		"create": timed(createFlags),
	}
	verbs["top"], verbs["autoscale"] = timed(topFlags), timed(autoscaleFlags)
	mk, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "unknown ctl command %q\n%s", args[0], usage)
		return errUsage
	}
	var g globals
	fs := newFlagSet("orch ctl "+args[0], stderr, &g)
	do := mk(fs)
	if fs.Lookup("n") == nil {
		// -n is global in kubectl: verbs about cluster-scoped objects ignore it.
		fs.String("n", "", "namespace (ignored by this command)")
		fs.String("namespace", "", "namespace (ignored by this command)")
	}
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	cli, err := g.client()
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	c := &ctl{cli: cli, clients: clients(cli), stdout: stdout, stderr: stderr, now: time.Now, timeout: g.commandTimeout}
	regCfg, err := registryConfig(g.encryptionConfig)
	if err != nil {
		return err
	}
	for _, rc := range configClients(cli, regCfg) {
		c.clients[rc.resource().Name] = rc
	}
	return do(ctx, c, pos)
}

// lookup finds the client of a resource named as kubectl accepts it (plural, kind, short).
func (c *ctl) lookup(name string) (resourceClient, error) {
	r, err := lookupResource(name)
	if err != nil {
		return nil, err
	}
	return c.clients[r.Name], nil
}

func applyFlags(fs *flag.FlagSet) func(ctx context.Context, c *ctl, pos []string) error {
	file := fs.String("f", "", "manifest file (\"-\" = stdin)")
	ns := fs.String("n", "", "namespace of namespaced objects whose manifest names none")
	fs.StringVar(ns, "namespace", "", "namespace of namespaced objects whose manifest names none")
	return func(ctx context.Context, c *ctl, pos []string) error {
		if *file == "" || len(pos) > 0 {
			fmt.Fprintln(c.stderr, "usage: orch ctl apply -f FILE")
			return errUsage
		}
		var r io.Reader = os.Stdin
		if *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				return err
			}
			defer func() { _ = f.Close() }()
			r = f
		}
		objs, err := api.DecodeManifests(r)
		if err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		for _, obj := range objs {
			if m := obj.Meta(); *ns != "" && api.ResourceOf(obj).Namespaced && m.Namespace != *ns {
				// Decoding defaults an absent namespace to "default".
				if m.Namespace != "default" {
					return fmt.Errorf("the namespace from the provided object %q does not match the namespace %q", m.Namespace, *ns)
				}
				m.Namespace = *ns
			}
		}
		for _, obj := range objs {
			verb, err := c.apply(ctx, obj)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s/%s %s\n", qualifiedKind(api.ResourceOf(obj)), obj.Meta().Name, verb)
		}
		return nil
	}
}

// apply creates obj or, when it exists, replaces its spec, labels and annotations (keeping
// what controllers own: status, ownerReferences, finalizers, an allocated cluster IP). It
// returns "created", "configured" or "unchanged".
func (c *ctl) apply(ctx context.Context, obj api.Object) (string, error) {
	rc := c.clients[api.ResourceOf(obj).Name]
	m := obj.Meta()
	for attempt := 0; ; attempt++ {
		cur, err := rc.get(ctx, m.Namespace, m.Name)
		if errors.Is(err, registry.ErrNotFound) {
			if _, err = rc.create(ctx, obj); errors.Is(err, registry.ErrAlreadyExists) && attempt < 5 {
				continue
			}
			if err != nil {
				return "", err
			}
			return "created", nil
		}
		if err != nil {
			return "", err
		}
		next := api.DeepCopy(obj)
		nm, cm := next.Meta(), cur.Meta()
		nm.ResourceVersion = cm.ResourceVersion
		if nm.OwnerReferences == nil {
			nm.OwnerReferences = cm.OwnerReferences
		}
		if nm.Finalizers == nil {
			nm.Finalizers = cm.Finalizers
		}
		nm.DeletionTimestamp = cm.DeletionTimestamp
		if svc, ok := next.(*api.Service); ok && svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = cur.(*api.Service).Spec.ClusterIP
			svc.Spec.ClusterIPs = cur.(*api.Service).Spec.ClusterIPs
		}
		out, err := rc.update(ctx, next)
		if errors.Is(err, registry.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return "", err
		}
		if out.Meta().ResourceVersion == cm.ResourceVersion {
			return "unchanged", nil
		}
		return "configured", nil
	}
}

func getFlags(fs *flag.FlagSet) func(ctx context.Context, c *ctl, pos []string) error {
	ns := namespaceFlag(fs)
	all := fs.Bool("A", false, "list across all namespaces")
	fs.BoolVar(all, "all-namespaces", false, "list across all namespaces")
	sel := fs.String("l", "", "label selector")
	fs.StringVar(sel, "selector", "", "label selector")
	out := fs.String("o", "", "output format: wide, yaml, json or name")
	fs.StringVar(out, "output", "", "output format: wide, yaml, json or name")
	watch := fs.Bool("w", false, "after listing, watch for changes")
	fs.BoolVar(watch, "watch", false, "after listing, watch for changes")
	watchOnly := fs.Bool("watch-only", false, "watch for changes without listing first")
	return func(ctx context.Context, c *ctl, pos []string) error {
		if !*watch && !*watchOnly {
			// Without a deadline an unreachable store would keep the command waiting forever.
			var cancel context.CancelFunc
			ctx, cancel = c.bounded(ctx)
			defer cancel()
		}
		switch *out {
		case "", "wide", "yaml", "json", "name":
		default:
			return fmt.Errorf("unsupported output format %q (want wide, yaml, json or name)", *out)
		}
		if len(pos) == 0 || len(pos) > 2 {
			fmt.Fprintln(c.stderr, "usage: orch ctl get RESOURCE [NAME] [-n NS | -A] [-l SELECTOR] [-o wide|yaml|json|name] [-w | --watch-only]")
			return errUsage
		}
		selector, err := labels.Parse(*sel)
		if err != nil {
			return err
		}
		if pos[0] == "all" || strings.Contains(pos[0], ",") {
			// "all" is kubectl's category; "jobs,cronjobs" lists several types in one go.
			names := allCategory
			if pos[0] != "all" {
				names = nil
				for _, n := range strings.Split(pos[0], ",") {
					rc, err := c.lookup(n)
					if err != nil {
						return err
					}
					names = append(names, rc.resource().Name)
				}
			}
			if *watch || *watchOnly {
				return fmt.Errorf("watch is only supported on individual resources and resource collections, but %d resources were found", len(names))
			}
			if len(pos) == 2 {
				return errors.New("a name cannot be given with several resource types (use TYPE/NAME)")
			}
			return c.getMany(ctx, names, *ns, *all, selector, *out)
		}
		rc, err := c.lookup(pos[0])
		if err != nil {
			return err
		}
		if *watch || *watchOnly {
			o := watchOptions{namespace: *ns, allNamespaces: *all, selector: selector, format: *out, watchOnly: *watchOnly}
			if len(pos) == 2 {
				o.name = pos[1]
			}
			return c.watchGet(ctx, rc, o)
		}
		res := rc.resource()
		if len(pos) == 2 {
			obj, err := rc.get(ctx, *ns, pos[1])
			if err != nil {
				return err
			}
			return c.print(res, []api.Object{obj}, *out, false, true)
		}
		listNS := *ns
		if *all || !res.Namespaced {
			listNS = ""
		}
		objs, err := rc.list(ctx, listNS, selector)
		if err != nil {
			return err
		}
		if len(objs) == 0 && (*out == "" || *out == "wide") {
			if listNS == "" {
				fmt.Fprintln(c.stderr, "No resources found")
			} else {
				fmt.Fprintf(c.stderr, "No resources found in %s namespace.\n", listNS)
			}
			return nil
		}
		return c.print(res, objs, *out, *all && res.Namespaced, false)
	}
}

// print writes objs in the output format; single is a get by name (a bare object, not a
// List, for json and yaml).
func (c *ctl) print(res api.Resource, objs []api.Object, format string, withNamespace, single bool) error {
	switch format {
	case "json", "yaml":
		if single {
			api.SetTypeMeta(objs[0])
			return printStructured(c.stdout, format, objs[0])
		}
		return printStructured(c.stdout, format, newList(objs))
	case "name":
		for _, o := range objs {
			fmt.Fprintf(c.stdout, "%s/%s\n", qualifiedKind(res), o.Meta().Name)
		}
		return nil
	}
	return printTable(c.stdout, res.Name, objs, format == "wide", withNamespace, "", c.now())
}

// allCategory is what kubectl get all lists, in its order.
var allCategory = []string{"pods", "services", "daemonsets", "deployments", "replicasets", "statefulsets",
	"replicationcontrollers", "horizontalpodautoscalers", "cronjobs", "jobs"}

// getMany prints the objects of several resources (kubectl get all, or get TYPE1,TYPE2), each
// resource's rows under their own header and prefixed with the kind, as kubectl does.
func (c *ctl) getMany(ctx context.Context, names []string, ns string, allNS bool, sel labels.Selector, format string) error {
	if allNS {
		ns = ""
	}
	var everything []api.Object
	first := true
	for _, name := range names {
		rc := c.clients[name]
		listNS := ns
		if !rc.resource().Namespaced {
			listNS = ""
		}
		objs, err := rc.list(ctx, listNS, sel)
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			continue
		}
		switch format {
		case "json", "yaml":
			everything = append(everything, objs...)
			continue
		case "name":
			if err := c.print(rc.resource(), objs, format, false, false); err != nil {
				return err
			}
			continue
		}
		if !first {
			fmt.Fprintln(c.stdout)
		}
		first = false
		prefix := qualifiedKind(rc.resource()) + "/"
		if err := printTable(c.stdout, name, objs, format == "wide", allNS && rc.resource().Namespaced, prefix, c.now()); err != nil {
			return err
		}
	}
	if format == "json" || format == "yaml" {
		return printStructured(c.stdout, format, newList(everything))
	}
	if first && format != "name" && format != "json" && format != "yaml" {
		if ns == "" {
			fmt.Fprintln(c.stderr, "No resources found")
		} else {
			fmt.Fprintf(c.stderr, "No resources found in %s namespace.\n", ns)
		}
	}
	return nil
}

func namespaceFlag(fs *flag.FlagSet) *string {
	ns := fs.String("n", "default", "namespace")
	fs.StringVar(ns, "namespace", "default", "namespace")
	return ns
}

func scaleFlags(fs *flag.FlagSet) func(ctx context.Context, c *ctl, pos []string) error {
	ns := namespaceFlag(fs)
	replicas := fs.Int("replicas", -1, "the new replica count")
	return func(ctx context.Context, c *ctl, pos []string) error {
		if len(pos) == 1 {
			if kind, name, ok := strings.Cut(pos[0], "/"); ok {
				pos = []string{kind, name}
			}
		}
		if len(pos) != 2 || *replicas < 0 {
			fmt.Fprintln(c.stderr, "usage: orch ctl scale deployment|replicaset|statefulset|rc NAME --replicas N [-n NS]")
			return errUsage
		}
		r, ok := api.LookupResource(pos[0])
		if !ok {
			return fmt.Errorf("the server doesn't have a resource type %q", pos[0])
		}
		n := int32(*replicas)
		st := registry.NewStores(c.cli, registry.Config{})
		var err error
		switch r.Name {
		case "deployments":
			_, err = st.Deployments.GuaranteedUpdate(ctx, *ns, pos[1], func(d *api.Deployment) (*api.Deployment, error) {
				d.Spec.Replicas = &n
				return d, nil
			})
		case "replicasets":
			_, err = st.ReplicaSets.GuaranteedUpdate(ctx, *ns, pos[1], func(rs *api.ReplicaSet) (*api.ReplicaSet, error) {
				rs.Spec.Replicas = &n
				return rs, nil
			})
		case "statefulsets":
			err = scaleStatefulSet(ctx, st, *ns, pos[1], n)
		case "replicationcontrollers":
			err = scaleReplicationController(ctx, c, *ns, pos[1], n)
		default:
			return fmt.Errorf("cannot scale %s (only deployments, replicasets, statefulsets and replicationcontrollers)", r.Name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s/%s scaled\n", qualifiedKind(r), pos[1])
		return nil
	}
}
