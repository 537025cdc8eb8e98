package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

func TestDeleteGracePeriodFlags(t *testing.T) {
	for _, tc := range []struct {
		o    deleteOptions
		want string // seconds, "default" or "error"
	}{
		{deleteOptions{gracePeriod: -1}, "default"},
		{deleteOptions{gracePeriod: 5}, "5"},
		{deleteOptions{gracePeriod: 0}, "1"}, // immediate deletion needs --force
		{deleteOptions{gracePeriod: 0, force: true}, "0"},
		{deleteOptions{gracePeriod: -1, force: true}, "0"},
		{deleteOptions{gracePeriod: 7, force: true}, "7"},
		{deleteOptions{gracePeriod: -1, now: true}, "1"},
		{deleteOptions{gracePeriod: 3, now: true}, "error"},
	} {
		g, err := tc.o.gracePeriodSeconds()
		got := "default"
		switch {
		case err != nil:
			got = "error"
		case g != nil:
			got = strconv.FormatInt(*g, 10)
		}
		if got != tc.want {
			t.Errorf("%+v: got %s, want %s", tc.o, got, tc.want)
		}
	}
}

// TestCtlDeleteGraceful deletes a pod bound to a node: it stays terminating until its agent
// (played by the test) removes it, and delete waits for that unless --wait=false.
func TestCtlDeleteGraceful(t *testing.T) {
	o, st := startCtl(t)
	ctx := t.Context()
	grace := int64(30)
	create := func(name string) *api.Pod {
		t.Helper()
		return mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod(name, func(p *api.Pod) {
			p.Spec.NodeName, p.Spec.TerminationGracePeriodSeconds = "n1", &grace
			p.Status.Phase = api.PodRunning
		})))
	}
	marked := func(name string) int64 {
		t.Helper()
		p := mustGet[*api.Pod](t)(st.Pods.Get(ctx, "default", name))
		if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil {
			t.Fatalf("pod %s not terminating: %+v", name, p.ObjectMeta)
		}
		return *p.DeletionGracePeriodSeconds
	}
	p := create("web")
	wantLines(t, o.ok("ctl", "delete", "pod", "web", "--wait=false"), `pod "web" deleted`)
	if g := marked("web"); g != 30 {
		t.Fatalf("grace period %d, want the pod's 30", g)
	}
	o.ok("ctl", "delete", "pod/web", "--grace-period=5", "--wait=false")
	if g := marked("web"); g != 5 {
		t.Fatalf("grace period %d after --grace-period=5, want 5", g)
	}
	// Waiting (the default) ends when the agent removes the pod.
	bg := o.start("ctl", "delete", "pod", "web")
	eventually(t, "delete prints before waiting", func() error {
		if !strings.Contains(bg.stdout.String(), `pod "web" deleted`) {
			return errText("no output yet")
		}
		return nil
	})
	select {
	case err := <-bg.done:
		t.Fatalf("delete returned (%v) while the pod is still there", err)
	default:
	}
	mustGet[*api.Pod](t)(st.Pods.Delete(ctx, "default", "web", registry.DeleteOptions{UID: p.UID, GracePeriodSeconds: registry.GracePeriod(0)}))
	if err := bg.wait(t); err != nil {
		t.Fatalf("delete --wait: %v", err)
	}

	create("quick")
	o.ok("ctl", "delete", "pod", "quick", "--grace-period=0", "--wait=false")
	if g := marked("quick"); g != 1 {
		t.Fatalf("--grace-period=0 without --force: grace %d, want 1", g)
	}
	out, errOut, err := o.run("ctl", "delete", "pod", "quick", "--grace-period=0", "--force")
	if err != nil || !strings.Contains(errOut, "Immediate deletion does not wait") {
		t.Fatalf("force delete: %v, stderr %q", err, errOut)
	}
	wantLines(t, out, `pod "quick" force deleted`)
	if _, err := st.Pods.Get(ctx, "default", "quick"); err == nil {
		t.Fatal("pod still there after a force delete")
	}
	if _, _, err := o.run("ctl", "delete", "pod", "x", "--now", "--grace-period=3"); err == nil {
		t.Fatal("--now with --grace-period accepted")
	}
}
