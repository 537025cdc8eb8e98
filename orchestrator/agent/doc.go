// Package agent is the node agent (Keel's kubelet). It has two runtimes, chosen by
// Config.Runtime:
//
//   - "sim" (the default, kwok-like): one Agent plays the kubelet of many simulated nodes
//     that share one store client, one pod informer and one node informer; nothing runs.
//   - "process": one Agent is the kubelet of one node whose pods' containers run as real
//     local processes (see "The process runtime" below).
//
// For every node it owns, an Agent:
//   - registers the Node (capacity, allocatable, labels, addresses, condition Ready=True),
//     and re-asserts Ready=True whenever it sees its node reported otherwise (for instance
//     after the node lifecycle controller marked it Unknown while the agent was away);
//   - heartbeats through a Lease object at /registry/leases/kube-node-lease/<node>, whose
//     spec.renewTime it rewrites every HeartbeatInterval; the renewals of all its nodes are
//     batched into a few transactions (at most 100 puts each), so thousands of nodes cost a
//     handful of writes per interval;
//   - reports usage every MetricsInterval (metrics.go): a PodMetrics per Running pod and a
//     NodeMetrics per node (metrics.k8s.io/v1beta1 shapes), 100 puts per transaction on one
//     store lease per round, the previous round's lease revoked once written (so a gone
//     pod's metrics go at once, a stopped agent's within the TTL); the process runtime
//     measures each container's process group in /proc (utime+stime as a rate between
//     two samples, RSS), the sim runtime reports the keel.dev/simulated-cpu and
//     keel.dev/simulated-memory annotations; a node's usage is its pods' sum;
//   - with Eviction thresholds, evicts pods under memory pressure as kubelet's eviction
//     manager (eviction.go, evictionmanager.go): every Eviction.Interval it observes each
//     node's memory.available through a SignalSource, keeps the node's MemoryPressure
//     condition and node.kubernetes.io/memory-pressure:NoSchedule taint, evicts at most one
//     pod per node (Failed, reason Evicted) in kubelet's rank order, and refuses new
//     BestEffort pods that do not tolerate the taint; its goroutine is Run's;
//   - sim: watches the pods bound to its nodes (spec.nodeName) and, StartDelay after first
//     seeing one, writes a single status: phase Running, conditions PodScheduled,
//     Initialized, ContainersReady and Ready True, hostIP, a deterministic fake podIP, and
//     every container running with restartCount 0; a pod with deletionTimestamp set is
//     removed from the store (a delete with grace period 0 and its UID) once its simulated
//     containers stopped: Config.StopDelay after the mark, at most its grace period
//     (default at once); a deleted pod is forgotten. A pod that runs to completion
//     (restartPolicy Never or OnFailure, a Job's) is then, StartDelay later, reported
//     Succeeded with its containers terminated (exit code 0, Completed).
//
// # The process runtime
//
// The node's InternalIP is ProcessConfig.Address (a loopback address such as 127.0.1.1 per
// agent); spec.podCIDR is ProcessConfig.PodCIDR (default DefaultPodCIDR: a /24 in 127/8
// derived from the node name), from which each pod gets its own IP (network address, .1 and
// broadcast excepted; allocations are rebuilt at start-up from pod.json files and the
// status.podIP of the pods bound here; a terminal pod's IP returns to the pool). Processes
// bind their pod IP directly: all of 127/8 is loopback on Linux.
//
// Containers: command and args are required (a container without command is refused with
// waiting reason CreateContainerConfigError and pod message "process runtime needs a
// command"; the image is not run). The environment is PATH and HOME from the agent (what an
// image would provide), HOSTNAME (the pod's hostname), then env in order: literal values
// with Kubernetes' $(VAR) expansion ($$ escapes; undefined references stay as they are) and
// valueFrom.fieldRef (api.EnvFieldPaths, and metadata.labels['KEY'] or
// metadata.annotations['KEY']), configMapKeyRef and secretKeyRef, after envFrom (ConfigMaps
// and Secrets read from the store at each start, configsource.go; a missing one that is not
// optional: waiting reason CreateContainerConfigError, retried); command and args are
// expanded against env too. Volumes and their bind mounts in the shim's private mount
// namespace: volumes.go.
// argv[0] is resolved through the agent's PATH; workingDir defaults to the agent's.
//
// Each container run is started through a shim: the agent re-executes its own binary
// (ProcessConfig.ShimCommand, default /proc/self/exe with ShimArg; see RunShim and
// MaybeRunShim) in a new session, stdout and stderr on the run's log file. The shim starts
// the container in its own process group, records both pids with their /proc start times,
// forwards SIGTERM/SIGINT, waits, kills what is left of the group, and writes the exit
// status. Because nothing ties the shim to the agent, containers survive the agent being
// stopped or SIGKILLed; the next agent re-adopts them from the state under RootDir without
// restarting them or rewriting the pod (the recomputed status equals the stored one). Its
// layout, per pod and container:
//
//	<root>/pods/<ns>_<name>_<uid>/pod.json                  namespace, name, uid, IP
//	<root>/pods/<ns>_<name>_<uid>/<container>/state.json    restartCount, startedAt, lastState, back-off
//	<root>/pods/<ns>_<name>_<uid>/<container>/<n>.log       output of run n (n = restartCount; n-1 kept for --previous)
//	<root>/pods/<ns>_<name>_<uid>/<container>/<n>.pid       container and shim pids, written by the shim
//	<root>/pods/<ns>_<name>_<uid>/<container>/<n>.exit      exit code or signal, written by the shim
//
// Lifecycle, as the kubelet's (docs/ORCHESTRATOR.md "Node agent and Service proxy"):
// restartPolicy Always/OnFailure/Never; the first restart is immediate, then the back-off
// doubles from BackoffBase to BackoffMax (fast 1 s → 30 s; Kubernetes 10 s → 5 min), reset
// after a run of 2×BackoffMax, with waiting reason CrashLoopBackOff meanwhile; restartCount and
// lastTerminationState; terminated reasons Completed, Error, StartError (argv[0] not found),
// ContainerStatusUnknown (the process vanished with no exit record); phase Pending → Running →
// Succeeded/Failed as kubelet's getPhase. Probes (startupProbe, livenessProbe, readinessProbe;
// exec, httpGet, tcpSocket; host defaults to the pod IP, named ports resolve through the
// container's ports) follow their thresholds; Ready and ContainersReady follow readiness (no
// readiness probe: ready once started); a failed liveness or startup probe stops the container
// (SIGTERM, grace period, SIGKILL) and the restart policy applies. The status is written only
// when it changes.
//
// Lifecycle hooks (hooks.go), as the kubelet's: postStart (exec, httpGet or sleep) runs
// right after a container starts, with the container's environment; the container is not
// Ready until it ends, and a failing hook kills the container (its restart policy then
// applies). preStop runs whenever the agent stops a container (deletion, a failed liveness
// or startup probe or postStart, a finished pod's sidecars), inside the grace period;
// SIGTERM follows when it ends (with at least 2 s left before SIGKILL), and SIGKILL comes
// when the grace period is over whether the hook ended or not.
//
// Deletion: a pod with deletionTimestamp (set by the registry's graceful delete) has each
// running container stopped as above — preStop, SIGTERM on its process group, SIGKILL
// after the grace period (deletionGracePeriodSeconds, else terminationGracePeriodSeconds,
// default 30 s, capped by MaxGracePeriod, counted from when the agent sees the mark) —
// and once none runs the pod is removed from the store with grace period 0 and a UID
// precondition; until then it stays, terminating. A pod that disappears from the store, or that an
// agent finds at start-up gone or bound elsewhere, has its processes killed, its IP freed
// and its directory removed. StopPods kills everything recorded under a root directory.
//
// HTTP, on Address:Port (recorded in node.status.daemonEndpoints.kubeletEndpoint.Port):
// GET /containerLogs/{namespace}/{pod}/{container}?follow=true&tailLines=N&previous=true, as
// kubelet's (404 with a message for an unknown pod or container, 400 for a container not
// started yet; follow streams until the run ends), and GET /healthz.
//
// Concurrency: Run owns every goroutine it starts (the informers, the heartbeat loop,
// Workers pod workers; in the process runtime the HTTP server and one goroutine per pod,
// which owns that pod's processes, with one waiter per running container and one prober per
// probe) and waits for them before returning. Pods already Running with the agent's IP are
// left alone, so restarting an agent rewrites nothing. With StopPodsOnExit, Run stops the
// pods' processes (SIGTERM, then SIGKILL after at most 10 s) before returning.
//
// Not here: init containers (the process runtime runs app containers only), resource
// limits, image pulls, exec/attach/port-forward, a sim failure model.
package agent
