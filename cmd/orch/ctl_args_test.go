package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// startCtl starts a one-member cluster and returns a command runner and the stores.
func startCtl(t *testing.T) (*orch, *registry.Stores) {
	t.Helper()
	c := testcluster.Start(t, 1)
	o := &orch{t: t, endpoints: strings.Join(c.Endpoints(), ","), dir: t.TempDir()}
	return o, registry.NewStores(c.Client(), registry.Config{})
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bgCommand is a command running until it ends or the test cancels it.
type bgCommand struct {
	stdout, stderr syncBuffer
	cancel         context.CancelFunc
	done           chan error
}

// start runs a command line in the background; it is cancelled at cleanup.
func (o *orch) start(args ...string) *bgCommand {
	ctx, cancel := context.WithCancel(context.Background())
	b := &bgCommand{cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- run(ctx, append(args, "--endpoints", o.endpoints), &b.stdout, &b.stderr) }()
	o.t.Cleanup(func() {
		cancel()
		<-b.done
	})
	return b
}

// wait returns the command's error once it ends (a hang guard of 30s).
func (b *bgCommand) wait(t *testing.T) error {
	t.Helper()
	var err error
	eventually(t, "command ends", func() error {
		select {
		case err = <-b.done:
			b.done <- err // for the cleanup
			return nil
		default:
			return errText("still running; stdout " + b.stdout.String())
		}
	})
	return err
}

type errText string

func (e errText) Error() string { return string(e) }

// hasLines fails unless every pattern matches some line of out (whitespace runs in a
// pattern stand for column gaps).
func hasLines(out string, patterns ...string) error {
	lines := strings.Split(out, "\n")
next:
	for _, p := range patterns {
		re := regexp.MustCompile(`^\s*` + strings.Join(strings.Fields(p), `\s+`) + `\s*$`)
		for _, l := range lines {
			if re.MatchString(l) {
				continue next
			}
		}
		return errText("no line matches " + re.String() + " in:\n" + out)
	}
	return nil
}

func wantHasLines(t *testing.T, out string, patterns ...string) {
	t.Helper()
	if err := hasLines(out, patterns...); err != nil {
		t.Fatal(err)
	}
}

func TestParseTargets(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "resource/name ..." or "error"
	}{
		{[]string{"deployment/web"}, "deployments/web"},
		{[]string{"deploy", "web"}, "deployments/web"},
		{[]string{"deployments", "web", "api"}, "deployments/web deployments/api"},
		{[]string{"deployment.apps/web"}, "deployments/web"},
		{[]string{"deployments.apps", "web"}, "deployments/web"},
		{[]string{"deployment.core/web"}, "error"},
		{[]string{"po/a", "svc/b"}, "pods/a services/b"},
		{[]string{"pods"}, "pods/"},
		{[]string{"widgets", "x"}, "error"},
		{[]string{"pods", "po/x"}, "error"},
	} {
		ts, err := parseTargets(tc.args, true)
		var got []string
		for _, tg := range ts {
			got = append(got, tg.res.Name+"/"+tg.name)
		}
		g := strings.Join(got, " ")
		if err != nil {
			g = "error"
		}
		if g != tc.want {
			t.Errorf("parseTargets(%q) = %q (%v), want %q", tc.args, g, err, tc.want)
		}
	}
	if _, err := oneTarget([]string{"rs/x"}, "deployments"); err == nil {
		t.Error("oneTarget accepted a replica set where only deployments are supported")
	}
	if _, err := parseTargets([]string{"pods"}, false); err == nil {
		t.Error("a bare type was accepted where a name is required")
	}
}

// testPod returns a pod with one container c (image busybox) in namespace default.
func testPod(name string, mutate ...func(p *api.Pod)) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

// mustGet returns a function that unwraps a (value, error) result, failing t on the error.
func mustGet[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestVerbUsage(t *testing.T) {
	for _, args := range [][]string{{"ctl", "rollout"}, {"ctl", "rollout", "status"}, {"ctl", "rollout", "frob", "deployment/x"},
		{"ctl", "describe"}, {"ctl", "cordon"}, {"ctl", "uncordon"}, {"ctl", "drain"}, {"ctl", "drain", "a", "b"}, {"ctl", "logs"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append(args, "--endpoints", "127.0.0.1:1"), &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("orch %v: %v, want a usage error", args, err)
		}
	}
}
