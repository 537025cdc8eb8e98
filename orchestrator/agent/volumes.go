package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// Volumes of the process runtime. Each pod's volumes live under <pod dir>/.volumes/<name>
// (hostPath volumes are the node's path itself). configMap, secret, downwardAPI and projected
// volumes are written as kubelet's AtomicWriter does (writeAtomic), and rewritten every
// volumeResync while the pod runs, so a changed ConfigMap shows in its mounted files
// without a restart. A container sees its volumeMounts through bind mounts its shim makes
// in a private mount namespace (RunShim's --mounts), which needs root: without it a pod
// with volume mounts is refused rather than run without its files.

// volumeResync is how often a running pod's configMap, secret, downwardAPI and projected
// volumes are rewritten from the store (kubelet: its sync period, about a minute).
const volumeResync = 10 * time.Second

// bindMount is one bind mount a shim makes before it starts its container.
type bindMount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// volumeFile is one file of a projected volume's payload.
type volumeFile struct {
	data []byte
	mode os.FileMode
}

// volumeError is a volume that cannot be set up yet (a missing ConfigMap or Secret): the
// containers wait in ContainerCreating and the setup is retried.
type volumeError struct{ msg string }

func (e *volumeError) Error() string { return e.msg }

func (r *podRunner) volumeDir(name string) string { return filepath.Join(r.dir, ".volumes", name) }

// canMount reports whether this process may make bind mounts in a private mount namespace.
func canMount() bool { return os.Geteuid() == 0 }

// needsMounts reports whether any container of the pod mounts a volume.
func needsMounts(p *api.Pod) bool {
	for _, cs := range [][]api.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			if len(c.VolumeMounts) > 0 {
				return true
			}
		}
	}
	return false
}

// refreshable reports whether the pod has volumes rewritten from the store.
func refreshable(p *api.Pod) bool {
	for _, v := range p.Spec.Volumes {
		if v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil {
			return true
		}
	}
	return false
}

// volumeRefusal returns why the pod's volumes cannot be given to it on a node whose agent
// may (root) or may not make mounts, or "".
func volumeRefusal(p *api.Pod, root bool) string {
	if !needsMounts(p) && !slices.ContainsFunc(p.Spec.Volumes, isMemoryVolume) {
		return ""
	}
	if !root {
		return "volumes need a private mount namespace and bind mounts, which need the agent to run as root: the pod is not run without its files"
	}
	return ""
}

func isMemoryVolume(v api.Volume) bool { return v.EmptyDir != nil && v.EmptyDir.Medium == "Memory" }

