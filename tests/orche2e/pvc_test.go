package orche2e_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// pvcManifest is a claim of the default class (local-path, WaitForFirstConsumer) and a pod
// that writes a file into it (MNT is a directory of the test).
const pvcManifest = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 1Gi}
---
apiVersion: v1
kind: Pod
metadata:
  name: writer
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo persisted > MNT/data/file && echo wrote && exec sleep 3600"]
    volumeMounts:
    - {name: data, mountPath: MNT/data}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
`

// readerManifest is a second pod of the claim, created after the writer is gone.
const readerManifest = `apiVersion: v1
kind: Pod
metadata:
  name: reader
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo read=$(cat MNT/data/file) && exec sleep 3600"]
    volumeMounts:
    - {name: data, mountPath: MNT/data}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
`

// stsManifest is a StatefulSet whose pods get a claim each from a volumeClaimTemplate.
const stsManifest = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox
        command: ["sh", "-c", "echo $HOSTNAME > MNT/www/host && echo www=$(cat MNT/www/host) && exec sleep 3600"]
        volumeMounts:
        - {name: www, mountPath: MNT/www}
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
`

// TestPersistentVolumeClaims runs process-mode agents on 2 nodes and a claim of the default
// local-path StorageClass: the claim waits for its first pod, is provisioned a volume on that
// pod's node and bound; a file the pod writes is read back by a pod created after it was
// deleted, which the scheduler puts on the volume's node (a pod of the claim pinned to the
// other node is unschedulable); deleting the claim deletes the
// volume (reclaim policy Delete). `orch ctl get sc|pvc|pv` show kubectl's columns. A
// StatefulSet's pod gets a bound claim from its volumeClaimTemplate.
func TestPersistentVolumeClaims(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster of processes")
	}
	s := newSystem(t)
	root := filepath.Join(s.dir, "local-path")
	s.start("s1", "scheduler", "--id", "s1")
	s.start("cm1", "controller-manager", "--id", "cm1", "--local-path-root", root)
	s.startAgent(1)
	s.startAgent(2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitFor(t, ctx, "2 nodes Ready", 60*time.Second, func() error { return s.nodesReady(ctx, 2) })
	waitFor(t, ctx, "default StorageClass", 30*time.Second, func() error {
		out, err := s.ctl("get", "sc")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "local-path (default)   keel.dev/local-path   Delete          WaitForFirstConsumer   false") {
			return fmt.Errorf("get sc:\n%s", out)
		}
		return nil
	})

	mnt := filepath.Join(s.dir, "mnt")
	s.applyManifest(t, "pvc.yaml", strings.ReplaceAll(pvcManifest, "MNT", mnt))
	pvcs := registry.New[api.PersistentVolumeClaim](s.cli, registry.Config{})
	pvs := registry.New[api.PersistentVolume](s.cli, registry.Config{})
	var pv *api.PersistentVolume
	waitFor(t, ctx, "claim Bound to a provisioned volume", 60*time.Second, func() error {
		c, err := pvcs.Get(ctx, "default", "data")
		if err != nil {
			return err
		}
		if c.Status.Phase != api.VolumeBound || c.Spec.VolumeName != "pvc-"+c.UID {
			return fmt.Errorf("claim %s volume %q", c.Status.Phase, c.Spec.VolumeName)
		}
		if pv, err = pvs.Get(ctx, "", c.Spec.VolumeName); err != nil {
			return err
		}
		if pv.Status.Phase != api.VolumeBound {
			return fmt.Errorf("volume %s", pv.Status.Phase)
		}
		return nil
	})
	writer := waitPodLogs(t, ctx, s, "writer", "wrote")
	if got, err := os.ReadFile(filepath.Join(root, pv.Name, "file")); err != nil || string(got) != "persisted\n" {
		t.Fatalf("the volume's directory holds %q, %v", got, err)
	}
	if want := api.HostnameAffinity(writer.Spec.NodeName); fmt.Sprint(pv.Spec.NodeAffinity.Required) != fmt.Sprint(want.Required) {
		t.Errorf("volume affinity %+v, want node %s", pv.Spec.NodeAffinity.Required, writer.Spec.NodeName)
	}
	out := s.mustCtl("get", "pvc")
	if !strings.Contains(out, "NAME   STATUS   VOLUME") || !strings.Contains(out, "data   Bound    "+pv.Name+"   1Gi        RWO            local-path") {
		t.Errorf("get pvc:\n%s", out)
	}
	out = s.mustCtl("get", "pv")
	if !strings.Contains(out, "CAPACITY   ACCESS MODES   RECLAIM POLICY   STATUS   CLAIM") || !strings.Contains(out, pv.Name+"   1Gi        RWO            Delete           Bound    default/data   local-path") {
		t.Errorf("get pv:\n%s", out)
	}

	// Delete the writer; a new pod of the claim runs on the volume's node and reads the file.
	s.mustCtl("delete", "pod", "writer")
	waitFor(t, ctx, "writer gone", 60*time.Second, func() error {
		if _, err := s.stores.Pods.Get(ctx, "default", "writer"); !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("writer still there: %v", err)
		}
		return nil
	})
	// Pinned to the other node, a pod of the claim fits nowhere: the volume's node affinity
	// and its own exclude each other.
	other := map[string]string{"n1": "n2", "n2": "n1"}[writer.Spec.NodeName]
	misplaced := strings.Replace(strings.ReplaceAll(readerManifest, "MNT", mnt), "name: reader", "name: misplaced", 1)
	misplaced = strings.Replace(misplaced, "  containers:", "  nodeSelector: {kubernetes.io/hostname: "+other+"}\n  containers:", 1)
	s.applyManifest(t, "misplaced.yaml", misplaced)
	waitFor(t, ctx, "misplaced unschedulable", 30*time.Second, func() error {
		p, err := s.stores.Pods.Get(ctx, "default", "misplaced")
		if err != nil {
			return err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == "PodScheduled" && c.Reason == "Unschedulable" {
				return nil
			}
		}
		return fmt.Errorf("node %q, conditions %+v", p.Spec.NodeName, p.Status.Conditions)
	})
	s.mustCtl("delete", "pod", "misplaced")
	s.applyManifest(t, "reader.yaml", strings.ReplaceAll(readerManifest, "MNT", mnt))
	reader := waitPodLogs(t, ctx, s, "reader", "read=persisted")
	if reader.Spec.NodeName != writer.Spec.NodeName {
		t.Errorf("reader on %s, the volume is on %s", reader.Spec.NodeName, writer.Spec.NodeName)
	}

	// Deleting the claim deletes its volume (the class's reclaim policy Delete).
	s.mustCtl("delete", "pod", "reader")
	s.mustCtl("delete", "pvc", "data")
	waitFor(t, ctx, "volume deleted", 60*time.Second, func() error {
		if _, err := pvs.Get(ctx, "", pv.Name); !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("volume still there: %v", err)
		}
		return nil
	})

	// A StatefulSet's pod gets its claim www-web-0 from the template, created before it.
	s.applyManifest(t, "sts.yaml", strings.ReplaceAll(stsManifest, "MNT", filepath.Join(s.dir, "mnt-sts")))
	waitPodLogs(t, ctx, s, "web-0", "www=web-0")
	c, err := pvcs.Get(ctx, "default", "www-web-0")
	if err != nil || c.Status.Phase != api.VolumeBound || c.Labels["app"] != "web" {
		t.Fatalf("claim www-web-0: %+v, %v", c, err)
	}
}

// waitPodLogs waits for the pod's logs to hold want and returns the pod.
func waitPodLogs(t *testing.T, ctx context.Context, s *system, name, want string) *api.Pod {
	t.Helper()
	var p *api.Pod
	waitFor(t, ctx, name+" logs "+want, 60*time.Second, func() error {
		// The pod is read after its logs: read before, it may predate the binding of the
		// pod whose logs are then found.
		out, _ := s.ctl("logs", name)
		var err error
		if p, err = s.stores.Pods.Get(ctx, "default", name); err != nil {
			return err
		}
		if !strings.Contains(out, want) {
			return fmt.Errorf("phase %s, logs %q, status %+v", p.Status.Phase, out, p.Status.ContainerStatuses)
		}
		return nil
	})
	return p
}
