package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// defaultContainerAnnotation names the container kubectl logs picks when none is given.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// logsOptions are logs' flags.
type logsOptions struct {
	ns        string
	container string
	follow    bool
	tail      int64 // -1 = all lines
	previous  bool
}

func logsFlags(fs *flag.FlagSet) verbFunc {
	var o logsOptions
	fs.StringVar(&o.ns, "n", "default", "namespace")
	fs.StringVar(&o.ns, "namespace", "default", "namespace")
	fs.StringVar(&o.container, "c", "", "container name")
	fs.StringVar(&o.container, "container", "", "container name")
	fs.BoolVar(&o.follow, "f", false, "stream the logs")
	fs.BoolVar(&o.follow, "follow", false, "stream the logs")
	fs.Int64Var(&o.tail, "tail", -1, "lines of recent log to show (-1 = all)")
	fs.BoolVar(&o.previous, "p", false, "the logs of the previous, terminated container instance")
	fs.BoolVar(&o.previous, "previous", false, "the logs of the previous, terminated container instance")
	return func(ctx context.Context, c *ctl, pos []string) error {
		if len(pos) == 0 || len(pos) > 2 {
			fmt.Fprintln(c.stderr, "usage: orch ctl logs POD|TYPE/NAME [-c CONTAINER] [-n NS] [-f] [--tail N] [-p]")
			return errUsage
		}
		if len(pos) == 2 { // kubectl logs POD CONTAINER
			if o.container != "" {
				return fmt.Errorf("only one of -c or an inline container name is allowed")
			}
			o.container = pos[1]
		}
		return c.logs(ctx, pos[0], o)
	}
}

