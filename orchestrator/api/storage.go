package api

import (
	"path"
	"slices"
)

// PersistentVolume is a piece of storage of the cluster (v1, cluster-scoped). Keel's
// volumes are directories of one node: spec.hostPath or spec.local with a nodeAffinity.
type PersistentVolume struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       PersistentVolumeSpec   `json:"spec"`
	Status     PersistentVolumeStatus `json:"status,omitempty"`
}

// PersistentVolumeSpec is a volume's capacity, source, binding and reclaim policy.
type PersistentVolumeSpec struct {
	Capacity                      ResourceList          `json:"capacity,omitempty"`
	AccessModes                   []string              `json:"accessModes,omitempty"`
	PersistentVolumeReclaimPolicy string                `json:"persistentVolumeReclaimPolicy,omitempty"`
	StorageClassName              string                `json:"storageClassName,omitempty"`
	VolumeMode                    string                `json:"volumeMode,omitempty"`
	HostPath                      *HostPathVolumeSource `json:"hostPath,omitempty"`
	Local                         *LocalVolumeSource    `json:"local,omitempty"`
	NodeAffinity                  *VolumeNodeAffinity   `json:"nodeAffinity,omitempty"`
	ClaimRef                      *ObjectReference      `json:"claimRef,omitempty"`
}

// LocalVolumeSource is a directory of the node the volume's nodeAffinity names.
type LocalVolumeSource struct {
	Path string `json:"path"`
}

// VolumeNodeAffinity restricts the nodes a volume can be used from.
type VolumeNodeAffinity struct {
	Required *NodeSelector `json:"required,omitempty"`
}

// PersistentVolumeStatus is a volume's phase.
type PersistentVolumeStatus struct {
	Phase   string `json:"phase,omitempty"`
	Message string `json:"message,omitempty"`
}

// PersistentVolumeClaim is a request for storage by a namespace's pods (v1).
type PersistentVolumeClaim struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       PersistentVolumeClaimSpec   `json:"spec"`
	Status     PersistentVolumeClaimStatus `json:"status,omitempty"`
}

// PersistentVolumeClaimSpec is what a claim asks for; volumeName is set when bound.
type PersistentVolumeClaimSpec struct {
	AccessModes      []string                   `json:"accessModes,omitempty"`
	Resources        VolumeResourceRequirements `json:"resources,omitempty"`
	StorageClassName *string                    `json:"storageClassName,omitempty"`
	VolumeName       string                     `json:"volumeName,omitempty"`
	VolumeMode       string                     `json:"volumeMode,omitempty"`
	Selector         *LabelSelector             `json:"selector,omitempty"`
}

// VolumeResourceRequirements is a claim's requested (and limited) storage.
type VolumeResourceRequirements struct {
	Requests ResourceList `json:"requests,omitempty"`
	Limits   ResourceList `json:"limits,omitempty"`
}

// PersistentVolumeClaimStatus is a claim's phase and, once bound, its volume's capacity.
type PersistentVolumeClaimStatus struct {
	Phase       string       `json:"phase,omitempty"`
	AccessModes []string     `json:"accessModes,omitempty"`
	Capacity    ResourceList `json:"capacity,omitempty"`
}

// StorageClass describes how volumes of a class are provisioned (storage.k8s.io/v1).
type StorageClass struct {
	TypeMeta             `json:",inline"`
	ObjectMeta           `json:"metadata"`
	Provisioner          string            `json:"provisioner"`
	Parameters           map[string]string `json:"parameters,omitempty"`
	ReclaimPolicy        *string           `json:"reclaimPolicy,omitempty"`
	VolumeBindingMode    *string           `json:"volumeBindingMode,omitempty"`
	AllowVolumeExpansion *bool             `json:"allowVolumeExpansion,omitempty"`
}

