package agent

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
)

// Container resource limits in the process runtime are enforced through cgroups: one
// cgroup per container at BASE/keel/<pod-uid>/<container> for each controller used, where
// BASE is, on cgroup v2 (a unified hierarchy whose cgroup.controllers lists memory and
// cpu), the hierarchy's root /sys/fs/cgroup, and on cgroup v1 (controllers mounted at
// /sys/fs/cgroup/<controller>) the agent's own cgroup of that controller. The agent creates
// the cgroups and writes the limits; the shim joins them before it starts the command (so
// the command and everything it forks is in them), reads the OOM-kill count when the command
// ends, moves itself back to BASE and removes them.
//
// A per-pod pids limit (kubelet's --pod-max-pids) is pids.max of the pod's cgroup
// BASE/keel/<pod-uid> of the pids controller (v1: /sys/fs/cgroup/pids; v2: enabled beside
// memory and cpu when the hierarchy has it); the containers' pids cgroups are its children,
// so the pod's processes together count against it.

const cgroupRoot = "/sys/fs/cgroup"

// cgroupMode is how the node's cgroups are mounted: "v2", "v1" or "" (none usable).
type cgroupMode string

// cgroupHost says where the controllers are: mode and, per controller, BASE.
type cgroupHost struct {
	mode cgroupMode
	base map[string]string // "memory", "cpu" and, where the controller exists, "pids" -> BASE
	err  error             // why limits cannot be enforced
}

// detectCgroups finds the node's cgroup mode and checks that keel can create cgroups.
func detectCgroups() cgroupHost {
	if b, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		ctrls := strings.Fields(string(b))
		if has(ctrls, "memory") && has(ctrls, "cpu") {
			h := cgroupHost{mode: "v2", base: map[string]string{"memory": cgroupRoot, "cpu": cgroupRoot}}
			if has(ctrls, "pids") {
				h.base["pids"] = cgroupRoot
			}
			h.err = h.probe()
			return h
		}
	}
	own := ownCgroupsV1()
	h := cgroupHost{mode: "v1", base: map[string]string{}}
	for _, c := range []string{"memory", "cpu"} {
		mnt := filepath.Join(cgroupRoot, c)
		if _, err := os.Stat(filepath.Join(mnt, "cgroup.procs")); err != nil {
			return cgroupHost{err: fmt.Errorf("no cgroup v1 %s controller at %s and no cgroup v2 hierarchy with memory and cpu controllers", c, mnt)}
		}
		h.base[c] = filepath.Join(mnt, own[c])
	}
	if _, err := os.Stat(filepath.Join(cgroupRoot, "pids", "cgroup.procs")); err == nil {
		h.base["pids"] = filepath.Join(cgroupRoot, "pids", own["pids"])
	}
	h.err = h.probe()
	return h
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ownCgroupsV1 reads the agent's cgroup path per v1 controller from /proc/self/cgroup.
func ownCgroupsV1() map[string]string {
	out := map[string]string{}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// probe creates (or finds) BASE/keel for every controller, enabling the controllers for
// its subtree on v2.
func (h cgroupHost) probe() error {
	for _, c := range []string{"memory", "cpu", "pids"} {
		if h.base[c] == "" {
			continue
		}
		dir := filepath.Join(h.base[c], "keel")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cannot create cgroup %s: %w", dir, err)
		}
		if h.mode == "v2" {
			for _, d := range []string{h.base[c], dir} {
				if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte(h.subtree()), 0o644); err != nil {
					return fmt.Errorf("cannot enable the memory and cpu controllers in %s: %w", d, err)
				}
			}
			return nil
		}
	}
	return nil
}

// subtree is what a v2 cgroup of keel's enables for its children.
func (h cgroupHost) subtree() string {
	if h.base["pids"] != "" {
		return "+memory +cpu +pids"
	}
	return "+memory +cpu"
}

// containerLimits are the limits keel enforces: memory in bytes, cpu in millicores, and
// the pod's pids (--pod-max-pids; 0: none).
type containerLimits struct{ memory, milliCPU, podPids int64 }

func limitsOf(c *api.Container) containerLimits {
	var l containerLimits
	if q, ok := c.Resources.Limits["memory"]; ok {
		l.memory = q.Value()
	}
	if q, ok := c.Resources.Limits["cpu"]; ok {
		l.milliCPU = q.MilliValue()
	}
	return l
}

