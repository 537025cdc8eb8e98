// Package nodelifecycle is the node lifecycle controller: it watches the nodes' heartbeat
// Leases (kube-node-lease/<node>) and handles nodes that stop renewing them, the way
// Kubernetes' node lifecycle and taint eviction controllers do.
//
// Every MonitorPeriod it looks at every node. Like Kubernetes it judges liveness on its own
// clock: it remembers when it last saw a node's Lease renewTime change (a node first seen
// counts as just renewed), so clock skew between agents and the controller does not matter.
// A node whose Lease has not changed for GracePeriod:
//   - gets condition Ready=Unknown (reason NodeStatusUnknown) and the taints
//     node.kubernetes.io/unreachable with effects NoSchedule and NoExecute;
//   - has its pods marked Ready=False, so endpoints drop them;
//   - has its pods deleted (evicted) once the NoExecute taint is EvictionTimeout old, or
//     tolerationSeconds old for a pod that tolerates the taint for a while; pods tolerating it
//     forever stay. The delete is graceful (deletionTimestamp, the pod's grace period), so
//     their controllers recreate them elsewhere at once; since no agent is there to confirm
//     the containers stopped, a pod still there when its deletionTimestamp has passed is
//     removed at once (grace period 0), as Kubernetes' pod GC does for out-of-service
//     nodes. An agent that comes back kills the processes of pods no longer in the store.
//
// When every node is unreachable at once (more than one node), the controller assumes the
// fault is on its side (Kubernetes' full-disruption mode): it still marks the nodes but
// evicts nothing. When a node's Lease is renewed again and its agent reports Ready=True, the
// unreachable taints are removed.
//
// Events: with Config.Recorder set, a NodeNotReady event ("Node X status is now:
// NodeNotReady") is recorded on a node when it is marked unreachable, and a
// TaintManagerEviction event ("Marking for deletion Pod ns/name") on every evicted pod.
//
// Concurrency: Run owns three informers (nodes, leases, pods) and one monitor loop; all
// writes are conflict-retrying updates or deletes with a uid precondition.
//
// Not here: zone-aware eviction rates, the not-ready taint for agents that report
// Ready=False themselves, node-startup grace distinct from GracePeriod.
package nodelifecycle
