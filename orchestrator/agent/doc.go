// Package agent is the node agent with the "sim" runtime (kwok-like): one Agent plays the
// kubelet of many simulated nodes that share one store client, one pod informer and one
// node informer.
//
// For every node it owns, an Agent:
//   - registers the Node (capacity, allocatable, labels, addresses, condition Ready=True),
//     and re-asserts Ready=True whenever it sees its node reported otherwise (for instance
//     after the node lifecycle controller marked it Unknown while the agent was away);
//   - heartbeats through a Lease object at /registry/leases/kube-node-lease/<node>, whose
//     spec.renewTime it rewrites every HeartbeatInterval; the renewals of all its nodes are
//     batched into a few transactions (at most 100 puts each), so thousands of nodes cost a
//     handful of writes per interval;
//   - watches the pods bound to its nodes (spec.nodeName) and, StartDelay after first
//     seeing one, writes a single status: phase Running, conditions PodScheduled,
//     Initialized, ContainersReady and Ready True, hostIP, a deterministic fake podIP, and
//     every container running with restartCount 0;
//   - honours deletion: a pod with deletionTimestamp set is deleted from the store (there is
//     nothing to stop); a deleted pod is forgotten.
//
// Concurrency: Run owns every goroutine it starts (the informers, the heartbeat loop and
// Workers pod workers) and waits for them before returning. Pods already Running with the
// agent's IP are left alone, so restarting an agent rewrites nothing.
//
// Not here: the "process" runtime, probes, restarts, init containers, Job completion.
package agent
