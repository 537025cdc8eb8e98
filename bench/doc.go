// Package bench is keelbench's load generator. It talks to etcd v3 endpoints through
// go.etcd.io/etcd/client/v3 only, so one run measures Keel and etcd with the same client.
//
// One generic runner (Run) drives every workload: Config.Clients workers share
// Config.Conns client connections round-robin and each calls Workload.Do until
// Config.Total units of work are done or Config.Duration is over, throttled to Config.Rate
// units per second over all workers when set. Workloads (New: put, range, txn-cas,
// txn-mixed, watch, watch-get, lease, k8s, load, compaction, lease-expiry, defrag) prepare their data
// in Setup, which is not measured, and time each request with Worker.Time, which records its
// latency into the worker's own Histogram or classifies its error by gRPC code and etcd error
// string (ClassifyError). After the workers stop, the runner merges the per-worker recorders
// into a Report, which renders as a table, a text histogram, JSON or CSV, and plots with
// gonum. Compare runs one workload against two endpoint sets in turn, A B A B …, and reports
// the ratio of each pair and their median, so that a comparison survives a noisy machine.
//
// Housekeeping workloads (compaction, lease-expiry, defrag) are Drivers: they end their run
// themselves and split it into phases (Session.StartPhase), "before" and "during" the
// store's housekeeping, each with its own window, latencies ("<phase>/<op>") and summary
// ("<phase>/*"); the housekeeping's own duration is a Timing, compared as a ratio of
// durations. With Config.PprofDir the runner also fetches a CPU profile of every endpoint
// serving /debug/pprof, mid-run or from the start of phase "during".
//
// Concurrency: a Worker belongs to its goroutine; Session and Report methods are safe to
// call from any goroutine once the value is built, except where noted. Background
// goroutines of a workload (watchers) are started with Session.Go and stop when Setup's
// context ends, which the runner does after the measured phase and any Drain.
//
// Caveats: latencies are measured on the client, so a loaded client machine inflates them
// for both sides of a comparison alike; percentiles are nearest-rank over log buckets,
// exact below 256 ns and within 1/128 above. Requests cut off by the end of a duration-bound
// run are neither timed nor counted as errors.
package bench
