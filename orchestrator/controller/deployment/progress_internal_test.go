package deployment

import (
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestSyncProgress(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	cond := func(status, reason string, updated, transitioned int) api.DeploymentCondition {
		return api.DeploymentCondition{Type: ConditionProgressing, Status: status, Reason: reason,
			LastUpdateTime: api.NewTime(at(updated)), LastTransitionTime: api.NewTime(at(transitioned))}
	}
	newRS := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web-abc"}}
	tests := []struct {
		name     string
		paused   bool
		prev     api.DeploymentStatus // stored status (with its conditions)
		next     api.DeploymentStatus // computed counts
		created  string
		now      int
		want     api.DeploymentCondition
		requeue  time.Duration // 0 = none
		noNewRS  bool
		deadline int32
	}{
		{name: "created", created: "web-abc", now: 5, noNewRS: true,
			next: api.DeploymentStatus{}, want: cond("True", ReasonNewReplicaSetCreated, 5, 5), requeue: 11 * time.Second},
		{name: "found without condition", now: 5,
			prev: api.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1},
			next: api.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1}, want: cond("True", ReasonFoundNewReplicaSet, 5, 5), requeue: 11 * time.Second},
		{name: "progress refreshes lastUpdateTime", now: 7,
			prev: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, Conditions: []api.DeploymentCondition{cond("True", ReasonReplicaSetUpdated, 3, 1)}},
			next: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2}, want: cond("True", ReasonReplicaSetUpdated, 7, 1), requeue: 11 * time.Second},
		{name: "no progress within the deadline", now: 8,
			prev: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, Conditions: []api.DeploymentCondition{cond("True", ReasonReplicaSetUpdated, 3, 1)}},
			next: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1}, want: cond("True", ReasonReplicaSetUpdated, 3, 1), requeue: 6 * time.Second},
		{name: "deadline exceeded", now: 14,
			prev: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, Conditions: []api.DeploymentCondition{cond("True", ReasonReplicaSetUpdated, 3, 1)}},
			next: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1}, want: cond("False", ReasonProgressDeadlineExceeded, 14, 14)},
		{name: "progress after the deadline", now: 20,
			prev: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, Conditions: []api.DeploymentCondition{cond("False", ReasonProgressDeadlineExceeded, 14, 14)}},
			next: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 1}, want: cond("True", ReasonReplicaSetUpdated, 20, 20), requeue: 11 * time.Second},
		{name: "complete", now: 9,
			prev: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1, Conditions: []api.DeploymentCondition{cond("True", ReasonReplicaSetUpdated, 3, 1)}},
			next: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}, want: cond("True", ReasonNewReplicaSetAvailable, 9, 1)},
		{name: "paused is not evaluated", paused: true, now: 100,
			prev: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, Conditions: []api.DeploymentCondition{cond("True", ReasonReplicaSetUpdated, 3, 1)}},
			next: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1}, want: cond("Unknown", ReasonDeploymentPaused, 100, 100)},
		{name: "resumed restarts the clock", now: 200,
			prev: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, Conditions: []api.DeploymentCondition{cond("Unknown", ReasonDeploymentPaused, 100, 100)}},
			next: api.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1}, want: cond("Unknown", ReasonDeploymentResumed, 200, 100), requeue: 11 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			two, ten := int32(2), int32(10)
			d := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Generation: 1},
				Spec: api.DeploymentSpec{Replicas: &two, Paused: tt.paused, ProgressDeadlineSeconds: &ten}, Status: tt.prev}
			st := tt.next
			st.ObservedGeneration = 1
			st.Conditions = append([]api.DeploymentCondition(nil), tt.prev.Conditions...)
			rs := newRS
			if tt.noNewRS {
				rs = nil
			}
			now := at(tt.now)
			syncProgress(d, &st, rs, tt.created, now)
			got := condition(&st, ConditionProgressing)
			if got == nil {
				t.Fatal("no Progressing condition")
			}
			g, w := *got, tt.want
			g.Message = ""
			if !conditionsEqual([]api.DeploymentCondition{g}, []api.DeploymentCondition{w}) {
				t.Errorf("Progressing: got %s/%s updated %v transitioned %v, want %s/%s updated %v transitioned %v",
					g.Status, g.Reason, g.LastUpdateTime.Time, g.LastTransitionTime.Time, w.Status, w.Reason, w.LastUpdateTime.Time, w.LastTransitionTime.Time)
			}
			after, ok := progressCheckAfter(d, &st, now)
			if !ok {
				after = 0
			}
			if after != tt.requeue {
				t.Errorf("requeue after %v, want %v", after, tt.requeue)
			}
		})
	}
}

func TestSetAvailable(t *testing.T) {
	four := int32(4)
	d := &api.Deployment{Spec: api.DeploymentSpec{Replicas: &four, Strategy: api.DeploymentStrategy{Type: api.RollingUpdateStrategy}}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		strategy  string
		available int32
		want      string
	}{
		{api.RollingUpdateStrategy, 3, api.ConditionTrue}, // maxUnavailable 25% of 4 = 1
		{api.RollingUpdateStrategy, 2, api.ConditionFalse},
		{api.RecreateStrategy, 3, api.ConditionFalse},
		{api.RecreateStrategy, 4, api.ConditionTrue},
	} {
		d.Spec.Strategy.Type = tc.strategy
		st := api.DeploymentStatus{AvailableReplicas: tc.available}
		setAvailable(d, &st, now)
		if c := condition(&st, ConditionAvailable); c == nil || c.Status != tc.want {
			t.Errorf("%s with %d available: got %+v, want %s", tc.strategy, tc.available, c, tc.want)
		}
	}
}
