package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// v1: with a pod pids limit the container also gets a pids cgroup, under the pod's, whose
// pids.max is the limit.
func TestCgroupPodPidsV1(t *testing.T) {
	mem, cpu, pids := t.TempDir(), t.TempDir(), t.TempDir()
	h := cgroupHost{mode: "v1", base: map[string]string{"memory": mem, "cpu": cpu, "pids": pids}}
	dirs, err := h.create("uid1", "c", containerLimits{podPids: 42})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(mem, "keel/uid1/c"), filepath.Join(cpu, "keel/uid1/c"), filepath.Join(pids, "keel/uid1/c")}
	if strings.Join(dirs, " ") != strings.Join(want, " ") {
		t.Fatalf("dirs = %v, want %v", dirs, want)
	}
	if got := readTrim(t, filepath.Join(pids, "keel/uid1/pids.max")); got != "42" {
		t.Errorf("pod pids.max = %s, want 42", got)
	}
	if got := readTrim(t, filepath.Join(mem, "keel/uid1/c/memory.limit_in_bytes")); got != "-1" {
		t.Errorf("memory.limit_in_bytes = %s, want -1 (no memory limit)", got)
	}
	// Without a pids limit, no pids cgroup.
	c := &api.Container{Resources: api.ResourceRequirements{Limits: api.ResourceList{"memory": "1Gi"}}}
	dirs, err = h.create("uid2", "c", limitsOf(c))
	if err != nil || len(dirs) != 2 {
		t.Fatalf("dirs = %v, err %v", dirs, err)
	}
	if _, err := os.Stat(filepath.Join(pids, "keel/uid2")); !os.IsNotExist(err) {
		t.Errorf("pids cgroup of a pod without a pids limit: %v", err)
	}
}

func TestCgroupPodPidsV2(t *testing.T) {
	root := t.TempDir()
	h := cgroupHost{mode: "v2", base: map[string]string{"memory": root, "cpu": root, "pids": root}}
	dirs, err := h.create("uid", "c", containerLimits{memory: 1 << 20, podPids: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 1 || dirs[0] != filepath.Join(root, "keel/uid/c") {
		t.Fatalf("dirs = %v", dirs)
	}
	if got := readTrim(t, filepath.Join(root, "keel/uid/pids.max")); got != "7" {
		t.Errorf("pod pids.max = %s, want 7", got)
	}
	if got := readTrim(t, filepath.Join(root, "keel/uid/cgroup.subtree_control")); got != "+memory +cpu +pids" {
		t.Errorf("pod cgroup.subtree_control = %s", got)
	}
}

// A pids limit where there is no pids controller is refused rather than ignored.
func TestCgroupPodPidsUnavailable(t *testing.T) {
	h := cgroupHost{mode: "v1", base: map[string]string{"memory": t.TempDir(), "cpu": t.TempDir()}}
	if _, err := h.create("u", "c", containerLimits{podPids: 10}); err == nil || !strings.Contains(err.Error(), "no pids cgroup controller") {
		t.Fatalf("err = %v", err)
	}
}
