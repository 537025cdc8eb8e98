// Package containers is Keel's container test tier: real keeld binaries in Docker
// containers (deploy/Dockerfile, deploy/compose-*.yml) on private networks, faulted with
// `docker network disconnect` and `docker kill`. Each scenario records a client history of
// puts, gets and compare-and-swaps, checks it for linearizability with porcupine, checks
// that every acknowledged write survives, and that members converge (HashKV). A watcher
// follows the workload's key prefix for the whole run, starting through the member the
// scenario faults and failing over to another member (from its last revision + 1) when the
// member it watches through is cut off or killed; its stream must be exactly the prefix's
// final history: ordered, gap-free, duplicate-free. Each scenario prints a one-line report in
// the process tier's (tests/chaos) wording.
//
// The tests run only with KEEL_CHAOS=1 (`make chaos` builds the static binary and the image
// and sets it); otherwise they skip, so `make test` stays fast and needs no Docker engine.
// KEEL_IMAGE names the image (default keel:chaos); KEEL_CHAOS_SEED fixes the workload seed.
package containers
