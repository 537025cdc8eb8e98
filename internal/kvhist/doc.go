// Package kvhist records what clients of a Keel (or etcd) cluster did and checks it: a
// porcupine model of per-key registers, a concurrent-safe history recorder, a recorded random
// workload over clientv3, a linearizability check and a check of the acknowledged writes
// against the MVCC history, for tests that fault a cluster under load (tests/chaos, the
// power-loss test). It talks to the cluster only through go.etcd.io/etcd/client/v3 and
// depends on nothing else but porcupine and internal/watchcheck's event type
// (internal/archtest holds it to that). tests/containers keeps its own, slightly different
// model (a CAS from "" creates an absent key; unknown outcomes live in the output).
//
// What is checked, and how:
//
//   - Linearizability (CheckLinearizable): puts, linearizable gets and compare-and-set txns
//     (a value compare, then a put) on a small key set are checked with porcupine against
//     Model, one register per key. The state of a key is its value, "" when absent; a CAS on
//     an absent key fails, as an etcd value compare on a missing key does.
//   - Leases: LeasePut (a put attached to Input.Lease), LeaseRevoke and Gets of such keys
//     carry the lease and are checked per lease, not per key: a revoke deletes every
//     attached key, and a put on a revoked lease or a second revoke can only have failed.
//   - The unknown-outcome rule: a write whose client saw an error (a timeout, a lost leader)
//     may have been applied, may yet be applied, or may never be. Recorder.Record marks it
//     Unknown and gives it an infinite return time, so porcupine may place it anywhere after
//     its call, including after every other operation, where it is as good as never applied.
//     An unknown CAS takes effect only if its comparison holds where porcupine places it.
//   - Failed reads are dropped: a read has no effect, and one that failed tells nothing.
//     History.FailedReads counts them.
//   - Values are unique per write: every put and CAS writes a value no other write uses
//     (the Workload writes "c<client>-<seq>"; callers of Do must keep to this). A read thus
//     names the write it observed, and CheckWrites can tell a lost, an invented and a
//     duplicated write apart.
//   - Acknowledged writes against the MVCC history (CheckWrites): every acknowledged write
//     must be in the history at the revision its response header carried (nothing lost), and
//     the history must hold only values some client tried to write (or the test's own
//     markers), each once (nothing invented, nothing applied twice). A write with an unknown
//     outcome may or may not be in the history.
//   - Monotonic revisions: each Workload client reports a Violation when a response header
//     revision is below the previous one it saw.
//
// Concurrency: a Recorder is safe for concurrent use. A Workload runs one goroutine per
// client, each issuing one operation at a time (the checker needs sequential clients);
// StartWorkload starts them and Stop ends and waits for them. Model, CheckLinearizable and
// CheckWrites are pure.
//
// Caveats: deletes are in the model (a Delete empties the register), but
// watchcheck.ReadHistory refuses delete events, so a workload with
// WorkloadConfig.DeletePercent needs its own history reader (tests/robustness has one).
// Porcupine's time grows quickly with the operations concurrent on one key, and every
// unknown-outcome write stays
// concurrent with everything after it: keep the clients few, and pace retries after errors
// (the Workload does), or a long fault can make a history too costly to decide.
package kvhist
