package printers

import (
	"reflect"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

var now = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

func created(d time.Duration) api.ObjectMeta {
	return api.ObjectMeta{Name: "x", Namespace: "default", CreationTimestamp: api.NewTime(now.Add(-d))}
}

func names(res api.Resource) []string {
	var out []string
	for _, c := range Columns(res) {
		n := c.Name
		if Wide(c) {
			n += "*"
		}
		out = append(out, n)
	}
	return out
}

// Every resource's rows have one cell per column, and columns are typed.
func TestEveryResourceRowMatchesColumns(t *testing.T) {
	for _, res := range api.Resources() {
		obj, err := api.New(res.Kind)
		if err != nil {
			t.Fatal(err)
		}
		*obj.Meta() = created(time.Hour)
		cols, cells := Columns(res), Cells(obj, now)
		if len(cols) != len(cells) {
			t.Errorf("%s: %d columns, %d cells %v", res.Name, len(cols), len(cells), cells)
		}
		for i, c := range cols {
			if c.Type == "" || c.Description == "" && c.Name != "Node" {
				t.Errorf("%s: column %q lacks a type or description", res.Name, c.Name)
			}
			if i < len(cells) {
				switch c.Type {
				case "integer":
					if _, ok := cells[i].(int64); !ok {
						t.Errorf("%s: %s cell %#v is not an int64", res.Name, c.Name, cells[i])
					}
				case "boolean":
					switch cells[i].(type) {
					case bool, string: // Kubernetes writes CronJob's SUSPEND as "True"/"False"
					default:
						t.Errorf("%s: %s cell %#v is not a bool", res.Name, c.Name, cells[i])
					}
				}
			}
		}
	}
}

func TestColumnNames(t *testing.T) {
	for _, tc := range []struct {
		res  api.Resource
		want []string
	}{
		{api.PodResource, []string{"Name", "Ready", "Status", "Restarts", "Age", "IP*", "Node*", "Nominated Node*", "Readiness Gates*"}},
		{api.DeploymentResource, []string{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers*", "Images*", "Selector*"}},
		{api.JobResource, []string{"Name", "Status", "Completions", "Duration", "Age", "Containers*", "Images*", "Selector*"}},
		{api.ServiceResource, []string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector*"}},
		{api.NodeResource, []string{"Name", "Status", "Roles", "Age", "Version", "Internal-IP*", "External-IP*", "OS-Image*", "Kernel-Version*", "Container-Runtime*"}},
		{api.SecretResource, []string{"Name", "Type", "Data", "Age"}},
		{api.LeaseResource, []string{"Name", "Holder", "Age"}},
	} {
		if got := names(tc.res); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s columns = %v, want %v", tc.res.Name, got, tc.want)
		}
	}
	if c := Columns(api.PodResource)[0]; c.Format != "name" || c.Type != "string" {
		t.Errorf("pod name column = %+v", c)
	}
}

func running(name string, restarts int32) api.ContainerStatus {
	return api.ContainerStatus{Name: name, Ready: true, RestartCount: restarts,
		State: api.ContainerState{Running: &api.ContainerStateRunning{}}}
}

func TestPodStatus(t *testing.T) {
	ts := func(d time.Duration) *api.Time { t := api.NewTime(now.Add(-d)); return &t }
	pod := func(mut func(p *api.Pod)) *api.Pod {
		p := &api.Pod{ObjectMeta: created(5 * time.Minute)}
		p.Spec.Containers = []api.Container{{Name: "a", Image: "img"}, {Name: "b", Image: "img"}}
		p.Status.Phase = api.PodRunning
		mut(p)
		return p
	}
	for name, tc := range map[string]struct {
		pod                     *api.Pod
		ready, status, restarts string
	}{
		"running": {pod(func(p *api.Pod) {
			p.Status.ContainerStatuses = []api.ContainerStatus{running("a", 0), running("b", 0)}
		}), "2/2", "Running", "0"},
		"crashloop with last restart": {pod(func(p *api.Pod) {
			crashed := api.ContainerStatus{Name: "b", RestartCount: 3,
				State:     api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastState: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 1, FinishedAt: *ts(40 * time.Second)}}}
			p.Status.ContainerStatuses = []api.ContainerStatus{running("a", 1), crashed}
		}), "1/2", "CrashLoopBackOff", "4 (40s ago)"},
		"creating": {pod(func(p *api.Pod) {
			p.Status.Phase = api.PodPending
			p.Status.ContainerStatuses = []api.ContainerStatus{
				{Name: "a", State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
		}), "0/2", "ContainerCreating", "0"},
		"completed": {pod(func(p *api.Pod) {
			p.Status.Phase = api.PodSucceeded
			done := api.ContainerState{Terminated: &api.ContainerStateTerminated{Reason: "Completed"}}
			p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "a", State: done}, {Name: "b", State: done}}
		}), "0/2", "Completed", "0"},
		"oom killed": {pod(func(p *api.Pod) {
			p.Status.ContainerStatuses = []api.ContainerStatus{running("a", 0),
				{Name: "b", State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}}
		}), "1/2", "OOMKilled", "0"},
		"exit code": {pod(func(p *api.Pod) {
			p.Status.ContainerStatuses = []api.ContainerStatus{
				{Name: "a", State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 2}}}}
		}), "0/2", "ExitCode:2", "0"},
		"terminating": {pod(func(p *api.Pod) {
			p.DeletionTimestamp = ts(0)
			p.Status.ContainerStatuses = []api.ContainerStatus{running("a", 0), running("b", 0)}
		}), "2/2", "Terminating", "0"},
		"init waiting": {pod(func(p *api.Pod) {
			p.Status.Phase = api.PodPending
			p.Spec.InitContainers = []api.Container{{Name: "i1"}, {Name: "i2"}}
			p.Status.InitContainerStatuses = []api.ContainerStatus{
				{Name: "i1", State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 0}}},
				{Name: "i2", State: api.ContainerState{Running: &api.ContainerStateRunning{}}}}
		}), "0/2", "Init:1/2", "0"},
		"init crashing": {pod(func(p *api.Pod) {
			p.Status.Phase = api.PodPending
			p.Spec.InitContainers = []api.Container{{Name: "i1"}}
			p.Status.InitContainerStatuses = []api.ContainerStatus{
				{Name: "i1", State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}), "0/2", "Init:CrashLoopBackOff", "0"},
		"sidecar restarts stay counted": {pod(func(p *api.Pod) {
			started := true
			p.Spec.InitContainers = []api.Container{{Name: "side", RestartPolicy: api.RestartAlways}}
			side := running("side", 2)
			side.Started = &started
			side.LastState.Terminated = &api.ContainerStateTerminated{ExitCode: 1, FinishedAt: *ts(2 * time.Minute)}
			p.Status.InitContainerStatuses = []api.ContainerStatus{side}
			p.Status.ContainerStatuses = []api.ContainerStatus{running("a", 0), running("b", 1)}
			p.Status.Conditions = []api.PodCondition{{Type: "Initialized", Status: api.ConditionTrue}}
		}), "3/3", "Running", "3 (2m ago)"},
		"evicted": {pod(func(p *api.Pod) {
			p.Status.Phase, p.Status.Reason = api.PodFailed, "Evicted"
		}), "0/2", "Evicted", "0"},
	} {
		t.Run(name, func(t *testing.T) {
			c := Cells(tc.pod, now)
			if c[1] != tc.ready || c[2] != tc.status || c[3] != tc.restarts || c[4] != "5m" {
				t.Errorf("cells = %q, want ready %q status %q restarts %q age 5m", c, tc.ready, tc.status, tc.restarts)
			}
		})
	}
}

