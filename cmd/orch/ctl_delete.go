package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// deleteOptions are kubectl delete's grace-period flags.
type deleteOptions struct {
	gracePeriod int
	force, now  bool
}

// gracePeriodSeconds resolves the flags as kubectl's delete Complete does: --now is a
// grace period of 1; --grace-period=0 without --force becomes 1 (immediate deletion needs
// --force); --force alone means 0. nil means the object's own grace period.
func (o deleteOptions) gracePeriodSeconds() (*int64, error) {
	g := o.gracePeriod
	if o.now {
		if g != -1 {
			return nil, errors.New("--now and --grace-period cannot be specified together")
		}
		g = 1
	}
	if g == 0 && !o.force {
		g = 1
	}
	if o.force && g < 0 {
		g = 0
	}
	if g < 0 {
		return nil, nil
	}
	secs := int64(g)
	return &secs, nil
}

const deleteUsage = "usage: orch ctl delete RESOURCE NAME...|TYPE/NAME... [-n NS] [--grace-period N] [--force] [--now] [--wait=false] [--timeout D]"

func deleteFlags(fs *flag.FlagSet) func(ctx context.Context, c *ctl, pos []string) error {
	ns := namespaceFlag(fs)
	var o deleteOptions
	fs.IntVar(&o.gracePeriod, "grace-period", -1, "seconds a pod gets to terminate (-1: its terminationGracePeriodSeconds; 0 with --force: at once)")
	fs.BoolVar(&o.force, "force", false, "with --grace-period=0: remove the objects at once, without waiting for their agents to confirm the pods stopped")
	fs.BoolVar(&o.now, "now", false, "signal the pods to stop at once (grace period 1)")
	wait := fs.Bool("wait", true, "wait for the objects to be gone before returning")
	timeout := fs.Duration("timeout", 0, "give up waiting after this long (0: no limit)")
	return func(ctx context.Context, c *ctl, pos []string) error {
		targets, err := parseTargets(pos, false)
		if err != nil {
			if errors.Is(err, errUsage) {
				fmt.Fprintln(c.stderr, deleteUsage)
			}
			return err
		}
		grace, err := o.gracePeriodSeconds()
		if err != nil {
			return err
		}
		forced := grace != nil && *grace == 0
		if forced {
			fmt.Fprintln(c.stderr, "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.")
		}
		var deleted []deletedObject
		for _, tg := range targets {
			rc := c.clients[tg.res.Name]
			rctx, cancel := c.bounded(ctx)
			obj, err := rc.delete(rctx, *ns, tg.name, registry.DeleteOptions{GracePeriodSeconds: grace})
			cancel()
			if err != nil {
				return err
			}
			verb := "deleted"
			if forced {
				verb = "force deleted"
			}
			fmt.Fprintf(c.stdout, "%s %q %s\n", strings.ToLower(tg.res.Kind), tg.name, verb)
			deleted = append(deleted, deletedObject{rc: rc, ns: *ns, obj: obj})
		}
		if !*wait {
			return nil
		}
		if *timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *timeout)
			defer cancel()
		}
		for _, d := range deleted {
			if err := c.waitDeleted(ctx, d); err != nil {
				return err
			}
		}
		return nil
	}
}

// deletedObject is an object a delete was issued for.
type deletedObject struct {
	rc  resourceClient
	ns  string
	obj api.Object
}

// waitDeleted waits until the object is gone (or replaced by one with another uid), as
// kubectl delete --wait does: it reads the object, then watches its key from that revision
// for the next change, and again. Each read is bounded by --command-timeout; the wait by
// ctx.
func (c *ctl) waitDeleted(ctx context.Context, d deletedObject) error {
	name, uid := d.obj.Meta().Name, d.obj.Meta().UID
	for {
		rctx, cancel := c.bounded(ctx)
		cur, err := d.rc.get(rctx, d.ns, name)
		cancel()
		if errors.Is(err, registry.ErrNotFound) || err == nil && cur.Meta().UID != uid {
			return nil
		}
		if err != nil {
			return err
		}
		var rev int64
		_, _ = fmt.Sscan(cur.Meta().ResourceVersion, &rev)
		if err := c.nextChange(ctx, d.rc.key(d.ns, name), rev); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("timed out waiting for the deletion of %s %q: %w", strings.ToLower(d.rc.resource().Kind), name, ctx.Err())
			}
			return err
		}
	}
}

// nextChange returns when key changes after revision rev.
func (c *ctl) nextChange(ctx context.Context, key string, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range c.cli.Watch(wctx, key, clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			return err
		}
		if len(wr.Events) > 0 {
			return nil
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("watch ended")
}
