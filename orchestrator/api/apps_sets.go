package api

import (
	"fmt"
	"slices"
)

// DaemonSet runs one pod on every eligible node (apps/v1).
type DaemonSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       DaemonSetSpec   `json:"spec,omitzero"`
	Status     DaemonSetStatus `json:"status,omitzero"`
}

// DaemonSetSpec is the daemon set's desired state.
type DaemonSetSpec struct {
	Selector             *LabelSelector          `json:"selector"`
	Template             PodTemplateSpec         `json:"template,omitzero"`
	UpdateStrategy       DaemonSetUpdateStrategy `json:"updateStrategy,omitzero"`
	MinReadySeconds      int32                   `json:"minReadySeconds,omitempty"`
	RevisionHistoryLimit *int32                  `json:"revisionHistoryLimit,omitempty"`
}

// Update strategy types of DaemonSets and StatefulSets (RollingUpdateStrategy is shared
// with Deployments).
const (
	OnDeleteStrategy = "OnDelete"
)

// DaemonSetUpdateStrategy is how new daemon pods replace old ones.
type DaemonSetUpdateStrategy struct {
	Type          string                  `json:"type,omitempty"`
	RollingUpdate *RollingUpdateDaemonSet `json:"rollingUpdate,omitempty"`
}

// RollingUpdateDaemonSet bounds a rolling update: maxUnavailable defaults to 1, maxSurge
// to 0; a percentage is of the desired number of scheduled pods.
type RollingUpdateDaemonSet struct {
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
	MaxSurge       *IntOrString `json:"maxSurge,omitempty"`
}

// DaemonSetStatus is the daemon set's observed state.
type DaemonSetStatus struct {
	CurrentNumberScheduled int32 `json:"currentNumberScheduled"`
	NumberMisscheduled     int32 `json:"numberMisscheduled"`
	DesiredNumberScheduled int32 `json:"desiredNumberScheduled"`
	NumberReady            int32 `json:"numberReady"`
	ObservedGeneration     int64 `json:"observedGeneration,omitempty"`
	UpdatedNumberScheduled int32 `json:"updatedNumberScheduled,omitempty"`
	NumberAvailable        int32 `json:"numberAvailable,omitempty"`
	NumberUnavailable      int32 `json:"numberUnavailable,omitempty"`
}

// StatefulSet runs pods NAME-0..NAME-(N-1) with stable names and hostnames (apps/v1).
type StatefulSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       StatefulSetSpec   `json:"spec,omitzero"`
	Status     StatefulSetStatus `json:"status,omitzero"`
}

// Pod management policies of StatefulSets.
const (
	OrderedReadyPodManagement = "OrderedReady"
	ParallelPodManagement     = "Parallel"
)

// StatefulSetSpec is the stateful set's desired state.
type StatefulSetSpec struct {
	Replicas    *int32          `json:"replicas,omitempty"`
	Selector    *LabelSelector  `json:"selector"`
	Template    PodTemplateSpec `json:"template,omitzero"`
	ServiceName string          `json:"serviceName,omitempty"`
	// VolumeClaimTemplates are the claims each pod gets, <template>-<pod name>, created before
	// the pod and kept after it (storage.go).
	VolumeClaimTemplates []PersistentVolumeClaim   `json:"volumeClaimTemplates,omitempty"`
	PodManagementPolicy  string                    `json:"podManagementPolicy,omitempty"`
	UpdateStrategy       StatefulSetUpdateStrategy `json:"updateStrategy,omitzero"`
	RevisionHistoryLimit *int32                    `json:"revisionHistoryLimit,omitempty"`
	MinReadySeconds      int32                     `json:"minReadySeconds,omitempty"`
}

// StatefulSetUpdateStrategy is how new pods replace old ones.
type StatefulSetUpdateStrategy struct {
	Type          string                            `json:"type,omitempty"`
	RollingUpdate *RollingUpdateStatefulSetStrategy `json:"rollingUpdate,omitempty"`
}

// RollingUpdateStatefulSetStrategy holds the partition: pods with an ordinal at or above it
// are updated, the others keep the current revision.
type RollingUpdateStatefulSetStrategy struct {
	Partition *int32 `json:"partition,omitempty"`
}

