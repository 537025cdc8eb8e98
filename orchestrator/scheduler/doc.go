// Package scheduler assigns pods to nodes, as kube-scheduler does (docs/ORCHESTRATOR.md
// "Scheduler"), talking to the store only through clientv3.
//
// A Scheduler keeps informers on pods and nodes. Pods with an empty spec.nodeName (and
// this scheduler's schedulerName, not terminal, not being deleted) are queued; one cycle at
// a time, a pod is checked against the nodes:
//
//   - filters: node Ready, not spec.unschedulable (unless tolerated), spec.nodeSelector and
//     required node affinity (OR of terms, AND of matchExpressions: In, NotIn, Exists,
//     DoesNotExist, Gt, Lt, and of matchFields on metadata.name, which DaemonSet pods
//     use to name their node), every NoSchedule/NoExecute taint tolerated, and resources:
//     the requests of the pods bound to the node plus the pod's own (max of the largest
//     init container and the sum of the app containers) within status.allocatable, and
//     the pod count within allocatable "pods" when the node sets it;
//   - scores (each on 0–100, weighted): least allocated (weight 1), balanced allocation
//     (1), and spreading the pods of one controller owner (ownerReferences) across nodes
//     (2); ties go to the first node found.
//
// A pod whose required affinity names its nodes through matchFields metadata.name In (a
// DaemonSet pod) is checked against those nodes only, as kube-scheduler's NodeAffinity
// PreFilter; all nodes are filtered only to explain a failure.
//
// As kube-scheduler's adaptive percentageOfNodesToScore, a cycle in a cluster of 100 nodes
// or more stops filtering once it has found max(100, nodes × (50 − nodes/125) %, floored
// at 5 %) feasible nodes (1,000 nodes → 420), and the next cycle starts where it stopped,
// so successive pods look at different nodes. Node allocatable is parsed when the node
// changes and the pod's requests and selectors once per cycle, so filtering and scoring a
// node parse and allocate nothing.
//
// The chosen node is "assumed" at once: the pod counts on it in the scheduler's books, so
// the next cycles see its resources as taken, while one of BindWorkers goroutines writes
// the binding. A worker takes the bindings waiting, up to BindBatch (64), and writes them
// in one transaction: for each pod, spec.nodeName set and PodScheduled=True, guarded by
// the pod's mod_revision as the cache holds it (no read first). When any of those pods
// changed meanwhile the transaction fails and each binding is written on its own with a
// compare-and-swap on the pod as read (registry.GuaranteedUpdate): only if it is still
// the same pod, unbound and not being deleted. A failed binding is undone and the pod
// retried. Per-node usage (requests, pod count, pods per owner) is kept incrementally from
// informer events.
//
// A pod that fits nowhere gets PodScheduled=False, reason Unschedulable, with a message in
// kube-scheduler's form ("0/3 nodes are available: 3 Insufficient cpu."), and a
// FailedScheduling event (both written only when the message changes); it is retried
// with a per-pod back-off from InitialBackoff to MaxBackoff, and at once when a node is
// added or changes or a bound pod goes away.
//
// Run schedules on the caller's goroutine, with the two informers and the bind workers
// as its own goroutines, all stopped before it returns; run it inside leader election so
// that one scheduler is active at a time. `orch bench` measures it with the controllers and
// a sim agent against a 3-member Keel (bench/results/ORCH.md): on 2 cores, 10,000 pods
// on 1,000 nodes bind as fast as the ReplicaSet controller creates them (~400-500 pods/s,
// peaks near 1,000/s over one second).
//
// Not here yet: priorities and preemption, pod (anti-)affinity, topology spread
// constraints, host ports, preferred node affinity and PreferNoSchedule scores, a
// "Scheduled" event per binding.
package scheduler