// PersistentVolumeClaimVolumeSource is a pod volume backed by a claim of its namespace.
type PersistentVolumeClaimVolumeSource struct {
	ClaimName string `json:"claimName"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// The resources of storage.go.
var (
	PersistentVolumeResource      = Resource{Name: "persistentvolumes", Kind: "PersistentVolume", APIVersion: "v1", HasStatus: true, ShortNames: []string{"pv"}}
	PersistentVolumeClaimResource = Resource{Name: "persistentvolumeclaims", Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespaced: true, HasStatus: true, ShortNames: []string{"pvc"}}
	StorageClassResource          = Resource{Name: "storageclasses", Kind: "StorageClass", APIVersion: "storage.k8s.io/v1", ShortNames: []string{"sc"}}
)

// Volume phases, reclaim policies, binding modes and access modes, as Kubernetes'.
const (
	VolumePending   = "Pending"
	VolumeAvailable = "Available"
	VolumeBound     = "Bound"
	VolumeReleased  = "Released"

	ReclaimDelete = "Delete"
	ReclaimRetain = "Retain"

	VolumeBindingImmediate            = "Immediate"
	VolumeBindingWaitForFirstConsumer = "WaitForFirstConsumer"

	// LocalPathProvisioner provisions directories of the node of a claim's first pod.
	LocalPathProvisioner = "keel.dev/local-path"
	// DefaultStorageClassName is the class the controller manager creates if absent.
	DefaultStorageClassName = "local-path"
	// IsDefaultClassAnnotation marks the class a claim without storageClassName gets.
	IsDefaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"
	// SelectedNodeAnnotation is set on a WaitForFirstConsumer claim by the scheduler: the
	// node of its first pod, where it is provisioned.
	SelectedNodeAnnotation = "volume.kubernetes.io/selected-node"
)

var accessModes = []string{"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}

// DefaultLocalPathClass is the default StorageClass the controller manager creates.
func DefaultLocalPathClass() *StorageClass {
	sc := &StorageClass{Provisioner: LocalPathProvisioner,
		ReclaimPolicy: ptr(ReclaimDelete), VolumeBindingMode: ptr(VolumeBindingWaitForFirstConsumer)}
	sc.Name = DefaultStorageClassName
	sc.Annotations = map[string]string{IsDefaultClassAnnotation: "true"}
	SetTypeMeta(sc)
	return sc
}

// VolumePath is the directory of a volume on its node ("" for other sources).
func (pv *PersistentVolume) VolumePath() string {
	switch {
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path
	}
	return ""
}

// NodeMatcher compiles the volume's required node affinity (matches every node without one).
func (pv *PersistentVolume) NodeMatcher() NodeMatcher {
	var spec PodSpec
	if a := pv.Spec.NodeAffinity; a != nil && a.Required != nil {
		spec.Affinity = &Affinity{NodeAffinity: &NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: a.Required}}
	}
	return NewNodeMatcher(&spec)
}

// HostnameAffinity is a node affinity to one node, by its kubernetes.io/hostname label.
func HostnameAffinity(node string) *VolumeNodeAffinity {
	return &VolumeNodeAffinity{Required: &NodeSelector{NodeSelectorTerms: []NodeSelectorTerm{{
		MatchExpressions: []NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: "In", Values: []string{node}}}}}}}
}

func defaultPersistentVolume(pv *PersistentVolume) {
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = ReclaimRetain
	}
	if pv.Spec.VolumeMode == "" {
		pv.Spec.VolumeMode = "Filesystem"
	}
	if pv.Status.Phase == "" {
		pv.Status.Phase = VolumePending
	}
}

func defaultPersistentVolumeClaim(c *PersistentVolumeClaim) {
	if c.Spec.VolumeMode == "" {
		c.Spec.VolumeMode = "Filesystem"
	}
	if c.Status.Phase == "" {
		c.Status.Phase = VolumePending
	}
}

func defaultStorageClass(sc *StorageClass) {
	if sc.ReclaimPolicy == nil {
		sc.ReclaimPolicy = ptr(ReclaimDelete)
	}
	if sc.VolumeBindingMode == nil {
		sc.VolumeBindingMode = ptr(VolumeBindingImmediate)
	}
}

func validateAccessModes(ms []string, p Path, need bool) ErrorList {
	var errs ErrorList
	if need && len(ms) == 0 {
		errs = append(errs, required(p, "at least 1 access mode is required"))
	}
	for i, m := range ms {
		if !slices.Contains(accessModes, m) {
			errs = append(errs, notSupported(p.Index(i), m, accessModes...))
		}
	}
	return errs
}

func validatePersistentVolume(pv *PersistentVolume) ErrorList {
	s, p := &pv.Spec, Path("spec")
	errs := validateAccessModes(s.AccessModes, p.Child("accessModes"), true)
	if _, ok := s.Capacity["storage"]; !ok {
		errs = append(errs, required(p.Child("capacity"), "must specify storage"))
	}
	errs = append(errs, validateResources(s.Capacity, p.Child("capacity"))...)
	policies := []string{ReclaimDelete, ReclaimRetain}
	if !slices.Contains(policies, s.PersistentVolumeReclaimPolicy) {
		errs = append(errs, notSupported(p.Child("persistentVolumeReclaimPolicy"), s.PersistentVolumeReclaimPolicy, policies...))
	}
	if s.VolumeMode != "Filesystem" {
		errs = append(errs, notSupported(p.Child("volumeMode"), s.VolumeMode, "Filesystem"))
	}
	switch {
	case s.HostPath != nil && s.Local != nil:
		errs = append(errs, forbidden(p.Child("local"), "may not specify more than 1 volume type"))
	case s.HostPath != nil:
		if !path.IsAbs(s.HostPath.Path) {
			errs = append(errs, invalid(p.Child("hostPath.path"), s.HostPath.Path, "must be an absolute path"))
		}
	case s.Local != nil:
		if !path.IsAbs(s.Local.Path) {
			errs = append(errs, invalid(p.Child("local.path"), s.Local.Path, "must be an absolute path"))
		}
		if s.NodeAffinity == nil || s.NodeAffinity.Required == nil {
			errs = append(errs, required(p.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	default:
		errs = append(errs, required(p, "must specify a volume type (supported: hostPath, local)"))
	}
	if a := s.NodeAffinity; a != nil && (a.Required == nil || len(a.Required.NodeSelectorTerms) == 0) {
		errs = append(errs, required(p.Child("nodeAffinity.required.nodeSelectorTerms"), "must have at least one node selector term"))
	}
	return errs
}

func validatePersistentVolumeClaim(c *PersistentVolumeClaim) ErrorList {
	return validateClaimSpec(&c.Spec, "spec")
}

// validateClaimTemplate checks a StatefulSet's volumeClaimTemplates[i].
func validateClaimTemplate(c *PersistentVolumeClaim, p Path) ErrorList {
	var errs ErrorList
	if c.Name == "" {
		errs = append(errs, required(p.Child("metadata.name"), ""))
	} else if !isDNSLabel(c.Name) {
		errs = append(errs, invalid(p.Child("metadata.name"), c.Name, "must be a DNS label (lowercase alphanumerics and '-', at most 63)"))
	}
	s := c.Spec
	if s.VolumeMode == "" {
		s.VolumeMode = "Filesystem"
	}
	return append(errs, validateClaimSpec(&s, p.Child("spec"))...)
}

func validateClaimSpec(s *PersistentVolumeClaimSpec, p Path) ErrorList {
	errs := validateAccessModes(s.AccessModes, p.Child("accessModes"), true)
	if _, ok := s.Resources.Requests["storage"]; !ok {
		errs = append(errs, required(p.Child("resources.requests.storage"), ""))
	}
	errs = append(errs, validateResources(s.Resources.Requests, p.Child("resources.requests"))...)
	if s.VolumeMode != "Filesystem" {
		errs = append(errs, notSupported(p.Child("volumeMode"), s.VolumeMode, "Filesystem"))
	}
	if s.Selector != nil {
		errs = append(errs, forbidden(p.Child("selector"), "volume selectors are not supported"))
	}
	return errs
}

func validateStorageClass(sc *StorageClass) ErrorList {
	var errs ErrorList
	if sc.Provisioner == "" {
		errs = append(errs, required("provisioner", ""))
	}
	policies := []string{ReclaimDelete, ReclaimRetain}
	if r := sc.ReclaimPolicy; r != nil && !slices.Contains(policies, *r) {
		errs = append(errs, notSupported("reclaimPolicy", *r, policies...))
	}
	modes := []string{VolumeBindingImmediate, VolumeBindingWaitForFirstConsumer}
	if m := sc.VolumeBindingMode; m != nil && !slices.Contains(modes, *m) {
		errs = append(errs, notSupported("volumeBindingMode", *m, modes...))
	}
	return errs
}
