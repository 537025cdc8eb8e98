// Package failpoint names the places in Keel's code where a test may inject a fault, and
// injects them through etcd's gofail runtime (go.etcd.io/gofail/runtime) when keeld is built
// with the build tag `failpoints`.
//
// Without the tag (every release and the default `make build`), [Inject] is an empty function
// the compiler inlines away, [Enabled] is false, and gofail is not linked: internal/archtest
// checks that `go list -deps ./cmd/keeld` does not contain it.
//
// With the tag (`make build-failpoints`), every name in [All] is registered with gofail at
// init, so a failpoint can be armed before the code reaches it, as etcd's are:
//
//   - GOFAIL_FAILPOINTS='name=term;name2=term' in the environment arms them at start;
//   - GOFAIL_HTTP=127.0.0.1:port serves gofail's HTTP endpoint: PUT /name with a term as the
//     body arms, DELETE /name disarms, GET / lists every failpoint and its term, GET /name
//     shows one, GET /name/count the times it fired.
//
// Terms are gofail's: `panic`, `sleep(100)` (milliseconds) or `sleep("1s")`, `print`, `off`,
// with modifiers such as `1*panic` (only the first evaluation) or `50.0%sleep(10)`, chained with
// `->`. Arming a name that is not registered fails (HTTP 400, [Arm] returns an error), so a
// renamed failpoint breaks the tests that arm it.
//
// Concurrency: [Inject] is safe from any goroutine; gofail serialises evaluations of one
// failpoint (a sleeping failpoint blocks the others that reach the same name).
//
// Each failpoint and where it sits is listed in docs/RELIABILITY.md "Failpoints". Hooks are one
// line, `failpoint.Inject(failpoint.RaftBeforeSave)`, so they read as markers.
//
// Not here: failpoints that return values into the code (gofail's `return(...)`); every
// failpoint here only sleeps, panics or prints.
package failpoint
