// Package watch delivers committed mvcc events to watchers, etcd-style.
//
// A Hub is fed every committed revision by the raft FSM (Notify) and serves many Streams; a
// Stream carries many watchers and one ordered outbox that the gRPC layer drains. Guarantees:
//   - Each watcher's events are ordered by revision (and by position inside a revision), with
//     no gaps and no duplicates, from its start revision until it is canceled. All events of
//     one revision for a watcher travel in one Response.
//   - The created response of a watcher precedes its events; a progress response with
//     revision R follows every event with revision <= R already queued on its stream.
//   - Notify never blocks: a watcher whose stream outbox is full is moved to the unsynced
//     group and caught up later from the store's history (Run's loop), outside the hub lock
//     except for the final, small step that re-joins it to the live feed.
//   - A watcher whose next revision has been compacted is canceled with the compaction
//     revision.
//
// Locking: Hub.mu guards the watcher groups and the notified revision and is taken before a
// Stream's outbox lock; neither is held across store reads.
package watch
