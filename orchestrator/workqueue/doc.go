// Package workqueue is a small version of client-go's rate-limited work queue for
// controllers: keys (usually "namespace/name") are de-duplicated while queued, a key is
// never handed to two workers at once (Get marks it processing until Done, and an Add
// meanwhile re-queues it on Done), AddAfter delays a key, and AddRateLimited delays it by
// a per-key exponential back-off (5 ms doubling to 1000 s by default) until Forget.
//
// Time comes from an injectable Clock, so tests step a fake clock instead of sleeping. The
// queue starts no goroutine: a blocked Get waits on a timer for the next delayed key.
// Unlike client-go there is no global token bucket (add one with golang.org/x/time/rate in
// the caller if needed).
package workqueue