// logs streams a container's log from the agent of the pod's node, at kubelet's
// /containerLogs/{namespace}/{pod}/{container} on the node's InternalIP and
// daemonEndpoints.kubeletEndpoint port. Looking up the pod and node is bounded by
// --command-timeout; reading the log is too unless it is followed.
func (c *ctl) logs(ctx context.Context, ref string, o logsOptions) error {
	st := registry.NewStores(c.cli, registry.Config{})
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	p, err := c.logsPod(rctx, st, ref, o.ns)
	if err != nil {
		return err
	}
	container, err := logsContainer(p, o.container)
	if err != nil {
		return err
	}
	if err := checkLogStatus(p, container, o.previous); err != nil {
		return err
	}
	if p.Spec.NodeName == "" {
		return fmt.Errorf("pod %s does not have a host assigned", p.Name)
	}
	n, err := st.Nodes.Get(rctx, "", p.Spec.NodeName)
	if err != nil {
		return err
	}
	host, err := agentAddress(n)
	if err != nil {
		return err
	}
	q := url.Values{"follow": {strconv.FormatBool(o.follow)}}
	if o.tail >= 0 {
		q.Set("tailLines", strconv.FormatInt(o.tail, 10))
	}
	if o.previous {
		q.Set("previous", "true")
	}
	u := url.URL{Scheme: "http", Host: host, RawQuery: q.Encode(),
		Path: "/containerLogs/" + p.Namespace + "/" + p.Name + "/" + container}
	readCtx := rctx
	if o.follow {
		readCtx = ctx
	}
	req, err := http.NewRequestWithContext(readCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get logs of %s/%s from node %s: %w", p.Namespace, p.Name, n.Name, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("get logs of %s/%s from node %s: %s: %s", p.Namespace, p.Name, n.Name, resp.Status, strings.TrimSpace(string(body)))
	}
	if _, err := io.Copy(c.stdout, resp.Body); err != nil && !(o.follow && ctx.Err() != nil) {
		return fmt.Errorf("read logs of %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

// logsPod resolves "POD", "pod/NAME", or a workload ("deployment/NAME", "rs/NAME", "job/NAME") to a
// pod; for a workload, its first running pod, as kubectl does.
func (c *ctl) logsPod(ctx context.Context, st *registry.Stores, ref, ns string) (*api.Pod, error) {
	kind, name, ok := strings.Cut(ref, "/")
	if !ok {
		return st.Pods.Get(ctx, ns, ref)
	}
	r, err := lookupResource(kind)
	if err != nil {
		return nil, err
	}
	var sel *api.LabelSelector
	switch r.Name {
	case "pods":
		return st.Pods.Get(ctx, ns, name)
	case "deployments":
		d, err := st.Deployments.Get(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		sel = d.Spec.Selector
	case "replicasets":
		rs, err := st.ReplicaSets.Get(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		sel = rs.Spec.Selector
	case "jobs":
		j, err := st.Jobs.Get(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		sel = &api.LabelSelector{MatchLabels: map[string]string{api.JobControllerUIDLabel: j.UID}}
	default:
		return nil, fmt.Errorf("cannot get the logs of %s", r.Name)
	}
	pods, err := podsOf(ctx, st, ns, sel)
	if err != nil {
		return nil, err
	}
	pods = slices.DeleteFunc(pods, func(p *api.Pod) bool { return p.DeletionTimestamp != nil })
	if len(pods) == 0 {
		return nil, fmt.Errorf("no pods found for %s/%s", strings.ToLower(r.Kind), name)
	}
	// Running and ready pods first, then the oldest (kubectl's ActivePods order, simplified).
	rank := func(p *api.Pod) int {
		switch {
		case p.Status.Phase == api.PodRunning && podIsReady(p):
			return 0
		case p.Status.Phase == api.PodRunning:
			return 1
		}
		return 2
	}
	sort.SliceStable(pods, func(i, j int) bool {
		if ri, rj := rank(pods[i]), rank(pods[j]); ri != rj {
			return ri < rj
		}
		return pods[i].CreationTimestamp.Before(pods[j].CreationTimestamp.Time)
	})
	if len(pods) > 1 {
		fmt.Fprintf(c.stderr, "Found %d pods, using pod/%s\n", len(pods), pods[0].Name)
	}
	return pods[0], nil
}

func podIsReady(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// logsContainer picks the container: the one named, the pod's default-container
// annotation, or the only one.
func logsContainer(p *api.Pod, name string) (string, error) {
	var names []string
	for _, c := range p.Spec.Containers {
		names = append(names, c.Name)
	}
	var all []string
	all = append(all, names...)
	for _, c := range p.Spec.InitContainers {
		all = append(all, c.Name)
	}
	if name == "" {
		name = p.Annotations[defaultContainerAnnotation]
	}
	if name != "" {
		if !slices.Contains(all, name) {
			return "", fmt.Errorf("container %s is not valid for pod %s", name, p.Name)
		}
		return name, nil
	}
	if len(names) == 1 {
		return names[0], nil
	}
	return "", fmt.Errorf("a container name must be specified for pod %s, choose one of: [%s]", p.Name, strings.Join(names, " "))
}

// checkLogStatus refuses, as the apiserver does, the logs of a container that has not
// started, or a previous instance that does not exist.
func checkLogStatus(p *api.Pod, container string, previous bool) error {
	for _, s := range append(slices.Clone(p.Status.ContainerStatuses), p.Status.InitContainerStatuses...) {
		if s.Name != container {
			continue
		}
		if previous {
			if s.LastState.Terminated == nil {
				return fmt.Errorf("previous terminated container %q in pod %q not found", container, p.Name)
			}
			return nil
		}
		if w := s.State.Waiting; w != nil {
			return fmt.Errorf("container %q in pod %q is waiting to start: %s", container, p.Name, orDefault(w.Reason, "unknown reason"))
		}
		return nil
	}
	if previous {
		return fmt.Errorf("previous terminated container %q in pod %q not found", container, p.Name)
	}
	if p.Spec.NodeName != "" {
		return fmt.Errorf("container %q in pod %q is waiting to start: ContainerCreating", container, p.Name)
	}
	return nil // unscheduled: reported by the caller
}

// agentAddress is host:port of the node agent's HTTP endpoint.
func agentAddress(n *api.Node) (string, error) {
	var ip string
	for _, a := range n.Status.Addresses {
		if a.Type == "InternalIP" {
			ip = a.Address
			break
		}
	}
	if ip == "" {
		return "", fmt.Errorf("node %q has no InternalIP address (is its agent running?)", n.Name)
	}
	port := n.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port == 0 {
		return "", fmt.Errorf("node %q reports no agent endpoint (status.daemonEndpoints.kubeletEndpoint.Port); its agent serves no logs", n.Name)
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(port))), nil
}