// StatefulSetStatus is the stateful set's observed state.
type StatefulSetStatus struct {
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
	Replicas           int32  `json:"replicas"`
	ReadyReplicas      int32  `json:"readyReplicas,omitempty"`
	CurrentReplicas    int32  `json:"currentReplicas,omitempty"`
	UpdatedReplicas    int32  `json:"updatedReplicas,omitempty"`
	AvailableReplicas  int32  `json:"availableReplicas"`
	CurrentRevision    string `json:"currentRevision,omitempty"`
	UpdateRevision     string `json:"updateRevision,omitempty"`
	CollisionCount     *int32 `json:"collisionCount,omitempty"`
}

func defaultDaemonSet(s *DaemonSetSpec) {
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = RollingUpdateStrategy
	}
	if s.UpdateStrategy.Type == RollingUpdateStrategy {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &RollingUpdateDaemonSet{}
		}
		if s.UpdateStrategy.RollingUpdate.MaxUnavailable == nil {
			s.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr(FromInt(1))
		}
		if s.UpdateStrategy.RollingUpdate.MaxSurge == nil {
			s.UpdateStrategy.RollingUpdate.MaxSurge = ptr(FromInt(0))
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr(int32(10))
	}
	defaultPodSpec(&s.Template.Spec)
}

func defaultStatefulSet(s *StatefulSetSpec) {
	if s.Replicas == nil {
		s.Replicas = ptr(int32(1))
	}
	if s.PodManagementPolicy == "" {
		s.PodManagementPolicy = OrderedReadyPodManagement
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = RollingUpdateStrategy
	}
	if s.UpdateStrategy.Type == RollingUpdateStrategy {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &RollingUpdateStatefulSetStrategy{}
		}
		if s.UpdateStrategy.RollingUpdate.Partition == nil {
			s.UpdateStrategy.RollingUpdate.Partition = ptr(int32(0))
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr(int32(10))
	}
	defaultPodSpec(&s.Template.Spec)
}

// validateDaemonSet checks a DaemonSet spec with Kubernetes' rules and messages
// (k8s.io/kubernetes pkg/apis/apps/validation ValidateDaemonSetSpec).
func validateDaemonSet(s *DaemonSetSpec, p Path) ErrorList {
	errs := validateSelectorTemplate(s.Selector, &s.Template, p)
	if ads := s.Template.Spec.ActiveDeadlineSeconds; ads != nil {
		errs = append(errs, invalid(p.Child("template.spec.activeDeadlineSeconds"), *ads, "activeDeadlineSeconds in DaemonSet is not Supported"))
	}
	sp := p.Child("updateStrategy")
	switch s.UpdateStrategy.Type {
	case OnDeleteStrategy:
		if s.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, forbidden(sp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'OnDelete'"))
		}
	case RollingUpdateStrategy:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			rp := sp.Child("rollingUpdate")
			surge, e1 := intOrPercent(ru.MaxSurge, rp.Child("maxSurge"))
			unavail, e2 := intOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))
			errs = append(errs, e1...)
			errs = append(errs, e2...)
			if len(e1)+len(e2) == 0 {
				if surge == 0 && unavail == 0 {
					errs = append(errs, invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable.String(), "cannot be 0 when maxSurge is 0"))
				}
				if ru.MaxUnavailable != nil && ru.MaxUnavailable.IsString && unavail > 100 {
					errs = append(errs, invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable.String(), "must not be greater than 100%"))
				}
				if ru.MaxSurge != nil && ru.MaxSurge.IsString && surge > 100 {
					errs = append(errs, invalid(rp.Child("maxSurge"), ru.MaxSurge.String(), "must not be greater than 100%"))
				}
			}
		}
	default:
		errs = append(errs, notSupported(sp.Child("type"), s.UpdateStrategy.Type, OnDeleteStrategy, RollingUpdateStrategy))
	}
	if s.MinReadySeconds < 0 {
		errs = append(errs, invalid(p.Child("minReadySeconds"), s.MinReadySeconds, "must be greater than or equal to 0"))
	}
	if r := s.RevisionHistoryLimit; r != nil && *r < 0 {
		errs = append(errs, invalid(p.Child("revisionHistoryLimit"), *r, "must be greater than or equal to 0"))
	}
	return errs
}

