package api

// ReplicationController is the older form of ReplicaSet (v1, short name rc): it keeps a
// number of identical pods running, selected by an equality selector.
type ReplicationController struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ReplicationControllerSpec   `json:"spec,omitzero"`
	Status     ReplicationControllerStatus `json:"status,omitzero"`
}

// ReplicationControllerSpec is the replication controller's desired state. Replicas
// defaults to 1; Selector (label key → value, all must be equal) defaults to the
// template's labels, as does the controller's own metadata.labels when empty.
type ReplicationControllerSpec struct {
	Replicas        *int32            `json:"replicas,omitempty"`
	MinReadySeconds int32             `json:"minReadySeconds,omitempty"`
	Selector        map[string]string `json:"selector,omitempty"`
	Template        *PodTemplateSpec  `json:"template,omitempty"`
}

// ReplicationControllerStatus is the replication controller's observed state; its fields
// are ReplicaSetStatus's, as in Kubernetes.
type ReplicationControllerStatus = ReplicaSetStatus

// LabelSelector returns the spec's equality selector as a LabelSelector (nil when it has
// none), so that one matching code serves ReplicaSets and ReplicationControllers.
func (s *ReplicationControllerSpec) LabelSelector() *LabelSelector {
	if len(s.Selector) == 0 {
		return nil
	}
	return &LabelSelector{MatchLabels: s.Selector}
}

func defaultReplicationController(o *ReplicationController) {
	if o.Spec.Replicas == nil {
		o.Spec.Replicas = ptr(int32(1))
	}
	t := o.Spec.Template
	if t == nil {
		return
	}
	if len(o.Spec.Selector) == 0 && len(t.Labels) > 0 {
		o.Spec.Selector = cloneLabels(t.Labels)
	}
	if len(o.Labels) == 0 && len(t.Labels) > 0 {
		o.Labels = cloneLabels(t.Labels)
	}
	defaultPodSpec(&t.Spec)
}

func cloneLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func validateReplicationController(s *ReplicationControllerSpec, p Path) ErrorList {
	errs := validateReplicas(s.Replicas, p.Child("replicas"))
	sp := p.Child("selector")
	errs = append(errs, validateLabels(s.Selector, sp)...)
	if s.Template == nil {
		return append(errs, required(p.Child("template"), ""))
	}
	if len(s.Selector) == 0 {
		return append(errs, required(sp, ""))
	}
	return append(errs, validateSelectorTemplate(s.LabelSelector(), s.Template, p)...)
}
