// Package robustness_test is Keel's robustness suite, after etcd's tests/robustness
// (docs/RELIABILITY.md "The robustness suite"; issue 12): each scenario starts a cluster of
// real keeld processes (1, 3 or 5 members), drives one traffic profile at it, injects one
// fault under the traffic, heals it, and then checks the whole run.
//
// Profiles (Profile, Traffic): kv (etcd-style puts, gets, compare-and-set txns and deletes
// on a few keys, plus lease grant/attach/read/revoke, all checked with porcupine); k8s
// (Kubernetes-style create-if-absent, update and delete by mod_revision, lists now and at
// past revisions, a compaction every 300 ms, list-watch); lock (clientv3 concurrency Mutex
// and Election, each holder incrementing a counter under a fence; the counters must count
// 1, 2, 3, ... with every acknowledged increment).
//
// Faults (Fault; ClusterConfigurer for faults that need the cluster built or started
// differently): kill -9 and restart, SIGSTOP/SIGCONT (of a leader with a stale-read
// probe), graceful restart, member replacement (remove, then add a fresh member), each of a
// random member, the leader or a follower; failpoint faults (failpointFault: a panic at every
// failpoint of internal/failpoint, sleeps at some, on the member the failpoint's trigger
// reaches; the fault sets Config.GofailHTTP, the runner then builds keeld with -tags
// failpoints; the fault drives its trigger itself, waits for the panic to stop the member or
// the sleep to fire, and fails when the failpoint never fired; its panic is declared with
// Env.ExpectPanic); network faults (netFault, through the peer proxies: blackhole both ways,
// Tx or Rx of the leader or a follower, until a snapshot, a pair partition, delay, drop);
// and chains of them (chainFault, several faults on one cluster, healed in between). To add
// one: write the type (Inject must heal what it broke before it returns; Env gives the
// cluster, a seeded Rand, Note and Fired for the report, Live, IsLeader, WaitProgress),
// implement ClusterConfigurer if the members need another binary, environment, flags or peer
// proxies, and list it in allFaults (for TestRobustnessRandom). TestFaultCoverage requires
// every failpoint and network fault kind to have a fault in allFaults and to be injected by
// some ciScenarios entry.
//
// Checks, after every scenario: porcupine linearizability of the recorded KV history (a
// failed write has an unknown outcome, a failed read is dropped); every acknowledged write
// in the history at its revision and nothing in it that no client wrote (kvhist.CheckWrites);
// the profile's own checks (leases; optimistic concurrency and lists; mutual exclusion); the reference watcher (every member, from revision 1,
// prev_kv) consistent with itself and with a final range read; one watcher pinned to each
// member, from a revision a little in the past, with progress requests, prev_kv at random
// and a delete filter on one, checked for etcd's watch guarantees (internal/watchcheck:
// ordered, unique, atomic, reliable, resumable, bookmarkable, prevKV, isCreate, filter);
// all members at the same HashKV; no panic in any member log but those faults declared.
//
// TestRobustness runs a fixed-seed subset (make test); TestRobustnessRandom runs random
// scenarios for $KEEL_ROBUSTNESS_DURATION (make robustness DURATION=10m SEED=...);
// TestMutations switches on each of keeld's test-only bugs (--unsafe-local-linearizable-reads,
// --unsafe-drop-watch-events, --unsafe-lose-acked-writes) and requires its scenario to report
// a violation. A failed scenario prints its seed, a command that replays it, and a directory
// (under $KEEL_ROBUSTNESS_ARTIFACTS, else the system's temporary directory) with
// history.json, watch.json, report.txt, the member logs and, when the history is not
// linearizable, porcupine's keel-history-*.html.
package robustness_test