// validateStatefulSet checks a StatefulSet spec with Kubernetes' rules and messages
// (ValidateStatefulSetSpec).
func validateStatefulSet(s *StatefulSetSpec, p Path) ErrorList {
	errs := validateReplicas(s.Replicas, p.Child("replicas"))
	// The template is checked with the volumes its pods get from volumeClaimTemplates.
	tmpl := &s.Template
	if len(s.VolumeClaimTemplates) > 0 {
		tmpl = DeepCopy(&Pod{ObjectMeta: s.Template.ObjectMeta, Spec: s.Template.Spec}).template()
		for _, t := range s.VolumeClaimTemplates {
			if !slices.ContainsFunc(tmpl.Spec.Volumes, func(v Volume) bool { return v.Name == t.Name }) {
				tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, Volume{Name: t.Name, VolumeSource: VolumeSource{
					PersistentVolumeClaim: &PersistentVolumeClaimVolumeSource{ClaimName: t.Name}}})
			}
		}
	}
	errs = append(errs, validateSelectorTemplate(s.Selector, tmpl, p)...)
	if s.ServiceName != "" && !isDNSLabel(s.ServiceName) {
		errs = append(errs, invalid(p.Child("serviceName"), s.ServiceName, "must be a DNS label (lowercase alphanumerics and '-', at most 63)"))
	}
	for i := range s.VolumeClaimTemplates {
		errs = append(errs, validateClaimTemplate(&s.VolumeClaimTemplates[i], p.Child("volumeClaimTemplates").Index(i))...)
	}
	if !slices.Contains([]string{OrderedReadyPodManagement, ParallelPodManagement}, s.PodManagementPolicy) {
		errs = append(errs, notSupported(p.Child("podManagementPolicy"), s.PodManagementPolicy, OrderedReadyPodManagement, ParallelPodManagement))
	}
	sp := p.Child("updateStrategy")
	switch s.UpdateStrategy.Type {
	case OnDeleteStrategy:
		if s.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, invalid(sp.Child("rollingUpdate"), fmt.Sprint(s.UpdateStrategy.RollingUpdate.Partition != nil), "only allowed for updateStrategy 'RollingUpdate'"))
		}
	case RollingUpdateStrategy:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition < 0 {
			errs = append(errs, invalid(sp.Child("rollingUpdate.partition"), *ru.Partition, "must be greater than or equal to 0"))
		}
	default:
		errs = append(errs, notSupported(sp.Child("type"), s.UpdateStrategy.Type, OnDeleteStrategy, RollingUpdateStrategy))
	}
	if s.MinReadySeconds < 0 {
		errs = append(errs, invalid(p.Child("minReadySeconds"), s.MinReadySeconds, "must be greater than or equal to 0"))
	}
	if r := s.RevisionHistoryLimit; r != nil && *r < 0 {
		errs = append(errs, invalid(p.Child("revisionHistoryLimit"), *r, "must be greater than or equal to 0"))
	}
	return errs
}

// validatePodHostname checks spec.hostname and spec.subdomain, DNS labels as Kubernetes
// requires.
func validatePodHostname(s *PodSpec, p Path) ErrorList {
	var errs ErrorList
	if s.Hostname != "" && !isDNSLabel(s.Hostname) {
		errs = append(errs, invalid(p.Child("hostname"), s.Hostname, "must be a DNS label (lowercase alphanumerics and '-', at most 63)"))
	}
	if s.Subdomain != "" && !isDNSLabel(s.Subdomain) {
		errs = append(errs, invalid(p.Child("subdomain"), s.Subdomain, "must be a DNS label (lowercase alphanumerics and '-', at most 63)"))
	}
	return errs
}

// validateMatchFields checks a node selector term's matchFields: metadata.name only,
// operator In or NotIn with exactly one value (Kubernetes' validateNodeFieldSelectorRequirement).
func validateMatchFields(reqs []NodeSelectorRequirement, p Path) ErrorList {
	var errs ErrorList
	for i, r := range reqs {
		rp := p.Index(i)
		switch r.Operator {
		case "In", "NotIn":
			if len(r.Values) != 1 {
				errs = append(errs, required(rp.Child("values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
			}
		default:
			errs = append(errs, invalid(rp.Child("operator"), r.Operator, "not a valid selector operator"))
		}
		if r.Key != NodeFieldName {
			errs = append(errs, notSupported(rp.Child("key"), r.Key, NodeFieldName))
		}
	}
	return errs
}

// template is the pod as a pod template (metadata and spec).
func (p *Pod) template() *PodTemplateSpec {
	return &PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}
}
