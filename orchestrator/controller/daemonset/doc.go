// Package daemonset is the DaemonSet controller (docs/ORCHESTRATOR.md "Informers and
// controllers"): one pod of each DaemonSet on every eligible node, as Kubernetes'.
//
// A node is eligible when it passes the template's nodeName, nodeSelector and required
// node affinity and every NoSchedule and NoExecute taint is tolerated, counting the
// tolerations Kubernetes gives every daemon pod (not-ready and unreachable NoExecute;
// disk-, memory- and pid-pressure and unschedulable NoSchedule). A node with an
// untolerated NoSchedule taint gets no new pod but keeps a running one; an untolerated
// NoExecute taint, or a node that stops matching, loses it (ShouldRun). Pods are placed
// the Kubernetes way since 1.12: created unbound with a required node affinity naming the
// node (matchFields metadata.name In [node]), which the scheduler honours (PodSpecFor).
//
// Compute is the whole decision as a pure function of (DaemonSet, nodes, pods): create a
// pod on each eligible node without one, replace failed pods, remove duplicates (oldest
// stays), pods of nodes no longer eligible and pods of deleted nodes; then, with the
// RollingUpdate strategy, replace pods whose controller-revision-hash label differs from
// the template's hash (TemplateHash) within maxUnavailable (delete, then manage recreates)
// or maxSurge (new pod beside the old, old deleted once the new is available). OnDelete
// replaces a pod only when someone deletes it. ComputeStatus gives desired, current,
// misscheduled, ready, available and updated counts. Expectations keep a lagging pod cache
// from creating a node's pod twice.
//
// Not here yet: ControllerRevision objects (so no rollout history or undo), adoption of
// orphan pods, the failed-pod back-off, preferring nodes' existing pods by readiness when
// removing duplicates.
package daemonset
