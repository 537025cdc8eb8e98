package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// A v1 host (plain directories stand in for the controllers' mounts): one cgroup per
// controller with the memory limit in bytes and the cpu limit as a CFS quota.
func TestCgroupCreateV1(t *testing.T) {
	mem, cpu := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(mem, "memory.memsw.limit_in_bytes"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h := cgroupHost{mode: "v1", base: map[string]string{"memory": mem, "cpu": cpu}}
	c := &api.Container{Resources: api.ResourceRequirements{Limits: api.ResourceList{"memory": "64Mi", "cpu": "250m"}}}
	dirs, err := h.create("uid1", "c", limitsOf(c))
	if err != nil {
		t.Fatal(err)
	}
	md, cd := filepath.Join(mem, "keel/uid1/c"), filepath.Join(cpu, "keel/uid1/c")
	if len(dirs) != 2 || dirs[0] != md || dirs[1] != cd {
		t.Fatalf("dirs = %v, want [%s %s]", dirs, md, cd)
	}
	for path, want := range map[string]string{
		filepath.Join(md, "memory.limit_in_bytes"): "67108864",
		filepath.Join(cd, "cpu.cfs_period_us"):     "100000",
		filepath.Join(cd, "cpu.cfs_quota_us"):      "25000",
	} {
		if got := readTrim(t, path); got != want {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
	// A memory limit only: no cpu quota (-1).
	c = &api.Container{Resources: api.ResourceRequirements{Limits: api.ResourceList{"memory": "1Gi"}}}
	if _, err := h.create("uid1", "d", limitsOf(c)); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(cpu, "keel/uid1/d/cpu.cfs_quota_us")); got != "-1" {
		t.Errorf("cpu.cfs_quota_us = %s, want -1", got)
	}
}

func TestCgroupCreateV2(t *testing.T) {
	root := t.TempDir()
	h := cgroupHost{mode: "v2", base: map[string]string{"memory": root, "cpu": root}}
	c := &api.Container{Resources: api.ResourceRequirements{Limits: api.ResourceList{"memory": "32Mi", "cpu": "1500m"}}}
	dirs, err := h.create("uid2", "c", limitsOf(c))
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(root, "keel/uid2/c")
	if len(dirs) != 1 || dirs[0] != d {
		t.Fatalf("dirs = %v, want [%s]", dirs, d)
	}
	if got := readTrim(t, filepath.Join(d, "memory.max")); got != "33554432" {
		t.Errorf("memory.max = %s", got)
	}
	if got := readTrim(t, filepath.Join(d, "cpu.max")); got != "150000 100000" {
		t.Errorf("cpu.max = %s", got)
	}
	if got := readTrim(t, filepath.Join(root, "keel/uid2/cgroup.subtree_control")); got != "+memory +cpu" {
		t.Errorf("pod cgroup.subtree_control = %s", got)
	}
}

// Where cgroups are not usable, a container with limits is refused with the reason.
func TestCgroupCreateUnusable(t *testing.T) {
	h := cgroupHost{err: errors.New("no cgroup v1 memory controller")}
	if _, err := h.create("u", "c", containerLimits{memory: 1}); err == nil || !strings.Contains(err.Error(), "no cgroup v1 memory controller") {
		t.Fatalf("err = %v", err)
	}
}

func TestCgroupOOMKills(t *testing.T) {
	v1, v2 := t.TempDir(), t.TempDir()
	_ = os.WriteFile(filepath.Join(v1, "memory.oom_control"), []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 0o644)
	_ = os.WriteFile(filepath.Join(v2, "memory.events"), []byte("low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n"), 0o644)
	if n := cgroupOOMKills([]string{v1, t.TempDir()}); n != 3 {
		t.Errorf("v1 oom kills = %d, want 3", n)
	}
	if n := cgroupOOMKills([]string{v2}); n != 2 {
		t.Errorf("v2 oom kills = %d, want 2", n)
	}
}
