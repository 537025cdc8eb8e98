package informer

import "sync"

// The informers of one process that watch the same resource (a controller-manager's
// controllers, or `orch bench` with the agent, scheduler and controllers in one process)
// each receive every change. Decoding each stored version once and handing the same object
// to every informer saves the JSON decode of all but the first: at 5,000 nodes and 30,000
// pods the four pod informers of the bench process spent 8 of its 44 s of CPU decoding.
// Cached objects are read-only for everyone (Cache), so sharing them is safe; stores that
// transform values (encryption at rest) do not share.

// decodeKey is one stored version: the store key and its mod_revision.
type decodeKey struct {
	key string
	rev int64
}

// decodeCache holds the most recently decoded versions, at most len(ring).
type decodeCache struct {
	mu   sync.Mutex
	m    map[decodeKey]any
	ring []decodeKey // insertion order; the oldest entry is evicted first
	next int
}

// sharedDecodeSize bounds the versions kept: enough for an informer seconds behind the
// first at thousands of changes per second, and for a few tens of MB of superseded objects.
const sharedDecodeSize = 16384

var sharedDecodes = newDecodeCache(sharedDecodeSize)

func newDecodeCache(size int) *decodeCache {
	return &decodeCache{m: make(map[decodeKey]any, size), ring: make([]decodeKey, size)}
}

func (c *decodeCache) get(k decodeKey) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

// put stores v for k unless another informer stored k first, and returns the stored one,
// so that informers decoding the same version at once still hand out one object.
func (c *decodeCache) put(k decodeKey, v any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if first, ok := c.m[k]; ok {
		return first
	}
	if old := c.ring[c.next]; old.key != "" {
		delete(c.m, old)
	}
	c.ring[c.next] = k
	c.next = (c.next + 1) % len(c.ring)
	c.m[k] = v
	return v
}
