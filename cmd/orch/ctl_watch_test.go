package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

func TestGetWatch(t *testing.T) {
	o, st := startCtl(t)
	ctx := context.Background()
	labelled := func(v string) func(p *api.Pod) {
		return func(p *api.Pod) { p.Namespace = "w"; p.Labels = map[string]string{"app": v} }
	}
	mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("a", labelled("x"))))

	t.Run("table then changes", func(t *testing.T) {
		o.t = t
		// A short --command-timeout bounds only the list: the watch outlives it.
		b := o.start("ctl", "get", "pods", "-n", "w", "-w", "--command-timeout", "200ms")
		eventually(t, "initial table", func() error {
			return hasLines(b.stdout.String(), "NAME READY STATUS RESTARTS AGE", `a 0/1 Pending 0 \d+s`)
		})
		<-time.After(400 * time.Millisecond) // past --command-timeout
		mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("b", labelled("y"))))
		if _, err := st.Pods.GuaranteedUpdate(ctx, "w", "a", func(p *api.Pod) (*api.Pod, error) {
			p.Status.Phase = api.PodRunning
			return p, nil
		}); err != nil {
			t.Fatal(err)
		}
		mustGet[*api.Pod](t)(st.Pods.Delete(ctx, "w", "b", registry.DeleteOptions{}))
		mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("elsewhere"))) // another namespace
		eventually(t, "rows of the changes", func() error {
			return hasLines(b.stdout.String(), `b 0/1 Pending 0 \d+s`, `a 0/1 Running 0 \d+s`)
		})
		b.cancel()
		if err := b.wait(t); err != nil {
			t.Fatalf("get -w ended with %v", err)
		}
		out := b.stdout.String()
		if strings.Count(out, "NAME") != 1 || strings.Contains(out, "elsewhere") {
			t.Fatalf("want one header and no other namespace's pods:\n%s", out)
		}
		// created b, a running, b deleted: 1 + 3 rows after the header.
		if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 5 {
			t.Fatalf("got %d lines, want 5:\n%s", n, out)
		}
	})

	t.Run("watch-only json with a selector", func(t *testing.T) {
		o.t = t
		b := o.start("ctl", "get", "pods", "-A", "-l", "app=x", "--watch-only", "-o", "json")
		// The watch is established when a change made after starting is seen; until then
		// keep touching a.
		eventually(t, "an event for a", func() error {
			if _, err := st.Pods.GuaranteedUpdate(ctx, "w", "a", func(p *api.Pod) (*api.Pod, error) {
				if p.Annotations == nil {
					p.Annotations = map[string]string{}
				}
				p.Annotations["touch"] = fmt.Sprint(time.Now().UnixNano())
				return p, nil
			}); err != nil {
				return err
			}
			if !strings.Contains(b.stdout.String(), `"name": "a"`) {
				return fmt.Errorf("no event yet: %q", b.stdout.String())
			}
			return nil
		})
		mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("c", labelled("y"))))
		mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("d", labelled("x"))))
		eventually(t, "an event for d", func() error {
			if !strings.Contains(b.stdout.String(), `"name": "d"`) {
				return fmt.Errorf("no event for d yet")
			}
			return nil
		})
		b.cancel()
		if err := b.wait(t); err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(strings.NewReader(b.stdout.String()))
		for dec.More() {
			var p api.Pod
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			if p.Kind != "Pod" || p.Labels["app"] != "x" {
				t.Fatalf("watch printed %s %s with labels %v", p.Kind, p.Name, p.Labels)
			}
		}
	})

	t.Run("named object and errors", func(t *testing.T) {
		o.t = t
		b := o.start("ctl", "get", "pod", "a", "-n", "w", "-w", "-o", "name")
		eventually(t, "initial name", func() error { return hasLines(b.stdout.String(), "pod/a") })
		b.cancel()
		if err := b.wait(t); err != nil {
			t.Fatal(err)
		}
		if _, _, err := o.run("ctl", "get", "pod", "missing", "-w"); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("watch of a missing pod: %v", err)
		}
		if _, _, err := o.run("ctl", "get", "all", "-w"); err == nil {
			t.Fatal("get all -w succeeded")
		}
	})
}
