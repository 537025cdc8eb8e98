package registry

import (
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

func i64(v int64) *int64 { return &v }

// TestGracefulDelete checks the apiserver's graceful-deletion decisions for pods.
func TestGracefulDelete(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	marked := func(at time.Time, grace int64) *api.Pod {
		p := boundPod(i64(30))
		ts := api.NewTime(at)
		p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &grace
		return p
	}
	for _, tc := range []struct {
		name      string
		obj       api.Object
		requested *int64
		want      deleteAction
		wantAt    time.Time // deletionTimestamp after a mark
		wantGrace int64
	}{
		{name: "not a pod", obj: &api.Service{}, want: deleteNow},
		{name: "bound pod: its own grace period", obj: boundPod(i64(5)), want: deleteMark, wantAt: now.Add(5 * time.Second), wantGrace: 5},
		{name: "bound pod: default 30 s", obj: boundPod(nil), want: deleteMark, wantAt: now.Add(30 * time.Second), wantGrace: 30},
		{name: "bound pod: requested period wins", obj: boundPod(i64(5)), requested: i64(12), want: deleteMark, wantAt: now.Add(12 * time.Second), wantGrace: 12},
		{name: "bound pod: grace 0 removes at once", obj: boundPod(i64(5)), requested: i64(0), want: deleteNow},
		{name: "bound pod with spec grace 0", obj: boundPod(i64(0)), want: deleteNow},
		{name: "unscheduled pod: at once", obj: func() api.Object { p := boundPod(nil); p.Spec.NodeName = ""; return p }(), want: deleteNow},
		{name: "succeeded pod: at once", obj: func() api.Object { p := boundPod(nil); p.Status.Phase = api.PodSucceeded; return p }(), want: deleteNow},
		{name: "failed pod: at once", obj: func() api.Object { p := boundPod(nil); p.Status.Phase = api.PodFailed; return p }(), want: deleteNow},
		{name: "terminating: same request changes nothing", obj: marked(now.Add(10*time.Second), 30), want: deletePending},
		{name: "terminating: longer period changes nothing", obj: marked(now.Add(10*time.Second), 30), requested: i64(60), want: deletePending},
		{name: "terminating: shorter period moves the deadline", obj: marked(now.Add(10*time.Second), 30), requested: i64(10),
			want: deleteMark, wantAt: now.Add(-10 * time.Second), wantGrace: 10},
		{name: "terminating: force", obj: marked(now.Add(10*time.Second), 30), requested: i64(0), want: deleteNow},
		{name: "terminating without a grace period: at once", obj: func() api.Object { p := marked(now, 30); p.DeletionGracePeriodSeconds = nil; return p }(), want: deleteNow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := gracefulDelete(tc.obj, tc.requested, now)
			if got != tc.want {
				t.Fatalf("action = %d, want %d", got, tc.want)
			}
			if got != deleteMark {
				return
			}
			m := tc.obj.Meta()
			if m.DeletionTimestamp == nil || !m.DeletionTimestamp.Equal(tc.wantAt) || m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds != tc.wantGrace {
				t.Fatalf("marked %v/%v, want %v/%d", m.DeletionTimestamp, m.DeletionGracePeriodSeconds, tc.wantAt, tc.wantGrace)
			}
		})
	}
}

func boundPod(grace *int64) *api.Pod {
	return &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec:   api.PodSpec{NodeName: "n1", TerminationGracePeriodSeconds: grace},
		Status: api.PodStatus{Phase: api.PodRunning}}
}
