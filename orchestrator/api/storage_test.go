package api_test

import (
	"os"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestStorageDecode(t *testing.T) {
	objs, err := api.DecodeManifests(strings.NewReader(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /srv/pv1}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: manual}
provisioner: kubernetes.io/no-provisioner
`))
	if err != nil {
		t.Fatal(err)
	}
	pvc, pv, sc := objs[0].(*api.PersistentVolumeClaim), objs[1].(*api.PersistentVolume), objs[2].(*api.StorageClass)
	if pvc.Status.Phase != api.VolumePending || pvc.Spec.VolumeMode != "Filesystem" {
		t.Errorf("claim defaults: %+v", pvc)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != api.ReclaimRetain || pv.VolumePath() != "/srv/pv1" {
		t.Errorf("volume defaults: %+v", pv.Spec)
	}
	if *sc.ReclaimPolicy != api.ReclaimDelete || *sc.VolumeBindingMode != api.VolumeBindingImmediate {
		t.Errorf("class defaults: %+v", sc)
	}
	for _, tc := range []struct{ name, manifest, want string }{
		{"claim without size", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nspec: {accessModes: [ReadWriteOnce]}\n",
			"spec.resources.requests.storage: Required value"},
		{"claim bad mode", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nspec: {accessModes: [RW], resources: {requests: {storage: 1Gi}}}\n",
			`spec.accessModes[0]: Unsupported value: "RW"`},
		{"claim selector", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nspec: {accessModes: [ReadWriteOnce], selector: {matchLabels: {a: b}}, resources: {requests: {storage: 1Gi}}}\n",
			"spec.selector: Forbidden: volume selectors are not supported"},
		{"volume without source", "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: v}\nspec: {accessModes: [ReadWriteOnce], capacity: {storage: 1Gi}}\n",
			"spec: Required value: must specify a volume type"},
		{"local without affinity", "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: v}\nspec: {accessModes: [ReadWriteOnce], capacity: {storage: 1Gi}, local: {path: /x}}\n",
			"spec.nodeAffinity: Required value: Local volume requires node affinity"},
		{"unsupported source", "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: v}\nspec: {accessModes: [ReadWriteOnce], capacity: {storage: 1Gi}, nfs: {server: s, path: /}}\n",
			"spec.nfs: Unsupported field"},
		{"class binding mode", "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: s}\nprovisioner: p\nvolumeBindingMode: Later\n",
			`volumeBindingMode: Unsupported value: "Later"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := api.DecodeManifests(strings.NewReader(tc.manifest))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestStorageExample(t *testing.T) {
	f, err := os.Open("../../examples/pvc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	objs, err := api.DecodeManifests(f)
	if err != nil || len(objs) != 2 {
		t.Fatalf("examples/pvc.yaml: %d objects, %v", len(objs), err)
	}
}