// syncVolumes sets up every volume of the pod and rewrites the projected ones. It returns a
// *volumeError when a ConfigMap or Secret that is not optional is missing.
func (r *podRunner) syncVolumes(ctx context.Context) error {
	src := r.rt.a.configs.source(ctx)
	for _, v := range r.pod.Spec.Volumes {
		dir := r.volumeDir(v.Name)
		var err error
		switch {
		case v.EmptyDir != nil:
			err = setupEmptyDir(dir, v.EmptyDir)
		case v.HostPath != nil:
			err = setupHostPath(v.HostPath)
		case v.PersistentVolumeClaim != nil:
			err = r.setupClaim(ctx, v, dir)
		default:
			var payload map[string]volumeFile
			payload, err = r.volumePayload(v.VolumeSource, src)
			if err == nil {
				err = writeAtomic(dir, payload, time.Now())
			}
		}
		if err != nil {
			return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
	}
	return nil
}

func setupEmptyDir(dir string, e *api.EmptyDirVolumeSource) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if e.Medium != "Memory" || isMountPoint(dir) {
		return nil
	}
	opts := ""
	if e.SizeLimit != nil {
		opts = fmt.Sprintf("size=%d", e.SizeLimit.Value())
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	return nil
}

// isMountPoint reports whether dir is on another device than its parent.
func isMountPoint(dir string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(dir, &a) != nil || syscall.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

func setupHostPath(h *api.HostPathVolumeSource) error {
	t := ""
	if h.Type != nil {
		t = *h.Type
	}
	st, err := os.Stat(h.Path)
	switch t {
	case "":
		return nil
	case "DirectoryOrCreate":
		return os.MkdirAll(h.Path, 0o755)
	case "FileOrCreate":
		if err == nil {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(h.Path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		return f.Close()
	}
	if err != nil {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", h.Path, t)
	}
	ok := map[string]bool{"Directory": st.IsDir(), "File": st.Mode().IsRegular(),
		"Socket": st.Mode()&os.ModeSocket != 0, "CharDevice": st.Mode()&os.ModeCharDevice != 0,
		"BlockDevice": st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0}[t]
	if !ok {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", h.Path, t)
	}
	return nil
}

// volumePayload builds the files of a configMap, secret, downwardAPI or projected volume.
func (r *podRunner) volumePayload(v api.VolumeSource, src configSource) (map[string]volumeFile, error) {
	out := map[string]volumeFile{}
	ns := r.pod.Namespace
	switch {
	case v.ConfigMap != nil:
		c := v.ConfigMap
		return out, projectKeys(out, ns, "configmap", c.Name, c.Items, modeOf(c.DefaultMode), api.IsOptional(c.Optional), src)
	case v.Secret != nil:
		c := v.Secret
		return out, projectKeys(out, ns, "secret", c.SecretName, c.Items, modeOf(c.DefaultMode), api.IsOptional(c.Optional), src)
	case v.DownwardAPI != nil:
		return out, r.projectFields(out, v.DownwardAPI.Items, modeOf(v.DownwardAPI.DefaultMode))
	case v.Projected != nil:
		mode := modeOf(v.Projected.DefaultMode)
		for _, s := range v.Projected.Sources {
			var err error
			switch {
			case s.ConfigMap != nil:
				err = projectKeys(out, ns, "configmap", s.ConfigMap.Name, s.ConfigMap.Items, mode, api.IsOptional(s.ConfigMap.Optional), src)
			case s.Secret != nil:
				err = projectKeys(out, ns, "secret", s.Secret.Name, s.Secret.Items, mode, api.IsOptional(s.Secret.Optional), src)
			case s.DownwardAPI != nil:
				err = r.projectFields(out, s.DownwardAPI.Items, mode)
			}
			if err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, errors.New("unsupported volume type")
}

func modeOf(m *int32) os.FileMode {
	if m == nil {
		return os.FileMode(api.DefaultVolumeMode)
	}
	return os.FileMode(*m)
}

// projectKeys adds a ConfigMap's or Secret's keys (all, or items) to out.
func projectKeys(out map[string]volumeFile, ns, kind, name string, items []api.KeyToPath, mode os.FileMode, optional bool, src configSource) error {
	data, found, err := configData(ns, kind, name, src)
	if err != nil {
		return err
	}
	if !found {
		if optional {
			return nil
		}
		return &volumeError{fmt.Sprintf("%s %q not found", kind, name)}
	}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = volumeFile{data: v, mode: mode}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return &volumeError{fmt.Sprintf("%s references non-existent config key: %s", kind, it.Key)}
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out[it.Path] = volumeFile{data: v, mode: m}
	}
	return nil
}

// projectFields adds downward-API files to out.
func (r *podRunner) projectFields(out map[string]volumeFile, items []api.DownwardAPIVolumeFile, mode os.FileMode) error {
	for _, it := range items {
		var v string
		switch p := it.FieldRef.FieldPath; p {
		case "metadata.labels":
			v = formatMap(r.pod.Labels)
		case "metadata.annotations":
			v = formatMap(r.pod.Annotations)
		default:
			var err error
			if v, err = fieldValue(r.pod, p, r.ip, r.rt.cfg.Address); err != nil {
				return err
			}
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out[it.Path] = volumeFile{data: []byte(v), mode: m}
	}
	return nil
}

// formatMap renders labels or annotations as kubelet's downward API does: key="value" lines,
// sorted.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// mountsOf returns the bind mounts of container c: each volumeMount's volume directory (or
// its subPath) at mountPath. configMap, secret, downwardAPI and projected volumes are always
// read-only, as kubelet mounts them.
func (r *podRunner) mountsOf(c *api.Container) ([]bindMount, error) {
	vols := map[string]api.Volume{}
	for _, v := range r.pod.Spec.Volumes {
		vols[v.Name] = v
	}
	var out []bindMount
	for _, m := range c.VolumeMounts {
		v := vols[m.Name]
		src := r.volumeDir(v.Name)
		if v.HostPath != nil {
			src = v.HostPath.Path
		}
		if m.SubPath != "" {
			src = filepath.Join(src, m.SubPath)
			if v.EmptyDir != nil || v.HostPath != nil || v.PersistentVolumeClaim != nil {
				if _, err := os.Lstat(src); errors.Is(err, os.ErrNotExist) {
					if err := os.MkdirAll(src, 0o777); err != nil {
						return nil, err
					}
				}
			}
			// The subPath's target now, as kubelet binds it (it sees no later update).
			resolved, err := filepath.EvalSymlinks(src)
			if err != nil {
				return nil, fmt.Errorf("subPath %q of volume %q: %w", m.SubPath, m.Name, err)
			}
			src = resolved
		}
		ro := m.ReadOnly || v.EmptyDir == nil && v.HostPath == nil && v.PersistentVolumeClaim == nil ||
			v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ReadOnly
		out = append(out, bindMount{Source: src, Target: m.MountPath, ReadOnly: ro})
	}
	return out, nil
}

// cleanupVolumes unmounts the pod's memory-backed emptyDirs so that its directory can go.
func (r *podRunner) cleanupVolumes() {
	ents, _ := os.ReadDir(filepath.Join(r.dir, ".volumes"))
	for _, e := range ents {
		if d := r.volumeDir(e.Name()); isMountPoint(d) {
			if err := syscall.Unmount(d, syscall.MNT_DETACH); err != nil {
				r.log.Warn("cannot unmount volume", "volume", e.Name(), "err", err)
			}
		}
	}
}

// applyMounts makes the bind mounts in the calling process's mount namespace (the shim's,
// private: it was started with CLONE_NEWNS, which Go starts with every mount private),
// creating the targets that do not exist.
func applyMounts(ms []bindMount) error {
	for _, m := range ms {
		st, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		if st.IsDir() {
			err = os.MkdirAll(m.Target, 0o755)
		} else if _, serr := os.Stat(m.Target); serr != nil {
			if err = os.MkdirAll(filepath.Dir(m.Target), 0o755); err == nil {
				var f *os.File
				if f, err = os.OpenFile(m.Target, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
					err = f.Close()
				}
			}
		}
		if err != nil {
			return fmt.Errorf("mount point %s: %w", m.Target, err)
		}
		if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s at %s: %w", m.Source, m.Target, err)
		}
		if m.ReadOnly {
			if err := syscall.Mount("", m.Target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("read-only %s: %w", m.Target, err)
			}
		}
	}
	return nil
}

// prepareVolumes sets up the pod's volumes (once; later the resync rewrites them) and
// returns container c's bind mounts. err refuses the container for good (the node cannot
// give it its volumes); wait is why it must wait (a missing ConfigMap or Secret).
func (r *podRunner) prepareVolumes(ctx context.Context, c *ctr) (mounts []bindMount, wait string, err error) {
	if msg := volumeRefusal(r.pod, canMount()); msg != "" {
		return nil, "", errors.New(msg)
	}
	if !r.volumesOK && len(r.pod.Spec.Volumes) > 0 {
		if err := r.syncVolumes(ctx); err != nil {
			return nil, err.Error(), nil
		}
		r.volumesOK = true
	}
	mounts, err = r.mountsOf(&c.spec)
	if err != nil {
		return nil, err.Error(), nil
	}
	return mounts, "", nil
}
