// Package statefulset is the StatefulSet controller (docs/ORCHESTRATOR.md "Informers and
// controllers"): pods NAME-0 … NAME-(N-1) with stable names, as Kubernetes'.
//
// Each pod is named after the set and its ordinal, with that name as spec.hostname,
// spec.serviceName as spec.subdomain, and the labels statefulset.kubernetes.io/pod-name,
// apps.kubernetes.io/pod-index and controller-revision-hash ("NAME-<template hash>",
// Revision). A deleted pod is recreated under the same name, on whatever node the scheduler
// picks.
//
// Next is the whole decision as a pure function of (StatefulSet, revisions, pods):
// OrderedReady creates ordinals upwards, each once the one before is Running and Ready (and
// available for minReadySeconds), and removes surplus ordinals downwards one at a time,
// each once the previous one is gone; Parallel creates and removes them all at once.
// RollingUpdate then replaces pods not at the update revision from the highest ordinal down
// to the partition, one at a time, each after the one above is healthy again; OnDelete
// replaces only pods someone deleted. A pod below the partition is recreated at the current
// revision, from the template of a pod of that revision still running (there are no
// ControllerRevision objects). ComputeStatus counts replicas, ready, available, current and
// updated pods and promotes the update revision to current once every pod has it and is
// ready. Bound pods are deleted gracefully (deletionTimestamp; their agent stops them and
// removes the object), so ordered scale-down waits for each pod's processes to end.
//
// Each volumeClaimTemplate gives every pod a PersistentVolumeClaim <template>-<pod>,
// created before the pod and never deleted by the controller (retention policy Retain).
//
// Not here yet: persistentVolumeClaimRetentionPolicy, ControllerRevision objects (rollout history and undo), adoption
// of orphan pods, spec.ordinals, maxUnavailable for rolling updates.
package statefulset
