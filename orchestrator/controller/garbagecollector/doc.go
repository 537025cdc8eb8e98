// Package garbagecollector is the garbage collector: it deletes objects whose owners are
// gone, following metadata.ownerReferences, the way Kubernetes' garbage collector does
// background cascading deletion. Deleting a Deployment thereby removes its ReplicaSets, and
// then their pods.
//
// It watches Deployments, ReplicaSets, ReplicationControllers, Pods, Services and Endpoints with informers whose
// caches are indexed by owner uid. An object is checked when it first appears in a cache
// (so a restarted collector checks every object that has owners, catching owners deleted
// while it was down), when its ownerReferences change, and when one of its owners is
// deleted. A check:
//   - ignores objects without ownerReferences: they are never touched;
//   - finds, for each reference, whether its owner exists: an object of that kind and name
//     (in the dependent's namespace, or cluster-scoped) with that uid. A cache hit with the
//     uid is enough; otherwise a fresh store read decides, so an owner created a moment ago
//     is never taken for gone, and an owner deleted and recreated under the same name (new
//     uid) counts as gone. Owners of kinds the registry does not know are assumed to exist;
//   - when every owner is gone, re-reads the object and deletes it with a resourceVersion
//     precondition, unless it was replaced, lost its references (orphaned) or gained an
//     owner meanwhile;
//   - when only some owners are gone, removes the dangling references and keeps the object
//     (as Kubernetes does).
//
// Pods are deleted gracefully (registry.Store.Delete: deletionTimestamp, then their node
// agent removes them once stopped); other objects at once.
//
// Propagation: only background deletion is supported. Owners are deleted at once (the
// registry has no finalizers yet), so foregroundDeletion and the
// orphan finalizer are not implemented: to orphan dependents, remove their
// ownerReferences before deleting the owner (the CLI does). blockOwnerDeletion is ignored.
// Owners of unwatched kinds (Nodes, Namespaces) are only checked when a dependent is
// first seen or changes, not when the owner is deleted.
//
// Concurrency: Run owns the informers and Workers workers; the work queue never hands one
// object to two workers at once, and failed checks are retried with per-key back-off.
package garbagecollector
