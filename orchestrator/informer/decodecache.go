package informer

import (
	"bytes"
	"sync"
)

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

// decoded is a cached version: the stored bytes and the object decoded from them. A hit
// needs the same bytes too: informers of different clusters (tests run many in one process)
// see the same keys at the same revisions with other contents.
type decoded struct {
	value []byte
	obj   any
}

// decodeCache holds the most recently decoded versions, at most len(ring).
type decodeCache struct {
	mu   sync.Mutex
	m    map[decodeKey]decoded
	ring []decodeKey // insertion order; the oldest entry is evicted first
	next int
}

// sharedDecodeSize bounds the versions kept: enough for an informer seconds behind the
// first at thousands of changes per second, and for a few tens of MB of superseded objects.
const sharedDecodeSize = 16384

var sharedDecodes = newDecodeCache(sharedDecodeSize)

func newDecodeCache(size int) *decodeCache {
	return &decodeCache{m: make(map[decodeKey]decoded, size), ring: make([]decodeKey, size)}
}

// get returns the object decoded from value at k, if cached.
func (c *decodeCache) get(k decodeKey, value []byte) (any, bool) {
	c.mu.Lock()
	d, ok := c.m[k]
	c.mu.Unlock()
	if !ok || !bytes.Equal(d.value, value) {
		return nil, false
	}
	return d.obj, true
}

// put stores v for k unless another informer stored k first, and returns the stored one,
// so that informers decoding the same version at once still hand out one object.
func (c *decodeCache) put(k decodeKey, value []byte, v any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if first, ok := c.m[k]; ok {
		if bytes.Equal(first.value, value) {
			return first.obj
		}
		c.m[k] = decoded{value: value, obj: v} // another cluster's version: the newer wins
		return v
	}
	if old := c.ring[c.next]; old.key != "" {
		delete(c.m, old)
	}
	c.ring[c.next] = k
	c.next = (c.next + 1) % len(c.ring)
	c.m[k] = decoded{value: value, obj: v}
	return v
}
