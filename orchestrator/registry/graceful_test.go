package registry_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// testGracefulDelete deletes a bound pod: it is marked (deletionTimestamp now + grace,
// deletionGracePeriodSeconds) and stays until a delete with grace period 0 and its uid.
func testGracefulDelete(t *testing.T, pods *registry.Store[api.Pod, *api.Pod], now time.Time) {
	ctx := ctxT(t)
	in := pod("graceful", "p", nil)
	in.Spec.NodeName = "n1"
	grace := int64(7)
	in.Spec.TerminationGracePeriodSeconds = &grace
	created, err := pods.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	marked, err := pods.Delete(ctx, "graceful", "p", registry.DeleteOptions{})
	if err != nil {
		t.Fatalf("graceful Delete: %v", err)
	}
	got, err := pods.Get(ctx, "graceful", "p")
	if err != nil {
		t.Fatalf("Get after a graceful Delete: %v", err)
	}
	if got.DeletionTimestamp == nil || !got.DeletionTimestamp.Equal(now.Add(7*time.Second)) ||
		got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 7 || got.ResourceVersion != marked.ResourceVersion {
		t.Fatalf("after a graceful Delete: %+v, want deletionTimestamp %v and grace 7", got.ObjectMeta, now.Add(7*time.Second))
	}
	// Deleting again with the same or no grace period changes nothing.
	again, err := pods.Delete(ctx, "graceful", "p", registry.DeleteOptions{})
	if err != nil || again.ResourceVersion != marked.ResourceVersion {
		t.Fatalf("second graceful Delete = %v, %v; want unchanged rv %s", again.ResourceVersion, err, marked.ResourceVersion)
	}
	// An update cannot undo the deletion, as in Kubernetes.
	undo := api.DeepCopy(marked)
	undo.DeletionTimestamp, undo.DeletionGracePeriodSeconds = nil, nil
	undo.Labels = map[string]string{"touched": "yes"}
	if _, err := pods.Update(ctx, undo); err != nil {
		t.Fatalf("Update of a terminating pod: %v", err)
	}
	if cur, err := pods.Get(ctx, "graceful", "p"); err != nil || cur.DeletionTimestamp == nil || cur.DeletionGracePeriodSeconds == nil || cur.Labels["touched"] != "yes" {
		t.Fatalf("after an update clearing the deletion: %+v (err %v), want the labels changed and the deletion kept", cur, err)
	}
	// A shorter grace period moves the deadline earlier.
	two := int64(2)
	shorter, err := pods.Delete(ctx, "graceful", "p", registry.DeleteOptions{GracePeriodSeconds: &two})
	if err != nil || !shorter.DeletionTimestamp.Equal(now.Add(2*time.Second)) || *shorter.DeletionGracePeriodSeconds != 2 {
		t.Fatalf("shorter Delete = %+v, %v", shorter, err)
	}
	// The agent's final delete: grace 0 with the uid.
	zero := int64(0)
	if _, err := pods.Delete(ctx, "graceful", "p", registry.DeleteOptions{UID: "other", GracePeriodSeconds: &zero}); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("final Delete with a wrong uid: got %v, want ErrConflict", err)
	}
	if _, err := pods.Delete(ctx, "graceful", "p", registry.DeleteOptions{UID: created.UID, GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("final Delete: %v", err)
	}
	if _, err := pods.Get(ctx, "graceful", "p"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Get after the final Delete: got %v, want ErrNotFound", err)
	}
}
