package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/labels"
)

// watchSource is what get -w needs of a resource beyond resourceClient: a list that reports
// its revision, the key prefix to watch and the value decoder.
type watchSource interface {
	listAt(ctx context.Context, ns string, sel labels.Selector) ([]api.Object, int64, error)
	watchPrefix(ns string) string
	decode(kv *mvccpb.KeyValue) (api.Object, error)
}

// watchOptions are get -w's selection and output.
type watchOptions struct {
	namespace     string
	allNamespaces bool
	selector      labels.Selector
	format        string
	name          string // only this object, when set
	watchOnly     bool   // no initial list
}

// watchGet prints the matching objects, then one row (or object, for json and yaml) per
// change, until ctx ends: a clientv3 watch on the resource's prefix from the list's revision
// + 1, so no change between the list and the watch is missed. Only the list is bounded by
// --command-timeout.
func (c *ctl) watchGet(ctx context.Context, rc resourceClient, o watchOptions) error {
	src, ok := rc.(watchSource)
	if !ok {
		return fmt.Errorf("cannot watch %s", rc.resource().Name)
	}
	res := rc.resource()
	ns := o.namespace
	if o.allNamespaces || !res.Namespaced {
		ns = ""
	}
	lctx, cancel := c.bounded(ctx)
	objs, rev, err := src.listAt(lctx, ns, o.selector)
	if err == nil && o.name != "" {
		objs = named(objs, o.name)
		if len(objs) == 0 && !o.watchOnly {
			_, err = rc.get(lctx, ns, o.name) // the not-found error, as kubectl reports it
		}
	}
	cancel()
	if err != nil {
		return err
	}
	p := &watchPrinter{c: c, res: res, format: o.format, withNamespace: o.allNamespaces && res.Namespaced}
	if !o.watchOnly {
		if len(objs) == 0 && (o.format == "" || o.format == "wide") {
			if ns == "" {
				fmt.Fprintln(c.stderr, "No resources found")
			} else {
				fmt.Fprintf(c.stderr, "No resources found in %s namespace.\n", ns)
			}
		}
		if err := p.print(objs); err != nil {
			return err
		}
	}
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	for resp := range c.cli.Watch(wctx, src.watchPrefix(ns), clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithPrevKV()) {
		if err := resp.Err(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch %s: %w", res.Name, err)
		}
		for _, ev := range resp.Events {
			obj, err := changed(src, ev, o)
			if err != nil {
				return err
			}
			if obj == nil {
				continue
			}
			if err := p.print([]api.Object{obj}); err != nil {
				return err
			}
		}
	}
	if ctx.Err() != nil {
		return nil // interrupted: the normal end of a watch
	}
	return errors.New("watch closed by the server")
}

// changed returns the object of a watch event to print, or nil when it is not selected:
// the new object of a put (also when it just stopped matching the selector, as the
// apiserver reports a DELETED event then), the old one of a delete.
func changed(src watchSource, ev *clientv3.Event, o watchOptions) (api.Object, error) {
	var cur, prev api.Object
	var err error
	if ev.PrevKv != nil {
		if prev, err = src.decode(ev.PrevKv); err != nil {
			return nil, err
		}
	}
	if ev.Type == mvccpb.PUT {
		if cur, err = src.decode(ev.Kv); err != nil {
			return nil, err
		}
	}
	obj := cur
	if obj == nil {
		obj = prev
	}
	if obj == nil || o.name != "" && obj.Meta().Name != o.name {
		return nil, nil
	}
	if cur != nil && o.selector.Matches(cur.Meta().Labels) || prev != nil && o.selector.Matches(prev.Meta().Labels) {
		return obj, nil
	}
	return nil, nil
}

func named(objs []api.Object, name string) []api.Object {
	for _, o := range objs {
		if o.Meta().Name == name {
			return []api.Object{o}
		}
	}
	return nil
}

// watchPrinter prints get -w's output: a table header once, then rows aligned to the
// columns of the first table; or each object on its own (json, a "---" separated yaml
// stream, or names).
type watchPrinter struct {
	c             *ctl
	res           api.Resource
	format        string
	withNamespace bool
	started       bool  // header or first document written
	widths        []int // of the table's columns, from the first rows printed
}

func (p *watchPrinter) print(objs []api.Object) error {
	if len(objs) == 0 {
		return nil
	}
	switch p.format {
	case "json", "yaml":
		for _, o := range objs {
			api.SetTypeMeta(o)
			if p.format == "yaml" && p.started {
				fmt.Fprintln(p.c.stdout, "---")
			}
			p.started = true
			if err := printStructured(p.c.stdout, p.format, o); err != nil {
				return err
			}
		}
		return nil
	case "name":
		return p.c.print(p.res, objs, p.format, false, false)
	}
	hdr, rows := tableCells(p.res.Name, objs, p.format == "wide", p.withNamespace, "", p.c.now())
	if !p.started {
		p.started = true
		rows = append([][]string{hdr}, rows...)
		p.widths = make([]int, len(hdr))
		for _, r := range rows {
			for i, cell := range r {
				p.widths[i] = max(p.widths[i], utf8.RuneCountInString(cell))
			}
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, cell := range r {
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", max(p.widths[i]-utf8.RuneCountInString(cell), 0)+3))
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(p.c.stdout, b.String())
	return err
}
