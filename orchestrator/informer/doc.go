// Package informer keeps a local, indexed copy of one resource in step with the store, the
// way client-go's reflector and indexer do, over clientv3:
//
//  1. list every page at one revision (registry.Store.List pins later pages to the first
//     page's revision) and replace the cache, emitting adds, updates and deletes for the
//     differences (so objects deleted while the informer was not watching are reported);
//  2. watch the resource's prefix from that revision + 1 with prevKV and progress
//     notifications, applying each event to the cache and then to the handlers;
//  3. when the watch ends, watch again from the last revision seen; when that revision has
//     been compacted, go back to 1 (relist).
//
// The cache is a Cache: safe for concurrent readers, indexed by namespace and by any
// IndexFunc added before Run (e.g. pods by spec.nodeName). Handlers run sequentially on
// Run's goroutine. Run blocks until its context ends; it starts no goroutine that outlives
// it.
//
// Not here yet: periodic resync, a shared informer factory, bookmarks beyond progress
// notifications.
package informer
