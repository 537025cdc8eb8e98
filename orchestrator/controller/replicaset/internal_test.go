package replicaset

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestSlowStart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n        int
		failFrom int64 // calls numbered ≥ failFrom fail (0 = none)
		wantOK   int
		wantErr  bool
	}{
		{"all succeed", 10, 0, 10, false},
		{"first call fails", 10, 1, 0, true},
		// Batches 1, 2, 4: calls 1–3 succeed, the third batch (calls 4–7) fails from call 5.
		{"third batch fails", 100, 5, 4, true},
		{"zero", 0, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			ok, err := slowStart(tc.n, func() error {
				if k := calls.Add(1); tc.failFrom > 0 && k >= tc.failFrom {
					return errors.New("quota")
				}
				return nil
			})
			if ok != tc.wantOK || (err != nil) != tc.wantErr {
				t.Errorf("slowStart(%d) = %d, %v; want %d, error %v", tc.n, ok, err, tc.wantOK, tc.wantErr)
			}
			// A failed batch stops creation: never more calls than the batches started.
			if tc.wantErr && calls.Load() >= int64(tc.n) {
				t.Errorf("%d calls after a failure, want fewer than %d", calls.Load(), tc.n)
			}
		})
	}
}

func TestRankForDeletion(t *testing.T) {
	old := api.NewTime(time.Unix(1000, 0))
	young := api.NewTime(time.Unix(2000, 0))
	mk := func(name, node, phase string, ready bool, restarts int32, created api.Time) *api.Pod {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, CreationTimestamp: created}}
		p.Spec.NodeName, p.Status.Phase = node, phase
		st := api.ConditionFalse
		if ready {
			st = api.ConditionTrue
		}
		p.Status.Conditions = []api.PodCondition{{Type: "Ready", Status: st, LastTransitionTime: created}}
		p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "c", RestartCount: restarts}}
		return p
	}
	pods := []*api.Pod{
		mk("running-ready-old", "n", api.PodRunning, true, 0, old),
		mk("running-ready-young", "n", api.PodRunning, true, 0, young),
		mk("running-ready-restarted", "n", api.PodRunning, true, 3, old),
		mk("running-notready", "n", api.PodRunning, false, 0, old),
		mk("unknown", "n", api.PodUnknown, false, 0, old),
		mk("pending-scheduled", "n", api.PodPending, false, 0, old),
		mk("unscheduled", "", api.PodPending, false, 0, old),
		mk("running-ready-cheap", "n", api.PodRunning, true, 0, old),
		mk("running-ready-recently", "n", api.PodRunning, true, 0, old),
	}
	pods[7].Annotations = map[string]string{PodDeletionCostAnnotation: "-5"}
	pods[8].Status.Conditions[0].LastTransitionTime = api.NewTime(time.Unix(3000, 0))
	want := []string{"unscheduled", "pending-scheduled", "unknown", "running-notready", "running-ready-cheap",
		"running-ready-recently", "running-ready-young", "running-ready-restarted", "running-ready-old"}
	for seed := range 5 {
		shuffled := slices.Clone(pods)
		for i := range shuffled {
			j := (i*7 + seed*3) % len(shuffled)
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		}
		rankForDeletion(shuffled)
		var got []string
		for _, p := range shuffled {
			got = append(got, p.Name)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("order %d: got %v, want %v", seed, got, want)
		}
	}
}
