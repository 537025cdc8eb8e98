package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestHoistCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "cmd | rest" or "error"
	}{
		{[]string{"get", "pods"}, "get | pods"},
		{[]string{"--endpoints", "h:1", "get", "pods"}, "get | --endpoints h:1 pods"},
		{[]string{"--endpoints=h:1", "get", "pods", "-o", "wide"}, "get | --endpoints=h:1 pods -o wide"},
		{[]string{"-n", "kube-system", "-o", "yaml", "get", "leases"}, "get | -n kube-system -o yaml leases"},
		{[]string{"-A", "get", "pods"}, "get | -A pods"},
		{[]string{"-A=false", "--namespace", "x", "describe", "pod", "p"}, "describe | -A=false --namespace x pod p"},
		{[]string{"--dial-timeout", "1s", "--command-timeout=5s", "--log-level", "debug", "ctl", "get", "pods"},
			"ctl | --dial-timeout 1s --command-timeout=5s --log-level debug get pods"},
		{[]string{"-l", "app=web", "delete", "pods"}, "delete | -l app=web pods"},
		{[]string{"--", "get"}, "get | "},
		{[]string{"--replicas", "3", "scale"}, "error"},
		{[]string{"-n"}, "error"},
		{[]string{"-A"}, " | "},
	} {
		cmd, rest, err := hoistCommand(tc.args)
		got := cmd + " | " + strings.Join(rest, " ")
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("hoistCommand(%q) = %q (%v), want %q", tc.args, got, err, tc.want)
		}
	}
}

// TestGlobalFlagsBeforeTheVerb runs ctl with its global flags before the verb and before
// "ctl" itself, as etcdctl and kubectl users write them.
func TestGlobalFlagsBeforeTheVerb(t *testing.T) {
	o, st := startCtl(t)
	ctx := context.Background()
	mustGet[*api.Pod](t)(st.Pods.Create(ctx, testPod("solo", func(p *api.Pod) { p.Namespace = "tools" })))
	for _, args := range [][]string{
		{"ctl", "--endpoints", o.endpoints, "-n", "tools", "get", "pods", "-o", "name"},
		{"ctl", "--endpoints=" + o.endpoints, "-o", "name", "get", "pods", "-n", "tools"},
		{"--endpoints", o.endpoints, "ctl", "-n", "tools", "get", "pods", "-o", "name"},
		{"--endpoints", o.endpoints, "-n", "tools", "ctl", "-o", "name", "get", "pods"},
		{"ctl", "-A", "--endpoints", o.endpoints, "-o", "name", "get", "pods"},
	} {
		var out, errOut bytes.Buffer
		if err := run(ctx, args, &out, &errOut); err != nil {
			t.Fatalf("orch %s: %v (stderr %q)", strings.Join(args, " "), err, errOut.String())
		}
		if got := strings.TrimSpace(out.String()); got != "pod/solo" {
			t.Errorf("orch %s printed %q, want pod/solo", strings.Join(args, " "), got)
		}
	}
	// -n before a verb about cluster-scoped objects is accepted and ignored, as in kubectl.
	mustGet[*api.Node](t)(st.Nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}))
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"ctl", "-n", "tools", "--endpoints", o.endpoints, "cordon", "n1"}, &out, &errOut); err != nil {
		t.Fatalf("cordon with -n first: %v (stderr %q)", err, errOut.String())
	}
	// A verb's own flag before the verb is refused with a clear message.
	errOut.Reset()
	if err := run(ctx, []string{"ctl", "--replicas", "3", "scale", "deployment", "web"}, &out, &errOut); !errors.Is(err, errUsage) ||
		!strings.Contains(errOut.String(), "unknown flag --replicas before the command") {
		t.Fatalf("verb flag before the verb: %v, stderr %q", err, errOut.String())
	}
}
