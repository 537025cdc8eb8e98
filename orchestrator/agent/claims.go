package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// setupClaim sets up a persistentVolumeClaim volume: the directory of the claim's bound
// volume (spec.local.path or spec.hostPath.path), created if missing, is linked at the
// pod's volume directory, so its containers' bind mounts reach it. A claim missing or not
// bound yet (its volume is provisioned once the pod is on a node) is a *volumeError: the
// containers wait in ContainerCreating and the setup is retried.
func (r *podRunner) setupClaim(ctx context.Context, v api.Volume, dir string) error {
	cli := r.rt.a.cli
	name := v.PersistentVolumeClaim.ClaimName
	c, err := registry.New[api.PersistentVolumeClaim](cli, registry.Config{}).Get(ctx, r.pod.Namespace, name)
	if errors.Is(err, registry.ErrNotFound) {
		return &volumeError{fmt.Sprintf("persistentvolumeclaim %q not found", name)}
	}
	if err != nil {
		return err
	}
	if c.Spec.VolumeName == "" || c.Status.Phase != api.VolumeBound {
		return &volumeError{fmt.Sprintf("persistentvolumeclaim %q is not bound", name)}
	}
	pv, err := registry.New[api.PersistentVolume](cli, registry.Config{}).Get(ctx, "", c.Spec.VolumeName)
	if errors.Is(err, registry.ErrNotFound) {
		return &volumeError{fmt.Sprintf("persistentvolume %q not found", c.Spec.VolumeName)}
	}
	if err != nil {
		return err
	}
	src := pv.VolumePath()
	if src == "" {
		return fmt.Errorf("persistentvolume %q has no hostPath or local path", pv.Name)
	}
	if err := os.MkdirAll(src, 0o777); err != nil {
		return err
	}
	if cur, err := os.Readlink(dir); err == nil && cur == src {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	_ = os.Remove(dir)
	return os.Symlink(src, dir)
}
