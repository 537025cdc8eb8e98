// Package volume is the persistent volume controller: it binds PersistentVolumeClaims to
// Available PersistentVolumes, provisions local-path volumes (a directory of one node) for
// claims of the keel.dev/local-path class on the node of their first pod, and releases
// (Retain) or deletes (Delete) a volume whose claim is gone. The decisions are pure
// functions of the cached objects (MatchVolume, ProvisionNode, NewLocalVolume,
// VolumeStatus); the Controller applies them.
package volume

import (
	"path"
	"slices"
	"sort"

	"github.com/keeldb/keel/orchestrator/api"
)

// DefaultLocalPathRoot is where local-path volumes live on their node.
const DefaultLocalPathRoot = "/var/lib/keel/local-path"

// ClassOf returns the class name of a claim: its storageClassName, or the default class
// when unset (a claim with storageClassName "" wants a volume without a class).
func ClassOf(c *api.PersistentVolumeClaim, classes []*api.StorageClass) string {
	if c.Spec.StorageClassName != nil {
		return *c.Spec.StorageClassName
	}
	for _, sc := range classes {
		if sc.Annotations[api.IsDefaultClassAnnotation] == "true" {
			return sc.Name
		}
	}
	return ""
}

// MatchVolume returns the smallest unclaimed volume of the claim's class whose capacity and
// access modes cover the claim, or one already pre-bound to it (claimRef), or nil.
func MatchVolume(c *api.PersistentVolumeClaim, class string, pvs []*api.PersistentVolume) *api.PersistentVolume {
	want := c.Spec.Resources.Requests["storage"]
	var fits []*api.PersistentVolume
	for _, pv := range pvs {
		if r := pv.Spec.ClaimRef; r != nil {
			if r.Namespace == c.Namespace && r.Name == c.Name && (r.UID == "" || r.UID == c.UID) && pv.Status.Phase != api.VolumeReleased {
				return pv
			}
			continue
		}
		if pv.DeletionTimestamp != nil || pv.Spec.StorageClassName != class {
			continue
		}
		if c.Spec.VolumeName != "" && pv.Name != c.Spec.VolumeName {
			continue
		}
		have := pv.Spec.Capacity["storage"]
		if have.Value() < want.Value() {
			continue
		}
		if !slices.ContainsFunc(c.Spec.AccessModes, func(m string) bool { return !slices.Contains(pv.Spec.AccessModes, m) }) {
			fits = append(fits, pv)
		}
	}
	if len(fits) == 0 {
		return nil
	}
	sort.SliceStable(fits, func(i, j int) bool {
		a, b := fits[i].Spec.Capacity["storage"], fits[j].Spec.Capacity["storage"]
		if a.Value() != b.Value() {
			return a.Value() < b.Value()
		}
		return fits[i].Name < fits[j].Name
	})
	return fits[0]
}

// ProvisionNode returns the node to provision a local-path volume of the claim on: its
// volume.kubernetes.io/selected-node annotation, else the node of the first (oldest) pod
// of its namespace that uses it and is bound to a node; "" while there is none.
func ProvisionNode(c *api.PersistentVolumeClaim, pods []*api.Pod) string {
	if n := c.Annotations[api.SelectedNodeAnnotation]; n != "" {
		return n
	}
	var first *api.Pod
	for _, p := range pods {
		if p.Namespace != c.Namespace || p.Spec.NodeName == "" || p.DeletionTimestamp != nil || !UsesClaim(p, c.Name) {
			continue
		}
		if first == nil || p.CreationTimestamp.Before(first.CreationTimestamp.Time) ||
			(p.CreationTimestamp.Equal(first.CreationTimestamp.Time) && p.Name < first.Name) {
			first = p
		}
	}
	if first == nil {
		return ""
	}
	return first.Spec.NodeName
}

// UsesClaim reports whether p has a volume of the claim name.
func UsesClaim(p *api.Pod, name string) bool {
	return slices.ContainsFunc(p.Spec.Volumes, func(v api.Volume) bool {
		return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == name
	})
}

// NewLocalVolume is the volume provisioned for the claim on node: pvc-<claim uid>, a
// directory root/pvc-<uid> of the node, pre-bound to the claim.
func NewLocalVolume(c *api.PersistentVolumeClaim, sc *api.StorageClass, node, root string) *api.PersistentVolume {
	name := "pvc-" + c.UID
	pv := &api.PersistentVolume{Spec: api.PersistentVolumeSpec{
		Capacity:                      api.ResourceList{"storage": c.Spec.Resources.Requests["storage"]},
		AccessModes:                   slices.Clone(c.Spec.AccessModes),
		PersistentVolumeReclaimPolicy: *sc.ReclaimPolicy,
		StorageClassName:              sc.Name,
		VolumeMode:                    "Filesystem",
		Local:                         &api.LocalVolumeSource{Path: path.Join(root, name)},
		NodeAffinity:                  api.HostnameAffinity(node),
		ClaimRef: &api.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
			Namespace: c.Namespace, Name: c.Name, UID: c.UID},
	}}
	pv.Name = name
	pv.Annotations = map[string]string{"pv.kubernetes.io/provisioned-by": sc.Provisioner}
	api.SetTypeMeta(pv)
	return pv
}

// VolumeStatus returns the phase a volume should have given its claim (nil when the claim
// it refers to does not exist, or is another object of that name), and whether it is to be
// deleted (released with reclaim policy Delete).
func VolumeStatus(pv *api.PersistentVolume, claim *api.PersistentVolumeClaim) (phase string, del bool) {
	r := pv.Spec.ClaimRef
	switch {
	case r == nil:
		return api.VolumeAvailable, false
	case claim == nil || (r.UID != "" && claim.UID != r.UID):
		if pv.Status.Phase == api.VolumePending && r.UID == "" {
			return api.VolumeAvailable, false
		}
		return api.VolumeReleased, pv.Spec.PersistentVolumeReclaimPolicy == api.ReclaimDelete
	case claim.Spec.VolumeName == pv.Name:
		return api.VolumeBound, false
	}
	// Pre-bound, the claim not yet pointing back.
	if pv.Status.Phase == api.VolumeReleased {
		return api.VolumeReleased, pv.Spec.PersistentVolumeReclaimPolicy == api.ReclaimDelete
	}
	return api.VolumeAvailable, false
}
