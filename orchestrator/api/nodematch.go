package api

import "github.com/keeldb/keel/orchestrator/labels"

// NodeFieldName is the only node field a node selector term's matchFields may select, as
// Kubernetes allows.
const NodeFieldName = "metadata.name"

// NodeMatcher is a pod's spec.nodeSelector and required node affinity, compiled once and
// matched against many nodes. The scheduler's filters and the DaemonSet controller share it.
type NodeMatcher struct {
	nodeSelector labels.Selector
	hasSelector  bool
	terms        []nodeTerm
	hasAffinity  bool
}

// nodeTerm is one required node selector term: its matchExpressions on labels and its
// matchFields on {metadata.name}.
type nodeTerm struct {
	labels, fields       labels.Selector
	hasLabels, hasFields bool
}

// NewNodeMatcher compiles spec's node selector and required node affinity. A term that
// cannot match (empty, or with an invalid requirement) is left out, so a required affinity
// whose terms all are matches nothing.
func NewNodeMatcher(spec *PodSpec) NodeMatcher {
	var m NodeMatcher
	if len(spec.NodeSelector) > 0 {
		m.nodeSelector, m.hasSelector = labels.SelectorFromSet(spec.NodeSelector), true
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return m
	}
	m.hasAffinity = true
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
			continue
		}
		var t nodeTerm
		if len(term.MatchExpressions) > 0 {
			sel, err := NodeSelectorTermSelector(NodeSelectorTerm{MatchExpressions: term.MatchExpressions})
			if err != nil {
				continue
			}
			t.labels, t.hasLabels = sel, true
		}
		if len(term.MatchFields) > 0 {
			sel, err := NodeSelectorTermSelector(NodeSelectorTerm{MatchExpressions: term.MatchFields})
			if err != nil {
				continue
			}
			t.fields, t.hasFields = sel, true
		}
		m.terms = append(m.terms, t)
	}
	return m
}

// Matches reports whether n satisfies the node selector and any one required affinity term.
func (m *NodeMatcher) Matches(n *Node) bool {
	if m.hasSelector && !m.nodeSelector.Matches(n.Labels) {
		return false
	}
	if !m.hasAffinity {
		return true
	}
	for _, t := range m.terms {
		if t.hasLabels && !t.labels.Matches(n.Labels) {
			continue
		}
		if t.hasFields && !t.fields.Matches(map[string]string{NodeFieldName: n.Name}) {
			continue
		}
		return true
	}
	return false
}

// RequiredNodeNames returns the nodes a pod's required node affinity allows by name when
// every term has a matchFields metadata.name In requirement (as DaemonSet pods do), so a
// scheduler need only check those nodes (Kubernetes' NodeAffinity PreFilter); ok is false
// when the affinity does not restrict nodes by name.
func RequiredNodeNames(spec *PodSpec) (names []string, ok bool) {
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil, false
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return nil, false
	}
	for _, t := range terms {
		found := false
		for _, f := range t.MatchFields {
			if f.Key == NodeFieldName && f.Operator == "In" {
				names, found = append(names, f.Values...), true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return names, true
}

// ToleratesTaint reports whether some toleration matches the taint (key, value, effect).
func ToleratesTaint(tols []Toleration, t Taint) bool {
	for _, tol := range tols {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		if tol.Key == "" && tol.Operator == "Exists" {
			return true
		}
		if tol.Key != t.Key {
			continue
		}
		if tol.Operator == "Exists" || tol.Value == t.Value {
			return true
		}
	}
	return false
}
