package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// Annotations that give a sim-runtime pod its simulated usage (cpu and memory
// quantities, e.g. "250m" and "64Mi"), reported for its first container.
const (
	SimulatedCPUAnnotation    = "keel.dev/simulated-cpu"
	SimulatedMemoryAnnotation = "keel.dev/simulated-memory"
)

// DefaultMetricsInterval is how often an agent reports its pods' and nodes' usage, as
// metrics-server scrapes kubelets every 15 s.
const DefaultMetricsInterval = 15 * time.Second

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's utime and stime; 100
// on every Linux architecture Go supports.
const clockTicks = 100

// metricsBatch is the number of puts per transaction (below the store's 128-op cap).
const metricsBatch = 100

// usage is a container's or node's usage: cpu in millicores, memory in bytes.
type usage struct {
	cpuMilli, memBytes int64
}

// cpuSample is a container's cumulative cpu time at a moment.
type cpuSample struct {
	ticks uint64
	at    time.Time
}

// procStat is one process's /proc/<pid>/stat fields that metrics use.
type procStat struct {
	pgrp  int
	ticks uint64 // utime + stime
	rss   int64  // pages
}

// metricsReporter writes PodMetrics and NodeMetrics for the agent's pods and nodes every
// interval, on a fresh store lease each round; the previous round's lease is revoked once
// the new one is written, so the metrics of a pod that went away disappear at once, and
// all of them within the lease's TTL when the agent stops. Owned by Agent.Run's goroutine.
type metricsReporter struct {
	a        *Agent
	interval time.Duration
	prev     map[string]cpuSample // "<pod uid>/<container>/<pid>" → last sample (process runtime)
	lease    clientv3.LeaseID
	podStore *registry.Store[api.PodMetrics, *api.PodMetrics]
	nodeStor *registry.Store[api.NodeMetrics, *api.NodeMetrics]
}

func newMetricsReporter(a *Agent) *metricsReporter {
	return &metricsReporter{a: a, interval: a.cfg.MetricsInterval, prev: map[string]cpuSample{},
		podStore: registry.New[api.PodMetrics](a.cli, registry.Config{}),
		nodeStor: registry.New[api.NodeMetrics](a.cli, registry.Config{})}
}

// run reports every interval until ctx ends.
func (m *metricsReporter) run(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.report(ctx); err != nil && ctx.Err() == nil {
			m.a.log.Warn("metrics report failed", "err", err)
		}
	}
}

// report measures and writes one round of metrics.
func (m *metricsReporter) report(ctx context.Context) error {
	now := m.a.cfg.Now()
	pods := m.podUsage(now)
	nodes := map[string]usage{}
	for _, n := range m.a.names {
		nodes[n] = usage{}
	}
	window := m.interval.String()
	var objs []putObj
	for _, pu := range pods {
		n := nodes[pu.node]
		for _, c := range pu.containers {
			n.cpuMilli += c.u.cpuMilli
			n.memBytes += c.u.memBytes
		}
		nodes[pu.node] = n
		pm := &api.PodMetrics{ObjectMeta: api.ObjectMeta{Namespace: pu.pod.Namespace, Name: pu.pod.Name,
			Labels: pu.pod.Labels, CreationTimestamp: api.NewTime(now)}, Timestamp: api.NewTime(now), Window: window}
		for _, c := range pu.containers {
			pm.Containers = append(pm.Containers, api.ContainerMetrics{Name: c.name, Usage: c.u.resources()})
		}
		api.SetTypeMeta(pm)
		objs = append(objs, putObj{m.podStore.Key(pm.Namespace, pm.Name), pm})
	}
	for _, name := range m.a.names {
		nm := &api.NodeMetrics{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name},
			CreationTimestamp: api.NewTime(now)}, Timestamp: api.NewTime(now), Window: window, Usage: nodes[name].resources()}
		api.SetTypeMeta(nm)
		objs = append(objs, putObj{m.nodeStor.Key("", name), nm})
	}
	ttl := int64((2*m.interval + 5*time.Second) / time.Second)
	grant, err := m.a.cli.Grant(ctx, ttl)
	if err != nil {
		return fmt.Errorf("agent: grant metrics lease: %w", err)
	}
	if err := putBatched(ctx, m.a.cli, objs, grant.ID); err != nil {
		return err
	}
	if m.lease != 0 {
		// Metrics not rewritten this round (pods gone) go with the previous lease.
		if _, err := m.a.cli.Revoke(ctx, m.lease); err != nil && ctx.Err() == nil {
			m.a.log.Debug("revoke metrics lease failed", "err", err)
		}
	}
	m.lease = grant.ID
	return nil
}

type putObj struct {
	key string
	obj any
}

