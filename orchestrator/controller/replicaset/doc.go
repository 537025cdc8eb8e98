// Package replicaset is the ReplicaSet controller: it keeps the number of active pods
// controlled by each ReplicaSet equal to spec.replicas, the way Kubernetes'
// pkg/controller/replicaset does.
//
// A pod is controlled by a ReplicaSet when its ownerReferences hold an entry with
// controller=true and the ReplicaSet's uid. On every sync of a ReplicaSet the controller:
//   - adopts pods in its namespace that match its selector and have no controller (adding
//     the owner reference through a conflict-retrying update), unless the ReplicaSet is
//     being deleted;
//   - releases the pods it controls whose labels no longer match (removing the reference);
//   - counts the active pods (not Succeeded/Failed, not being deleted) and creates the
//     missing ones from the template (at most BurstReplicas per sync, in slow-start batches
//     of 1, 2, 4, …, stopping at the first failed batch; after a burst without failure
//     the next starts at the size reached, see slowstart.go) or deletes the surplus, ranked
//     as Kubernetes does: unscheduled, then Pending, then not-ready pods, then lower
//     controller.kubernetes.io/pod-deletion-cost, then ready for less time, then more
//     restarts, then the newest. Deletes are graceful (the registry marks a bound pod with
//     deletionTimestamp and its agent removes it once stopped); a terminating pod no longer
//     counts in status.replicas, so its replacement is created at once, and a pod update
//     that sets deletionTimestamp satisfies the deletion expectation;
//   - writes status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
//     observedGeneration) with UpdateStatus when it changed.
//
// Expectations: before creating or deleting, the controller records how many pod adds and
// which pod deletions it expects to see through its informer; until they have been seen (or
// ExpectationsTimeout passed) it does not create or delete again for that ReplicaSet, so a
// cache that lags the controller's own writes never causes double creation or deletion.
//
// Events: with Config.Recorder set, SuccessfulCreate ("Created pod: NAME"), FailedCreate
// (Warning, "Error creating: ERR") and SuccessfulDelete ("Deleted pod: NAME") events are
// recorded on the ReplicaSet.
//
// Concurrency: Run owns its two informers and Workers workers; the work queue never hands
// one ReplicaSet to two workers at once. Failed syncs are retried with per-key back-off.
//
// ReplicationControllers (v1) are kept by the same code, generic over the kind
// (replication.go, ReplicationManager): their equality selector is read as matchLabels and
// their pods carry a ReplicationController controller reference.
//
// Not here: deleting the pods of a deleted ReplicaSet (the garbage collector does, by their
// owner reference), the ReplicaFailure condition, preferring pods doubled up on one node.
package replicaset