func TestCells(t *testing.T) {
	three := int32(3)
	dep := &api.Deployment{ObjectMeta: created(50 * time.Hour)}
	dep.Spec.Replicas = &three
	dep.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	dep.Spec.Template.Spec.Containers = []api.Container{{Name: "web", Image: "nginx"}, {Name: "log", Image: "busybox"}}
	dep.Status.ReadyReplicas, dep.Status.UpdatedReplicas, dep.Status.AvailableReplicas = 2, 3, 2

	svc := &api.Service{ObjectMeta: created(90 * time.Second)}
	svc.Spec.Type, svc.Spec.ClusterIP = api.ServiceTypeNodePort, "10.0.0.5"
	svc.Spec.Ports = []api.ServicePort{{Port: 80, NodePort: 30001, Protocol: "TCP"}, {Port: 53, Protocol: "UDP"}}
	svc.Spec.Selector = map[string]string{"app": "web"}

	job := &api.Job{ObjectMeta: created(10 * time.Minute)}
	job.Spec.Completions = &three
	start, end := api.NewTime(now.Add(-9*time.Minute)), api.NewTime(now.Add(-7*time.Minute))
	job.Status.StartTime, job.Status.CompletionTime, job.Status.Succeeded = &start, &end, 3
	job.Status.Conditions = []api.JobCondition{{Type: api.JobComplete, Status: api.ConditionTrue}}

	node := &api.Node{ObjectMeta: created(4 * 24 * time.Hour)}
	node.Labels = map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": ""}
	node.Spec.Unschedulable = true
	node.Status.Conditions = []api.NodeCondition{{Type: "Ready", Status: api.ConditionTrue}}
	node.Status.NodeInfo.KubeletVersion = "v1.32.0"
	node.Status.Addresses = []api.NodeAddress{{Type: "InternalIP", Address: "10.1.0.1"}}

	sec := &api.Secret{ObjectMeta: created(time.Minute), Type: api.SecretTypeOpaque, Data: map[string][]byte{"a": nil, "b": nil}}

	ev := &api.Event{ObjectMeta: created(time.Hour), Type: "Warning", Reason: "BackOff", Message: " back-off \n", Count: 5,
		InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "web-1", FieldPath: "spec.containers{web}"},
		Source:         api.EventSource{Component: "kubelet", Host: "n1"},
		FirstTimestamp: api.NewTime(now.Add(-time.Hour)), LastTimestamp: api.NewTime(now.Add(-30 * time.Second))}

	for _, tc := range []struct {
		obj  api.Object
		want []any
	}{
		{dep, []any{"x", "2/3", int64(3), int64(2), "2d2h", "web,log", "nginx,busybox", "app=web"}},
		{svc, []any{"x", "NodePort", "10.0.0.5", "<none>", "80:30001/TCP,53/UDP", "90s", "app=web"}},
		{job, []any{"x", "Complete", "3/3", "2m", "10m", "", "", "<none>"}},
		{node, []any{"x", "Ready,SchedulingDisabled", "control-plane,worker", "4d", "v1.32.0", "10.1.0.1", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{sec, []any{"x", "Opaque", int64(2), "60s"}},
		{ev, []any{"30s", "Warning", "BackOff", "pod/web-1", "spec.containers{web}", "kubelet, n1", "back-off", "60m", int64(5), "x"}},
	} {
		if got := Cells(tc.obj, now); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%T cells = %#v, want %#v", tc.obj, got, tc.want)
		}
	}
}

func TestDefaultColumns(t *testing.T) {
	res := api.Resource{Name: "widgets", Kind: "Widget"}
	if got := names(res); !reflect.DeepEqual(got, []string{"Name", "Age"}) {
		t.Errorf("default columns = %v", got)
	}
}
