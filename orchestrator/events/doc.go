// Package events records Kubernetes-style Events (v1 Event objects) about API objects, the
// way client-go's record.EventRecorder and the kube-apiserver's Event TTL do together.
//
// A Recorder's Event and Eventf never block and never fail: they put the event in a buffered
// channel (Config.BufferSize) and return; when the buffer is full the event is dropped and a
// warning logged. One writer goroutine, run by Run(ctx), takes events from the channel and
// writes them to the store. Nothing is written before Run starts; Run returns when ctx ends,
// dropping what is still buffered (events are best effort). A nil *Recorder is valid and
// records nothing, so components can take an optional recorder.
//
// Each event is written in the involved object's namespace ("default" for cluster-scoped
// objects such as Nodes), named "<object name>.<unix nanoseconds in hex>", with
// involvedObject (kind, apiVersion, namespace, name, uid, resourceVersion), source
// (Config.Component and Host), firstTimestamp, lastTimestamp, count and type (Normal or
// Warning).
//
// Aggregation, a simplified client-go EventCorrelator: an event with the same involved
// object uid, reason, message and type as one this Recorder wrote less than
// AggregationWindow (10 min) before bumps count and lastTimestamp of that Event (a
// compare-and-swap update) instead of creating another. The correlation state is in memory:
// a new Recorder (a restart) starts new Events. Not here: client-go's grouping of similar
// messages.
//
// Spam filter, as client-go's EventSourceObjectSpamFilter: before an event is queued, a token
// bucket per involved object (its uid) allows a burst of Config.SpamBurst (25) and then one
// event per Config.SpamInterval (5 min); events over the limit are dropped silently and
// counted (Filtered), so a controller creating thousands of pods for one owner writes a
// handful of Events.
//
// TTL: every write attaches the Event's key to a store lease, so Events expire from the store
// by themselves TTL after they were last written (kube-apiserver --event-ttl, default 1 h).
// As the apiserver's lease manager does, one lease is shared by every event written within
// a LeaseReuse window (default 5 % of TTL, at most 1 min): it is granted for TTL+LeaseReuse,
// rounded up to whole seconds, so no Event lives less than TTL.
//
// Failed writes are retried a few times with back-off (transient errors such as a leader
// change), then logged and given up.
//
// Concurrency: Event and Eventf are safe for concurrent use; the writer is the only
// goroutine touching the store, the lease and the correlation state.
package events
