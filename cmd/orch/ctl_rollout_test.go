package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/deployment"
)

func deploymentObj(name, image string) *api.Deployment {
	three := int32(3)
	return &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: api.DeploymentSpec{Replicas: &three, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: name, Image: image}}}}},
	}
}

// revisionRS returns a ReplicaSet of d at a revision, with d's template but image, as the
// deployment controller would have made it.
func revisionRS(d *api.Deployment, hash, rev, image, cause string) *api.ReplicaSet {
	yes := true
	tmpl := api.DeepCopy(d).Spec.Template
	tmpl.Labels[deployment.PodTemplateHashLabel] = hash
	tmpl.Spec.Containers[0].Image = image
	ann := map[string]string{deployment.RevisionAnnotation: rev}
	if cause != "" {
		ann[changeCauseAnnotation] = cause
	}
	zero := int32(0)
	return &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: tmpl.Labels, Annotations: ann,
			OwnerReferences: []api.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &yes}}},
		Spec: api.ReplicaSetSpec{Replicas: &zero, Template: tmpl,
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": d.Name, deployment.PodTemplateHashLabel: hash}}},
	}
}

func TestRollout(t *testing.T) {
	o, st := startCtl(t)
	ctx := context.Background()
	d := mustGet[*api.Deployment](t)(st.Deployments.Create(ctx, deploymentObj("web", "nginx:v2")))
	mustGet[*api.ReplicaSet](t)(st.ReplicaSets.Create(ctx, revisionRS(d, "aaa", "1", "nginx:v1", "first")))
	mustGet[*api.ReplicaSet](t)(st.ReplicaSets.Create(ctx, revisionRS(d, "bbb", "2", "nginx:v2", "")))
	// Another deployment's ReplicaSet with the same labels is not part of web's history.
	other := mustGet[*api.Deployment](t)(st.Deployments.Create(ctx, deploymentObj("solo", "nginx:v9")))
	mustGet[*api.ReplicaSet](t)(st.ReplicaSets.Create(ctx, revisionRS(other, "ccc", "5", "nginx:v9", "")))
	image := func() string {
		t.Helper()
		d := mustGet[*api.Deployment](t)(st.Deployments.Get(ctx, "default", "web"))
		if _, ok := d.Spec.Template.Labels[deployment.PodTemplateHashLabel]; ok {
			t.Fatalf("undo left the pod-template-hash label in the template: %v", d.Spec.Template.Labels)
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}

	t.Run("history", func(t *testing.T) {
		o.t = t
		wantTable(t, o.ok("ctl", "rollout", "history", "deployment/web"),
			"deployment.apps/web", "REVISION CHANGE-CAUSE", "1 first", "2 <none>")
		out := o.ok("ctl", "rollout", "history", "deploy", "web", "--revision", "1")
		wantHasLines(t, out, "deployment.apps/web with revision #1", "Pod Template:", "Labels: app=web",
			"pod-template-hash=aaa", "Annotations: kubernetes.io/change-cause: first", "Containers:", "web:", "Image: nginx:v1")
		if _, _, err := o.run("ctl", "rollout", "history", "deployments/web", "--revision", "9"); err == nil ||
			err.Error() != "unable to find the specified revision" {
			t.Fatalf("history of a missing revision: %v", err)
		}
		wantLines(t, o.ok("ctl", "rollout", "history", "deployments", "solo"), "deployment.apps/solo", "REVISION  CHANGE-CAUSE", "5         <none>")
	})

	t.Run("undo", func(t *testing.T) {
		o.t = t
		gen := mustGet[*api.Deployment](t)(st.Deployments.Get(ctx, "default", "web")).Generation
		wantLines(t, o.ok("ctl", "rollout", "undo", "deployment/web"), "deployment.apps/web rolled back")
		after := mustGet[*api.Deployment](t)(st.Deployments.Get(ctx, "default", "web"))
		if img := image(); img != "nginx:v1" || after.Generation != gen+1 {
			t.Fatalf("after undo: image %q generation %d, want nginx:v1 and %d", img, after.Generation, gen+1)
		}
		if after.Annotations[changeCauseAnnotation] != "first" {
			t.Fatalf("undo did not copy the revision's change cause: %v", after.Annotations)
		}
		// The previous revision (1) is now the current template: nothing to do.
		wantLines(t, o.ok("ctl", "rollout", "undo", "deployment", "web"),
			"deployment.apps/web skipped rollback (current template already matches revision 1)")
		wantLines(t, o.ok("ctl", "rollout", "undo", "deploy/web", "--to-revision", "2"), "deployment.apps/web rolled back")
		if img := image(); img != "nginx:v2" {
			t.Fatalf("after undo --to-revision 2: image %q", img)
		}
		if _, _, err := o.run("ctl", "rollout", "undo", "deployment/web", "--to-revision=7"); err == nil ||
			err.Error() != "unable to find specified revision 7 in history" {
			t.Fatalf("undo to a missing revision: %v", err)
		}
		if _, _, err := o.run("ctl", "rollout", "undo", "deployment/solo"); err == nil ||
			err.Error() != `no rollout history found for deployment "solo"` {
			t.Fatalf("undo without history: %v", err)
		}
		if _, _, err := o.run("ctl", "rollout", "undo", "rs/web-aaa"); err == nil {
			t.Fatal("undo of a replica set succeeded")
		}
	})

	t.Run("pause resume restart", func(t *testing.T) {
		o.t = t
		wantLines(t, o.ok("ctl", "rollout", "pause", "deployment.apps/web"), "deployment.apps/web paused")
		if d := mustGet[*api.Deployment](t)(st.Deployments.Get(ctx, "default", "web")); !d.Spec.Paused {
			t.Fatal("pause did not set spec.paused")
		}
		if _, _, err := o.run("ctl", "rollout", "pause", "deployment/web"); err == nil || err.Error() != `deployments.apps "web" is already paused` {
			t.Fatalf("second pause: %v", err)
		}
		if _, _, err := o.run("ctl", "rollout", "undo", "deployment/web"); err == nil || !strings.Contains(err.Error(), "cannot rollback a paused deployment") {
			t.Fatalf("undo of a paused deployment: %v", err)
		}
		if _, _, err := o.run("ctl", "rollout", "restart", "deployment/web"); err == nil || !strings.Contains(err.Error(), "can't restart paused deployment") {
			t.Fatalf("restart of a paused deployment: %v", err)
		}
		wantLines(t, o.ok("ctl", "rollout", "resume", "deployment/web"), "deployment.apps/web resumed")
		if _, _, err := o.run("ctl", "rollout", "resume", "deployment/web"); err == nil || err.Error() != `deployments.apps "web" is not paused` {
			t.Fatalf("second resume: %v", err)
		}
		wantLines(t, o.ok("ctl", "rollout", "restart", "deployment/web"), "deployment.apps/web restarted")
		d := mustGet[*api.Deployment](t)(st.Deployments.Get(ctx, "default", "web"))
		if _, err := time.Parse(time.RFC3339, d.Spec.Template.Annotations[restartedAtAnnotation]); err != nil {
			t.Fatalf("restartedAt annotation %q: %v", d.Spec.Template.Annotations[restartedAtAnnotation], err)
		}
		if _, _, err := o.run("ctl", "rollout", "pause", "deployment/missing"); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("pause of a missing deployment: %v", err)
		}
	})

	setStatus := func(t *testing.T, name string, f func(d *api.Deployment)) {
		t.Helper()
		if _, err := st.Deployments.GuaranteedUpdate(ctx, "default", name, func(d *api.Deployment) (*api.Deployment, error) {
			d.Status.ObservedGeneration = d.Generation
			f(d)
			return d, nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("status", func(t *testing.T) {
		o.t = t
		setStatus(t, "web", func(d *api.Deployment) {
			d.Status = api.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 1}
		})
		b := o.start("ctl", "rollout", "status", "deployment/web", "--command-timeout", "10s")
		eventually(t, "waiting message", func() error {
			return hasLines(b.stdout.String(), `Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...`)
		})
		setStatus(t, "web", func(d *api.Deployment) { d.Status.AvailableReplicas = 3 })
		if err := b.wait(t); err != nil {
			t.Fatalf("rollout status: %v (stderr %q)", err, b.stderr.String())
		}
		wantLines(t, b.stdout.String(),
			`Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...`,
			`deployment "web" successfully rolled out`)
		wantLines(t, o.ok("ctl", "rollout", "status", "deploy", "web"), `deployment "web" successfully rolled out`)

		setStatus(t, "solo", func(d *api.Deployment) {
			d.Status = api.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 3}
		})
		wantLines(t, o.ok("ctl", "rollout", "status", "deployment/solo", "--watch=false"),
			`Waiting for deployment "solo" rollout to finish: 1 old replicas are pending termination...`)
		if _, _, err := o.run("ctl", "rollout", "status", "deployment/solo", "--timeout", "200ms"); err == nil ||
			err.Error() != "timed out waiting for the condition" {
			t.Fatalf("status past its --timeout: %v", err)
		}
		setStatus(t, "solo", func(d *api.Deployment) {
			d.Status.Conditions = []api.DeploymentCondition{{Type: "Progressing", Status: api.ConditionFalse, Reason: progressDeadlineExceeded}}
		})
		if _, _, err := o.run("ctl", "rollout", "status", "deployment/solo"); err == nil || err.Error() != `deployment "solo" exceeded its progress deadline` {
			t.Fatalf("status of a stalled rollout: %v", err)
		}
	})
}

func TestRolloutStatusMessages(t *testing.T) {
	three := int32(3)
	for _, tc := range []struct {
		name string
		gen  int64
		st   api.DeploymentStatus
		want string
		done bool
	}{
		{"spec not observed", 2, api.DeploymentStatus{ObservedGeneration: 1}, "Waiting for deployment spec update to be observed...\n", false},
		{"updating", 1, api.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 1, Replicas: 3},
			"Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n", false},
		{"old pods left", 1, api.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 3, Replicas: 5},
			"Waiting for deployment \"web\" rollout to finish: 2 old replicas are pending termination...\n", false},
		{"unavailable", 1, api.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 3, Replicas: 3, AvailableReplicas: 2},
			"Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...\n", false},
		{"done", 1, api.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 3, Replicas: 3, AvailableReplicas: 3},
			"deployment \"web\" successfully rolled out\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Generation: tc.gen}, Spec: api.DeploymentSpec{Replicas: &three}, Status: tc.st}
			msg, done, err := rolloutStatus(d)
			if err != nil || msg != tc.want || done != tc.done {
				t.Fatalf("got %q %v %v, want %q %v", msg, done, err, tc.want, tc.done)
			}
		})
	}
}
