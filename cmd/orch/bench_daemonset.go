package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/daemonset"
)

// benchDaemonSetResult is what the --daemonset phase of `orch bench` measures: one
// DaemonSet over every benchmark node, created once the Deployment's pods all run.
type benchDaemonSetResult struct {
	// Pods is the number of daemon pods expected (one per node) and Running those seen
	// Running by the bench's watch.
	Pods    int `json:"pods"`
	Running int `json:"running"`
	// Seconds from the DaemonSet's creation until the last daemon pod was created, bound,
	// Running.
	CreatedSeconds   float64 `json:"created_seconds"`
	ScheduledSeconds float64 `json:"scheduled_seconds"`
	RunningSeconds   float64 `json:"running_seconds"`
}

// daemonSetLabels select the bench's daemon pods.
var daemonSetLabels = map[string]string{"app": "orch-bench-daemon"}

// runDaemonSetController runs the DaemonSet controller in the bench's process.
func (b *bench) runDaemonSetController(ctx context.Context) error {
	return daemonset.Run(ctx, b.cli, daemonset.Config{Logger: b.log})
}

// measureDaemonSet creates a DaemonSet in the bench's namespace and follows its pods
// through a watch until one runs on each of the --nodes nodes.
func (b *bench) measureDaemonSet(ctx context.Context) error {
	resp, err := b.cli.Get(ctx, "health")
	if err != nil {
		return err
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	wch := b.cli.Watch(clientv3.WithRequireLeader(wctx), b.stores.Pods.NamespacePrefix(b.o.namespace), clientv3.WithPrefix(),
		clientv3.WithRev(resp.Header.Revision+1))
	req := api.ResourceList{"cpu": api.Quantity(b.o.cpuRequest), "memory": api.Quantity(b.o.memRequest)}
	ds := &api.DaemonSet{
		ObjectMeta: api.ObjectMeta{Namespace: b.o.namespace, Name: "bench-daemon"},
		Spec: api.DaemonSetSpec{Selector: &api.LabelSelector{MatchLabels: daemonSetLabels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: daemonSetLabels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "sim", Image: "sim",
					Resources: api.ResourceRequirements{Requests: req}}}}}},
	}
	r := &benchDaemonSetResult{Pods: b.o.nodes}
	b.res.DaemonSet = r
	t0 := time.Now()
	if _, err := b.stores.DaemonSets.Create(ctx, ds); err != nil {
		return fmt.Errorf("create daemonset: %w", err)
	}
	type seen struct{ created, scheduled, running bool }
	pods := map[string]*seen{}
	var created, scheduled int
	for wr := range wch {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watch daemon pods: %w", err)
		}
		secs := time.Since(t0).Seconds()
		for _, ev := range wr.Events {
			if ev.Type != mvccpb.PUT {
				continue
			}
			var p api.Pod
			if err := json.Unmarshal(ev.Kv.Value, &p); err != nil || p.Labels["app"] != daemonSetLabels["app"] {
				continue
			}
			s := pods[string(ev.Kv.Key)]
			if s == nil {
				s = &seen{created: true}
				pods[string(ev.Kv.Key)] = s
				created++
				r.CreatedSeconds = secs
			}
			if p.Spec.NodeName != "" && !s.scheduled {
				s.scheduled = true
				scheduled++
				r.ScheduledSeconds = secs
			}
			if p.Status.Phase == api.PodRunning && !s.running {
				s.running = true
				r.Running++
				r.RunningSeconds = secs
			}
		}
		if r.Running >= r.Pods {
			return nil
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%d of %d daemon pods Running (%d created, %d scheduled): %w", r.Running, r.Pods, created, scheduled, err)
	}
	return errors.New("watch daemon pods: closed")
}

// printDaemonSet writes the --daemonset phase's rows.
func (r *benchDaemonSetResult) print(w io.Writer) {
	if r == nil {
		return
	}
	fmt.Fprintf(w, "daemonset → all created\t%.2f s\n", r.CreatedSeconds)
	fmt.Fprintf(w, "daemonset → all scheduled\t%.2f s\n", r.ScheduledSeconds)
	fmt.Fprintf(w, "daemonset → all Running\t%.2f s (%d of %d daemon pods, one per node)\n", r.RunningSeconds, r.Running, r.Pods)
}
