package orche2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// qosPods: hog (Burstable: a memory request below its limit) allocates past its 48Mi limit
// in a loop; steady (Guaranteed: limits only, requests defaulted to them) spins; free
// (BestEffort) has no resources.
const qosPods = `apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo allocating; head -c 400m /dev/zero | tail"]
    resources:
      requests: {memory: 16Mi}
      limits: {memory: 48Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: steady}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "while :; do :; done"]
    resources:
      limits: {cpu: 100m, memory: 64Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: free}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
`

// cgroupDir is where a process-mode agent started by this test puts container ctr of pod
// uid for controller ctrl ("memory" or "cpu"): under the test's own v1 cgroup of that
// controller, or under the v2 root.
func cgroupDir(ctrl, uid, ctr string) string {
	if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && strings.Contains(string(b), "memory") {
		return filepath.Join("/sys/fs/cgroup/keel", uid, ctr)
	}
	own := "/"
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) == 3 && regexp.MustCompile(`(^|,)`+ctrl+`(,|$)`).MatchString(parts[1]) {
				own = parts[2]
			}
		}
	}
	return filepath.Join("/sys/fs/cgroup", ctrl, own, "keel", uid, ctr)
}

// TestQoS runs pods with requests and limits on a process-mode agent: every pod gets its
// QoS class (status and describe), the Guaranteed pod's cpu limit is a CFS quota in its
// cgroup that throttles it, the Burstable pod that allocates past its memory limit is OOM-killed by the kernel
// and restarted (lastState terminated OOMKilled, exit 137) while the Guaranteed neighbour
// keeps running with no restart, and a deleted pod's cgroups are removed.
func TestQoS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster of processes")
	}
	if os.Geteuid() != 0 {
		t.Skip("cgroup limits need root")
	}
	// Should the test fail before it deletes its pods, their cgroups (empty once teardown
	// killed the processes) go after teardown (cleanups run last-registered first).
	var uids []string
	t.Cleanup(func() {
		for _, uid := range uids {
			for _, ctrl := range []string{"memory", "cpu"} {
				pod := filepath.Dir(cgroupDir(ctrl, uid, "c"))
				_ = os.Remove(filepath.Join(pod, "c"))
				_ = os.Remove(pod)
			}
		}
	})
	s := newSystem(t)
	s.start("s1", "scheduler", "--id", "s1")
	s.startAgent(1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitFor(t, ctx, "1 node Ready", 60*time.Second, func() error { return s.nodesReady(ctx, 1) })
	s.applyManifest(t, "qos.yaml", qosPods)

	pod := func(name string) *api.Pod {
		p, err := s.stores.Pods.Get(ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, want := range map[string]string{"hog": api.QOSBurstable, "steady": api.QOSGuaranteed, "free": api.QOSBestEffort} {
		if got := pod(name).Status.QOSClass; got != want {
			t.Errorf("%s: status.qosClass = %q, want %q", name, got, want)
		}
		if out := s.mustCtl("describe", "pod", name); !regexp.MustCompile(`(?m)^QoS Class:\s+` + want + `$`).MatchString(out) {
			t.Errorf("describe pod %s: no QoS Class %s line:\n%s", name, want, out)
		}
	}
	if out := s.mustCtl("get", "pod", "steady", "-o", "yaml"); !strings.Contains(out, "qosClass: Guaranteed") ||
		!regexp.MustCompile(`requests:\s+cpu: 100m\s+memory: 64Mi`).MatchString(out) {
		t.Errorf("get pod steady -o yaml: want qosClass Guaranteed and requests defaulted from limits:\n%s", out)
	}

	waitFor(t, ctx, "steady Running", 30*time.Second, func() error {
		if cs := pod("steady").Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Running == nil {
			return fmt.Errorf("steady: %+v", cs)
		}
		return nil
	})
	steadyUID, hogUID := pod("steady").UID, pod("hog").UID
	uids = append(uids, steadyUID, hogUID)
	if b, err := os.ReadFile(filepath.Join(cgroupDir("cpu", steadyUID, "c"), "cpu.cfs_quota_us")); err == nil {
		if q := strings.TrimSpace(string(b)); q != "10000" {
			t.Errorf("steady cpu.cfs_quota_us = %s, want 10000 (100m of a 100000us period)", q)
		}
	} else if b, err := os.ReadFile(filepath.Join(cgroupDir("cpu", steadyUID, "c"), "cpu.max")); err != nil || strings.TrimSpace(string(b)) != "10000 100000" {
		t.Errorf("steady cpu.max = %q, %v; want 10000 100000", b, err)
	}

	// Spinning past its 100m, steady is throttled.
	waitFor(t, ctx, "steady throttled", 30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(cgroupDir("cpu", steadyUID, "c"), "cpu.stat"))
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "nr_throttled "); ok && v != "0" {
				return nil
			}
		}
		return fmt.Errorf("cpu.stat: %q", b)
	})
	waitFor(t, ctx, "hog OOMKilled and restarted", 60*time.Second, func() error {
		cs := pod("hog").Status.ContainerStatuses
		if len(cs) != 1 || cs[0].RestartCount < 1 || cs[0].LastState.Terminated == nil {
			return fmt.Errorf("hog: %+v", cs)
		}
		if term := cs[0].LastState.Terminated; term.Reason != "OOMKilled" || term.ExitCode != 137 {
			return fmt.Errorf("hog last terminated %s exit %d, want OOMKilled 137", term.Reason, term.ExitCode)
		}
		return nil
	})
	if cs := pod("steady").Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount != 0 || cs[0].State.Running == nil {
		t.Errorf("steady (Guaranteed) was touched: %+v", cs)
	}
	if out := s.mustCtl("describe", "pod", "hog"); !strings.Contains(out, "OOMKilled") {
		t.Errorf("describe pod hog does not show OOMKilled:\n%s", out)
	}

	// Deleting a pod removes its cgroups.
	s.mustCtl("delete", "pod", "steady", "hog")
	waitFor(t, ctx, "the pods' cgroups removed", 60*time.Second, func() error {
		for _, uid := range uids {
			for _, ctrl := range []string{"memory", "cpu"} {
				if _, err := os.Stat(filepath.Dir(cgroupDir(ctrl, uid, "c"))); err == nil {
					return fmt.Errorf("%s cgroup of pod %s still exists", ctrl, uid)
				}
			}
		}
		return nil
	})
}
