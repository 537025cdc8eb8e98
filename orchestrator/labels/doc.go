// Package labels implements Kubernetes label selectors: a Selector is a conjunction of
// Requirements (key =, !=, in, notin, exists, does-not-exist, >, <), parsed from the `-l`
// syntax of kubectl ("a=b,c!=d,e in (x,y),!f") or built from matchLabels/matchExpressions.
//
// Selectors are immutable values and safe for concurrent use. The empty Selector matches
// every label set; Nothing() matches none (the meaning of a nil LabelSelector in the API).
package labels
