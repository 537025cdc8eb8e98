package main

import (
	"strings"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// storageColumns returns kubectl's table columns of PersistentVolumes, PersistentVolumeClaims
// and StorageClasses, or nil for another resource.
func storageColumns(resource string) []column {
	a := ageColumn()
	pv := func(o api.Object) *api.PersistentVolume { return o.(*api.PersistentVolume) }
	pvc := func(o api.Object) *api.PersistentVolumeClaim { return o.(*api.PersistentVolumeClaim) }
	unset := func(api.Object, time.Time) string { return "<unset>" }
	switch resource {
	case "persistentvolumes":
		return []column{nameColumn(),
			{header: "CAPACITY", value: func(o api.Object, _ time.Time) string { return string(pv(o).Spec.Capacity["storage"]) }},
			{header: "ACCESS MODES", value: func(o api.Object, _ time.Time) string { return accessModes(pv(o).Spec.AccessModes) }},
			{header: "RECLAIM POLICY", value: func(o api.Object, _ time.Time) string { return pv(o).Spec.PersistentVolumeReclaimPolicy }},
			{header: "STATUS", value: func(o api.Object, _ time.Time) string { return pv(o).Status.Phase }},
			{header: "CLAIM", value: func(o api.Object, _ time.Time) string {
				if r := pv(o).Spec.ClaimRef; r != nil {
					return r.Namespace + "/" + r.Name
				}
				return ""
			}},
			{header: "STORAGECLASS", value: func(o api.Object, _ time.Time) string { return pv(o).Spec.StorageClassName }},
			{header: "VOLUMEATTRIBUTESCLASS", value: unset},
			{header: "REASON", value: func(api.Object, time.Time) string { return "" }},
			a,
			{header: "VOLUMEMODE", wide: true, value: func(o api.Object, _ time.Time) string { return pv(o).Spec.VolumeMode }},
		}
	case "persistentvolumeclaims":
		return []column{nameColumn(),
			{header: "STATUS", value: func(o api.Object, _ time.Time) string { return pvc(o).Status.Phase }},
			{header: "VOLUME", value: func(o api.Object, _ time.Time) string { return pvc(o).Spec.VolumeName }},
			{header: "CAPACITY", value: func(o api.Object, _ time.Time) string { return string(pvc(o).Status.Capacity["storage"]) }},
			{header: "ACCESS MODES", value: func(o api.Object, _ time.Time) string { return accessModes(pvc(o).Status.AccessModes) }},
			{header: "STORAGECLASS", value: func(o api.Object, _ time.Time) string {
				if c := pvc(o).Spec.StorageClassName; c != nil {
					return *c
				}
				return "<unset>"
			}},
			{header: "VOLUMEATTRIBUTESCLASS", value: unset},
			a,
			{header: "VOLUMEMODE", wide: true, value: func(o api.Object, _ time.Time) string { return pvc(o).Spec.VolumeMode }},
		}
	case "storageclasses":
		sc := func(o api.Object) *api.StorageClass { return o.(*api.StorageClass) }
		deref := func(s *string) string {
			if s == nil {
				return ""
			}
			return *s
		}
		return []column{
			{header: "NAME", value: func(o api.Object, _ time.Time) string {
				if sc(o).Annotations[api.IsDefaultClassAnnotation] == "true" {
					return sc(o).Name + " (default)"
				}
				return sc(o).Name
			}},
			{header: "PROVISIONER", value: func(o api.Object, _ time.Time) string { return sc(o).Provisioner }},
			{header: "RECLAIMPOLICY", value: func(o api.Object, _ time.Time) string { return deref(sc(o).ReclaimPolicy) }},
			{header: "VOLUMEBINDINGMODE", value: func(o api.Object, _ time.Time) string { return deref(sc(o).VolumeBindingMode) }},
			{header: "ALLOWVOLUMEEXPANSION", value: func(o api.Object, _ time.Time) string {
				if v := sc(o).AllowVolumeExpansion; v != nil && *v {
					return "true"
				}
				return "false"
			}},
			a,
		}
	}
	return nil
}

// accessModes abbreviates access modes as kubectl (RWO, ROX, RWX, RWOP).
func accessModes(ms []string) string {
	short := map[string]string{"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
	var out []string
	for _, m := range ms {
		out = append(out, short[m])
	}
	return strings.Join(out, ",")
}
