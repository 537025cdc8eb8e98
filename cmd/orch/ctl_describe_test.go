package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/deployment"
)

func TestDescribe(t *testing.T) {
	o, st := startCtl(t)
	ctx := context.Background()
	now := api.NewTime(time.Now())
	mustGet[*api.Node](t)(st.Nodes.Create(ctx, &api.Node{
		ObjectMeta: api.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}},
		Spec:       api.NodeSpec{Taints: []api.Taint{{Key: "dedicated", Value: "db", Effect: api.TaintNoSchedule}}},
		Status: api.NodeStatus{
			Capacity:    api.ResourceList{"cpu": "4", "memory": "8Gi", "pods": "110"},
			Allocatable: api.ResourceList{"cpu": "4", "memory": "8Gi", "pods": "110"},
			Conditions:  []api.NodeCondition{{Type: "Ready", Status: api.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now}},
			Addresses:   []api.NodeAddress{{Type: "InternalIP", Address: "10.0.0.1"}, {Type: "Hostname", Address: "n1"}},
		},
	}))
	mustGet[*api.Deployment](t)(st.Deployments.Create(ctx, deploymentObj("web", "nginx:1.27")))
	d := mustGet[*api.Deployment](t)(st.Deployments.GuaranteedUpdate(ctx, "default", "web", func(d *api.Deployment) (*api.Deployment, error) {
		d.Status = api.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 1, UnavailableReplicas: 2,
			Conditions: []api.DeploymentCondition{{Type: "Progressing", Status: api.ConditionTrue, Reason: "ReplicaSetUpdated"}}}
		return d, nil
	}))
	one := int32(1)
	oldRS := revisionRS(d, "old", "1", "nginx:1.26", "")
	oldRS.Spec.Replicas = &one
	mustGet[*api.ReplicaSet](t)(st.ReplicaSets.Create(ctx, oldRS))
	newRS := revisionRS(d, "new", "2", "nginx:1.27", "")
	newRS.Spec.Replicas = &one
	rs := mustGet[*api.ReplicaSet](t)(st.ReplicaSets.Create(ctx, newRS))
	rs = mustGet[*api.ReplicaSet](t)(st.ReplicaSets.UpdateStatus(ctx, func() *api.ReplicaSet {
		r := api.DeepCopy(rs)
		r.ResourceVersion = ""
		r.Status.Replicas = 1
		return r
	}()))
	yes := true
	p := mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("web-new-x", func(p *api.Pod) {
		p.Labels = map[string]string{"app": "web", deployment.PodTemplateHashLabel: "new"}
		p.OwnerReferences = []api.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}
		p.Spec.NodeName = "n1"
		p.Spec.Containers[0].Command = []string{"sleep", "3600"}
		p.Spec.Containers[0].Ports = []api.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}}
		p.Spec.Containers[0].Resources.Requests = api.ResourceList{"cpu": "100m", "memory": "64Mi"}
		p.Status = api.PodStatus{Phase: api.PodRunning, HostIP: "10.0.0.1", PodIP: "10.1.0.5", PodIPs: []api.PodIP{{IP: "10.1.0.5"}},
			Conditions: []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue}},
			ContainerStatuses: []api.ContainerStatus{{Name: "c", Ready: true, RestartCount: 2,
				State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: now}}}}}
	})))
	mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("other")))
	event := func(name, kind, obj, uid, reason, msg string, ts api.Time, count int32) {
		t.Helper()
		mustGet[*api.Event](t)(st.Events.Create(ctx, &api.Event{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			InvolvedObject: api.ObjectReference{Kind: kind, Namespace: "default", Name: obj, UID: uid},
			Reason:         reason, Message: msg, Type: "Warning", Source: api.EventSource{Component: "default-scheduler"},
			FirstTimestamp: api.NewTime(ts.Add(-10 * time.Minute)), LastTimestamp: ts, Count: count}))
	}
	event("e1", "Pod", p.Name, p.UID, "FailedScheduling", "0/1 nodes are available: 1 node(s) were unschedulable.", api.NewTime(now.Add(-time.Minute)), 3)
	event("e2", "Pod", p.Name, p.UID, "Killing", "Stopping container c", now, 1)
	event("e3", "Pod", "other", "", "BackOff", "about the other pod", now, 1)
	event("e4", "Pod", p.Name, "an-older-pod-uid", "Old", "about an earlier pod of that name", now, 1)
	mustGet[*api.Service](t)(st.Services.Create(ctx, &api.Service{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "127.254.0.10", Ports: []api.ServicePort{{Port: 80, TargetPort: api.FromInt(8080)}}}}))
	mustGet[*api.Endpoints](t)(st.Endpoints.Create(ctx, &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: "10.1.0.5"}}, Ports: []api.EndpointPort{{Port: 8080, Protocol: "TCP"}}}}}))

	t.Run("pod", func(t *testing.T) {
		o.t = t
		out := o.ok("ctl", "describe", "pod", "web-new-x")
		wantHasLines(t, out, "Name: web-new-x", "Namespace: default", "Node: n1/10.0.0.1", "Labels: app=web", "pod-template-hash=new",
			"Annotations: <none>", "Status: Running", "IP: 10.1.0.5", "Controlled By: ReplicaSet/web-new",
			"Containers:", "c:", "Image: busybox", "Port: 80/TCP", "Command:", "sleep", "3600", "State: Running",
			"Ready: True", "Restart Count: 2", "Requests:", "cpu: 100m", "memory: 64Mi",
			"Conditions:", "Type Status", "Ready True",
			"Events:", "Type Reason Age From Message", "---- ------ ---- ---- -------",
			`Warning FailedScheduling \d+s \(x3 over 1\dm\) default-scheduler 0/1 nodes are available: 1 node\(s\) were unschedulable.`,
			`Warning Killing \d+s default-scheduler Stopping container c`)
		if strings.Contains(out, "about the other pod") || strings.Contains(out, "earlier pod") {
			t.Fatalf("describe shows another object's events:\n%s", out)
		}
		if i, j := strings.Index(out, "FailedScheduling"), strings.Index(out, "Killing"); i > j {
			t.Fatalf("events not oldest first:\n%s", out)
		}
		wantHasLines(t, o.ok("ctl", "describe", "pods/other"), "Name: other", "Node: <none>", "Status: Pending",
			`Warning BackOff \d+s default-scheduler about the other pod`)
		// Every pod of the namespace, one after another.
		all := o.ok("ctl", "describe", "po")
		if !strings.Contains(all, "Name:         other") && !strings.Contains(all, "web-new-x") {
			t.Fatalf("describe po:\n%s", all)
		}
	})

	t.Run("node", func(t *testing.T) {
		o.t = t
		out := o.ok("ctl", "describe", "node", "n1")
		wantHasLines(t, out, "Name: n1", "Roles: <none>", "Labels: zone=a", "Taints: dedicated=db:NoSchedule", "Unschedulable: false",
			"Conditions:", "Ready True .* KubeletReady", "Addresses:", "InternalIP: 10.0.0.1", "Hostname: n1",
			"Capacity:", "cpu: 4", "memory: 8Gi", "Allocatable:",
			`Non-terminated Pods: \(1 in total\)`, `default web-new-x 100m \(2%\) 0 \(0%\) 64Mi \(0%\) 0 \(0%\) \d+s`,
			"Allocated resources:", `cpu 100m \(2%\) 0 \(0%\)`, "Events: <none>")
	})

	t.Run("deployment", func(t *testing.T) {
		o.t = t
		out := o.ok("ctl", "describe", "deployment/web")
		wantHasLines(t, out, "Name: web", "Selector: app=web",
			`Replicas: 3 desired \| 1 updated \| 2 total \| 1 available \| 2 unavailable`,
			"StrategyType: RollingUpdate", "RollingUpdateStrategy: 25% max unavailable, 25% max surge", "Pod Template:",
			"Image: nginx:1.27", "Conditions:", "Progressing True ReplicaSetUpdated",
			`OldReplicaSets: web-old \(0/1 replicas created\)`, `NewReplicaSet: web-new \(1/1 replicas created\)`, "Events: <none>")
	})

	t.Run("replica set", func(t *testing.T) {
		o.t = t
		wantHasLines(t, o.ok("ctl", "describe", "rs", "web-new"), "Name: web-new", "Selector: app=web,pod-template-hash=new",
			"Controlled By: Deployment/web", "Replicas: 1 current / 1 desired",
			"Pods Status: 1 Running / 0 Waiting / 0 Succeeded / 0 Failed", "Image: nginx:1.27")
	})

	t.Run("service and endpoints", func(t *testing.T) {
		o.t = t
		wantHasLines(t, o.ok("ctl", "describe", "svc", "web"), "Name: web", "Selector: app=web", "Type: ClusterIP", "IP: 127.254.0.10",
			"Port: <unset> 80/TCP", "TargetPort: 8080/TCP", "Endpoints: 10.1.0.5:8080", "Session Affinity: None", "Events: <none>")
		wantHasLines(t, o.ok("ctl", "describe", "endpoints/web"), "Subsets:", "Addresses: 10.1.0.5", "NotReadyAddresses: <none>",
			"<unset> 8080 TCP")
	})

	t.Run("get events", func(t *testing.T) {
		o.t = t
		for _, alias := range []string{"events", "ev"} {
			out := o.ok("ctl", "get", alias)
			wantHasLines(t, out, "LAST SEEN TYPE REASON OBJECT MESSAGE",
				`\d+s Warning FailedScheduling pod/web-new-x 0/1 nodes are available: 1 node\(s\) were unschedulable.`,
				`\d+s Warning BackOff pod/other about the other pod`)
		}
		wantHasLines(t, o.ok("ctl", "get", "events", "-o", "wide"),
			"LAST SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST SEEN COUNT NAME",
			`\d+s Warning FailedScheduling pod/web-new-x default-scheduler 0/1 nodes are available: 1 node\(s\) were unschedulable. 1\dm 3 e1`)
	})

	t.Run("errors", func(t *testing.T) {
		o.t = t
		if _, _, err := o.run("ctl", "describe", "pod", "missing"); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("describe of a missing pod: %v", err)
		}
		if _, _, err := o.run("ctl", "describe", "widgets", "x"); err == nil {
			t.Fatal("describe of an unknown type succeeded")
		}
	})
}
