// Package deployment is the Deployment controller: it rolls a Deployment's pod template out
// through ReplicaSets it owns, the way Kubernetes' pkg/controller/deployment does, and never
// touches pods itself.
//
// Each distinct template gets one ReplicaSet named "<deployment>-<pod-template-hash>"; the
// hash is added as the pod-template-hash label to that ReplicaSet's selector and template so
// sibling ReplicaSets never select each other's pods. Every ReplicaSet carries the
// deployment.kubernetes.io/revision annotation: a new template gets max+1, and a template
// that comes back (rollout undo copies an old template into the Deployment) reuses its
// ReplicaSet with a fresh revision.
//
// Strategies:
//   - RollingUpdate scales the new ReplicaSet up while the pods of all ReplicaSets stay
//     within replicas+maxSurge, and old ones down while the available pods stay at or above
//     replicas-maxUnavailable (unavailable old pods are removed first). Pod counts are taken
//     as max(spec.replicas, status.replicas) per ReplicaSet, so pods a scale-down has not
//     yet reached count; terminating pods (deletionTimestamp set) do not, as in Kubernetes.
//   - Recreate scales every old ReplicaSet to 0, waits until their pods are gone (terminating
//     ones included: status.terminatingReplicas), then scales the new one up.
//
// A paused Deployment is not rolled out (no new ReplicaSet is created, old ones are not
// scaled down); its status is still written. Old ReplicaSets at 0 beyond
// revisionHistoryLimit are deleted, oldest first. Deleting a Deployment leaves its
// ReplicaSets to the garbage collector (controller/garbagecollector), which deletes them and
// then their pods.
//
// Scaling writes use the cached resourceVersion, so a decision made on a stale cache fails
// with a conflict and is retried on fresh data.
//
// Conditions, as Kubernetes' syncRolloutStatus:
//   - Available is True (MinimumReplicasAvailable) when at least replicas-maxUnavailable
//     pods are available (maxUnavailable is 0 for Recreate), else False
//     (MinimumReplicasUnavailable).
//   - Progressing (only with spec.progressDeadlineSeconds, defaulted to 600) is True with
//     reason NewReplicaSetCreated when a sync creates the new ReplicaSet, FoundNewReplicaSet
//     when it finds one and there is no condition yet, ReplicaSetUpdated (lastUpdateTime
//     refreshed) whenever the status shows progress (more updated, ready or available pods,
//     fewer old ones), and NewReplicaSetAvailable once the rollout is complete. When it has
//     not been refreshed for progressDeadlineSeconds it becomes False with reason
//     ProgressDeadlineExceeded (nothing is rolled back); later progress makes it True again.
//     The controller requeues a Deployment to the moment its deadline would pass. While
//     paused the deadline is not evaluated and the condition is Unknown (DeploymentPaused,
//     then DeploymentResumed).
//
// Events: with Config.Recorder set, ScalingReplicaSet events ("Scaled up replica set X to
// N", "Scaled down replica set X to N") are recorded on the Deployment.
//
// Not here: adoption of orphan ReplicaSets, proportional scaling during a rollout, the
// ReplicaFailure condition copied from ReplicaSets, collisionCount.
package deployment