// create makes the container's cgroups with its limits and returns their directories
// (one per controller; on v2 one).
func (h cgroupHost) create(podUID, name string, l containerLimits) ([]string, error) {
	if h.err != nil {
		return nil, h.err
	}
	if l.podPids > 0 && h.base["pids"] == "" {
		return nil, errors.New("no pids cgroup controller (cgroup v1 pids or v2 pids) to enforce the pod pids limit")
	}
	rel := filepath.Join("keel", podUID, name)
	var dirs []string
	mk := func(dir string) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cannot create cgroup: %w", err)
		}
		dirs = append(dirs, dir)
		return nil
	}
	const period = 100000 // µs, the kernel's and kubelet's default CFS period
	quota := int64(-1)
	if l.milliCPU > 0 {
		quota = max(l.milliCPU*period/1000, 1000)
	}
	if h.mode == "v2" {
		if err := mk(filepath.Join(h.base["memory"], "keel", podUID)); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dirs[0], "cgroup.subtree_control"), []byte(h.subtree()), 0o644); err != nil {
			return nil, err
		}
		if err := writePodPids(dirs[0], l.podPids); err != nil {
			return nil, err
		}
		dirs = nil
		dir := filepath.Join(h.base["memory"], rel)
		if err := mk(dir); err != nil {
			return nil, err
		}
		mem, cpu := "max", "max "+strconv.Itoa(period)
		if l.memory > 0 {
			mem = strconv.FormatInt(l.memory, 10)
			_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0o644)
		}
		if quota > 0 {
			cpu = fmt.Sprintf("%d %d", quota, period)
		}
		return dirs, errors.Join(os.WriteFile(filepath.Join(dir, "memory.max"), []byte(mem), 0o644),
			os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(cpu), 0o644))
	}
	mdir, cdir := filepath.Join(h.base["memory"], rel), filepath.Join(h.base["cpu"], rel)
	if err := errors.Join(mk(mdir), mk(cdir)); err != nil {
		return nil, err
	}
	mem := "-1"
	if l.memory > 0 {
		mem = strconv.FormatInt(l.memory, 10)
	}
	err := os.WriteFile(filepath.Join(mdir, "memory.limit_in_bytes"), []byte(mem), 0o644)
	if err == nil && l.memory > 0 {
		// No swapping past the limit where swap accounting exists (memsw >= limit_in_bytes).
		if _, serr := os.Stat(filepath.Join(mdir, "memory.memsw.limit_in_bytes")); serr == nil {
			err = os.WriteFile(filepath.Join(mdir, "memory.memsw.limit_in_bytes"), []byte(mem), 0o644)
		}
	}
	if err == nil {
		err = errors.Join(os.WriteFile(filepath.Join(cdir, "cpu.cfs_period_us"), []byte(strconv.Itoa(period)), 0o644),
			os.WriteFile(filepath.Join(cdir, "cpu.cfs_quota_us"), []byte(strconv.FormatInt(quota, 10)), 0o644))
	}
	if err == nil && l.podPids > 0 {
		pdir := filepath.Join(h.base["pids"], rel)
		if err = mk(pdir); err == nil {
			err = writePodPids(filepath.Dir(pdir), l.podPids)
		}
	}
	if err != nil {
		return dirs, fmt.Errorf("cannot set the cgroup limits: %w", err)
	}
	return dirs, nil
}

// writePodPids writes the pod cgroup's pids.max: the limit, or "max" (none).
func writePodPids(podDir string, limit int64) error {
	v := "max"
	if limit > 0 {
		v = strconv.FormatInt(limit, 10)
	} else if _, err := os.Stat(filepath.Join(podDir, "pids.max")); err != nil {
		return nil // no pids controller here, and nothing to limit
	}
	if err := os.WriteFile(filepath.Join(podDir, "pids.max"), []byte(v), 0o644); err != nil {
		return fmt.Errorf("cannot set the pod pids limit: %w", err)
	}
	return nil
}

// cgroupJoin moves pid into every dir (the calling shim, before it starts the command).
func cgroupJoin(dirs []string, pid int) error {
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("cannot join cgroup %s: %w", d, err)
		}
	}
	return nil
}

// cgroupOOMKills is the number of OOM kills recorded in the memory cgroup among dirs
// (memory.events on v2, memory.oom_control on v1), 0 if unknown.
func cgroupOOMKills(dirs []string) int64 {
	for _, d := range dirs {
		for _, f := range []string{"memory.events", "memory.oom_control"} {
			b, err := os.ReadFile(filepath.Join(d, f))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					return n
				}
			}
		}
	}
	return 0
}

// cgroupLeave moves pid back to each dir's BASE (three levels up: BASE/keel/<uid>/<name>)
// and removes the dirs (they must be empty of processes).
func cgroupLeave(dirs []string, pid int) {
	for _, d := range dirs {
		base := filepath.Dir(filepath.Dir(filepath.Dir(d)))
		_ = os.WriteFile(filepath.Join(base, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
		_ = os.Remove(d)
	}
}

// cgroupRemovePod removes what is left of a pod's cgroups (its containers' and its own).
func (h cgroupHost) removePod(podUID string) {
	if h.err != nil || podUID == "" {
		return
	}
	for _, base := range h.base {
		dir := filepath.Join(base, "keel", podUID)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
		_ = os.Remove(dir)
	}
}