// putBatched writes objs, metricsBatch puts per transaction, attached to lease.
func putBatched(ctx context.Context, cli *clientv3.Client, objs []putObj, lease clientv3.LeaseID) error {
	var ops []clientv3.Op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, err := cli.Txn(ctx).Then(ops...).Commit()
		ops = ops[:0]
		if err != nil {
			return fmt.Errorf("agent: write metrics: %w", err)
		}
		return nil
	}
	for _, o := range objs {
		b, err := json.Marshal(o.obj)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(o.key, string(b), clientv3.WithLease(lease)))
		if len(ops) == metricsBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (u usage) resources() api.ResourceList {
	return api.ResourceList{"cpu": api.Quantity(strconv.FormatInt(u.cpuMilli, 10) + "m"),
		"memory": api.Quantity(strconv.FormatInt(u.memBytes/1024, 10) + "Ki")}
}

type containerUsage struct {
	name string
	u    usage
}

type podUsage struct {
	pod        *api.Pod
	node       string
	containers []containerUsage
}

// podUsage measures every Running pod bound to the agent's nodes. In the process runtime a
// container's first sample only starts its cpu rate: its pod is reported from the next
// round on.
func (m *metricsReporter) podUsage(now time.Time) []podUsage {
	var procs map[int][]procStat
	if m.a.proc != nil {
		procs = readProcs()
	}
	seen := map[string]bool{}
	var out []podUsage
	for _, p := range m.a.pods.Cache().List() {
		if !m.a.owns(p.Spec.NodeName) || p.Status.Phase != api.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		pu := podUsage{pod: p, node: p.Spec.NodeName}
		if procs == nil {
			pu.containers = simulatedUsage(p)
			out = append(out, pu)
			continue
		}
		complete := true
		for _, cs := range p.Status.ContainerStatuses {
			pid, ok := processPID(cs)
			if !ok {
				continue
			}
			key := fmt.Sprintf("%s/%s/%d", p.UID, cs.Name, pid)
			seen[key] = true
			ticks, rss := groupUsage(procs[pid])
			prev, had := m.prev[key]
			m.prev[key] = cpuSample{ticks: ticks, at: now}
			if !had {
				complete = false
				continue
			}
			pu.containers = append(pu.containers, containerUsage{name: cs.Name,
				u: usage{cpuMilli: cpuRate(prev, cpuSample{ticks: ticks, at: now}), memBytes: rss * int64(os.Getpagesize())}})
		}
		if complete && len(pu.containers) > 0 {
			out = append(out, pu)
		}
	}
	for k := range m.prev {
		if !seen[k] {
			delete(m.prev, k)
		}
	}
	return out
}

// cpuRate is the millicores used between two samples of cumulative cpu ticks; 0 when the
// count went down (processes of the group exited) or no time passed.
func cpuRate(prev, cur cpuSample) int64 {
	dt := cur.at.Sub(prev.at)
	if dt <= 0 || cur.ticks < prev.ticks {
		return 0
	}
	return int64(float64(cur.ticks-prev.ticks) * 1000 / clockTicks / dt.Seconds())
}

// simulatedUsage is a sim pod's usage from its annotations, all on its first container
// (the others report zero).
func simulatedUsage(p *api.Pod) []containerUsage {
	var out []containerUsage
	for i, c := range p.Spec.Containers {
		cu := containerUsage{name: c.Name}
		if i == 0 {
			if q, ok := p.Annotations[SimulatedCPUAnnotation]; ok {
				if v, err := api.ParseQuantity(q); err == nil {
					cu.u.cpuMilli = v
				}
			}
			if q, ok := p.Annotations[SimulatedMemoryAnnotation]; ok {
				if v, err := api.ParseQuantity(q); err == nil {
					cu.u.memBytes = v / 1000
				}
			}
		}
		out = append(out, cu)
	}
	return out
}

// processPID returns the pid of a running container's process (its process group), from
// its containerID "process://PID".
func processPID(cs api.ContainerStatus) (int, bool) {
	if cs.State.Running == nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(cs.ContainerID, "process://")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(s)
	return pid, err == nil && pid > 0
}

// groupUsage sums the cpu ticks and resident pages of a process group's processes.
func groupUsage(ps []procStat) (ticks uint64, rss int64) {
	for _, p := range ps {
		ticks += p.ticks
		rss += p.rss
	}
	return ticks, rss
}

// readProcs reads every process's stat, grouped by process group: a container's command
// leads its own group, so the group is the container's processes.
func readProcs() map[int][]procStat {
	out := map[int][]procStat{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if st, ok := parseStat(string(b)); ok {
			out[st.pgrp] = append(out[st.pgrp], st)
		}
	}
	return out
}

// parseStat parses /proc/<pid>/stat: after the parenthesised command, field 5 (pgrp) is
// the third, utime and stime (14, 15) the 12th and 13th, rss (24) the 22nd.
func parseStat(s string) (procStat, bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return procStat{}, false
	}
	pgrp, err1 := strconv.Atoi(f[2])
	ut, err2 := strconv.ParseUint(f[11], 10, 64)
	st, err3 := strconv.ParseUint(f[12], 10, 64)
	rss, err4 := strconv.ParseInt(f[21], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return procStat{}, false
	}
	return procStat{pgrp: pgrp, ticks: ut + st, rss: rss}, true
}
