package deployment_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/deployment"
	"github.com/keeldb/keel/orchestrator/controller/replicaset"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"
)

func deploymentCondition(d *api.Deployment, typ string) api.DeploymentCondition {
	for _, c := range d.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return api.DeploymentCondition{}
}

// wantConditions checks the Progressing and Available conditions of the deployment name.
func (e *env) wantConditions(name, progressing, progressingReason, available string) error {
	d, err := e.stores.Deployments.Get(e.ctx, "default", name)
	if err != nil {
		return err
	}
	p, a := deploymentCondition(d, deployment.ConditionProgressing), deploymentCondition(d, deployment.ConditionAvailable)
	if p.Status != progressing || p.Reason != progressingReason || a.Status != available {
		return fmt.Errorf("%s: Progressing %s/%s (%q), Available %s/%s; want Progressing %s/%s, Available %s",
			name, p.Status, p.Reason, p.Message, a.Status, a.Reason, progressing, progressingReason, available)
	}
	return nil
}

// TestProgressDeadline runs the Deployment and ReplicaSet controllers with no agent, so
// pods never become ready: a 2 s progress deadline passes, and readiness set by hand
// makes the rollout complete. A paused Deployment does not time out.
func TestProgressDeadline(t *testing.T) {
	cl := testcluster.Start(t, 3)
	cli := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e := &env{t: t, ctx: ctx, stores: registry.NewStores(cli, registry.Config{})}
	rec := events.NewRecorder(cli, events.Config{Component: "controller-manager"})
	start(t, ctx, rec.Run)
	start(t, ctx, func(ctx context.Context) error {
		return replicaset.Run(ctx, cli, replicaset.Config{Recorder: rec})
	})
	start(t, ctx, func(ctx context.Context) error {
		return deployment.Run(ctx, cli, deployment.Config{Recorder: rec})
	})

	two := int32(2)
	stuck := newDeployment("stuck", 1, api.DeploymentStrategy{})
	stuck.Spec.ProgressDeadlineSeconds = &two
	paused := newDeployment("paused", 1, api.DeploymentStrategy{})
	paused.Spec.ProgressDeadlineSeconds = &two
	paused.Spec.Paused = true
	// Writes are retried: a leader change under load fails them transiently.
	for _, d := range []*api.Deployment{stuck, paused} {
		poll.Eventually(t, 10*time.Second, func() error {
			if _, err := e.stores.Deployments.Create(ctx, d); err != nil && !errors.Is(err, registry.ErrAlreadyExists) {
				return err
			}
			return nil
		})
	}
	// The rollout starts (NewReplicaSetCreated, then ReplicaSetUpdated as the pod appears)
	// and stalls: the pod never becomes ready.
	poll.Eventually(t, 20*time.Second, func() error {
		return e.wantConditions("stuck", api.ConditionFalse, deployment.ReasonProgressDeadlineExceeded, api.ConditionFalse)
	})
	if err := e.wantConditions("paused", api.ConditionUnknown, deployment.ReasonDeploymentPaused, api.ConditionFalse); err != nil {
		t.Errorf("paused deployment after the other timed out: %v", err)
	}

	// Progress resumes it: the pod becomes ready, the rollout completes.
	pods, err := e.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default", Selector: labels.SelectorFromSet(map[string]string{"app": "stuck"})})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("stuck pods: %v %v", pods, err)
	}
	p := pods.Items[0]
	poll.Eventually(t, 10*time.Second, func() error {
		_, err := e.stores.Pods.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
			cur.Status.Phase = api.PodRunning
			cur.Status.Conditions = []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue, LastTransitionTime: api.NewTime(time.Now())}}
			return cur, nil
		})
		return err
	})
	poll.Eventually(t, 20*time.Second, func() error {
		return e.wantConditions("stuck", api.ConditionTrue, deployment.ReasonNewReplicaSetAvailable, api.ConditionTrue)
	})

	// Events: the Deployment scaled its ReplicaSet up, which created the pod.
	rs := e.replicaSets("stuck")
	if len(rs) != 1 {
		t.Fatalf("%d replica sets, want 1", len(rs))
	}
	poll.Eventually(t, 10*time.Second, func() error {
		l, err := e.stores.Events.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		var got []string
		for _, ev := range l.Items {
			got = append(got, fmt.Sprintf("%s/%s %s %s: %s", ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Type, ev.Reason, ev.Message))
		}
		all := strings.Join(got, "\n")
		for _, want := range []string{
			fmt.Sprintf("Deployment/stuck Normal ScalingReplicaSet: Scaled up replica set %s to 1", rs[0].Name),
			fmt.Sprintf("ReplicaSet/%s Normal SuccessfulCreate: Created pod: %s", rs[0].Name, p.Name),
		} {
			if !strings.Contains(all, want) {
				return fmt.Errorf("no event %q in:\n%s", want, all)
			}
		}
		return nil
	})

	// Resuming the paused Deployment starts its rollout, and its deadline with it.
	poll.Eventually(t, 10*time.Second, func() error {
		_, err := e.stores.Deployments.GuaranteedUpdate(ctx, "default", "paused", func(cur *api.Deployment) (*api.Deployment, error) {
			cur.Spec.Paused = false
			return cur, nil
		})
		return err
	})
	poll.Eventually(t, 20*time.Second, func() error {
		return e.wantConditions("paused", api.ConditionFalse, deployment.ReasonProgressDeadlineExceeded, api.ConditionFalse)
	})
}
