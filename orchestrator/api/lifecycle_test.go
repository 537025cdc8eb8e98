package api_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// TestLifecycleHooks decodes pods with lifecycle hooks: valid ones pass, invalid ones give
// Kubernetes' field errors, unsupported handler fields are refused with their path.
func TestLifecycleHooks(t *testing.T) {
	const head = `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: c
    image: busybox
    command: [sleep, "100"]
    lifecycle:
`
	for _, tc := range []struct {
		name, lifecycle, wantErr string
	}{
		{"exec and httpGet", "      postStart:\n        exec:\n          command: [touch, /tmp/started]\n      preStop:\n        httpGet:\n          path: /quit\n          port: 8080\n", ""},
		{"sleep within the grace period", "      preStop:\n        sleep:\n          seconds: 10\n", ""},
		{"named port", "      preStop:\n        httpGet:\n          port: http\n", ""},
		{"no handler", "      preStop: {}\n", "spec.containers[0].lifecycle.preStop: Required value: must specify a handler type"},
		{"two handlers", "      preStop:\n        exec:\n          command: [x]\n        sleep:\n          seconds: 1\n",
			"spec.containers[0].lifecycle.preStop.sleep: Forbidden: may not specify more than 1 handler type"},
		{"empty command", "      postStart:\n        exec: {}\n", "spec.containers[0].lifecycle.postStart.exec.command: Required value"},
		{"sleep beyond the grace period", "      preStop:\n        sleep:\n          seconds: 11\n",
			"spec.containers[0].lifecycle.preStop.sleep.seconds: Invalid value: \"11\": must be greater than or equal to 0 and less than or equal to terminationGracePeriodSeconds (10)"},
		{"bad port", "      preStop:\n        httpGet:\n          port: 70000\n",
			"spec.containers[0].lifecycle.preStop.httpGet.port: Invalid value: \"70000\": must be between 1 and 65535, inclusive"},
		{"tcpSocket is not supported", "      preStop:\n        tcpSocket:\n          port: 80\n", "spec.containers[0].lifecycle.preStop.tcpSocket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := api.DecodeManifests(strings.NewReader(head + tc.lifecycle))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
	initHook := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  initContainers:\n  - name: i\n    image: busybox\n" +
		"    lifecycle:\n      preStop:\n        sleep:\n          seconds: 1\n  containers:\n  - name: c\n    image: busybox\n"
	if _, err := api.DecodeManifests(strings.NewReader(initHook)); err == nil ||
		!strings.Contains(err.Error(), "spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always") {
		t.Fatalf("init container hook: got %v", err)
	}
}
