package informer

import (
	"sort"
	"strings"
	"sync"

	"github.com/keeldb/keel/orchestrator/api"
)

// IndexFunc returns the index values of an object (e.g. a pod's node name); none means the
// object is not in the index.
type IndexFunc[P api.Object] func(obj P) []string

// NamespaceIndex is the name of the index every Cache keeps by metadata.namespace.
const NamespaceIndex = "namespace"

// Cache is a thread-safe local copy of a resource's objects, keyed by "namespace/name"
// ("name" when cluster-scoped), with secondary indexes. Objects handed out are shared with
// the cache and with event handlers: treat them as read-only (api.DeepCopy before mutating).
type Cache[P api.Object] struct {
	// mu guards items and indices; indexers is fixed before the informer runs.
	mu       sync.RWMutex
	items    map[string]P
	indices  map[string]map[string]map[string]P // index name → value → key → object
	indexers map[string]IndexFunc[P]
}

func newCache[P api.Object]() *Cache[P] {
	c := &Cache[P]{items: map[string]P{}, indices: map[string]map[string]map[string]P{}, indexers: map[string]IndexFunc[P]{}}
	c.indexers[NamespaceIndex] = func(obj P) []string { return []string{obj.Meta().Namespace} }
	c.indices[NamespaceIndex] = map[string]map[string]P{}
	return c
}

// Get returns the object with key, if cached.
func (c *Cache[P]) Get(key string) (P, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	obj, ok := c.items[key]
	return obj, ok
}

// List returns every cached object, sorted by key.
func (c *Cache[P]) List() []P {
	c.mu.RLock()
	defer c.mu.RUnlock()
	keys := make([]string, 0, len(c.items))
	for k := range c.items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]P, len(keys))
	for i, k := range keys {
		out[i] = c.items[k]
	}
	return out
}

// Len returns the number of cached objects.
func (c *Cache[P]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}

// ByIndex returns the objects whose index function returned value, sorted by key. An
// unknown index returns nothing.
func (c *Cache[P]) ByIndex(index, value string) []P {
	c.mu.RLock()
	defer c.mu.RUnlock()
	set := c.indices[index][value]
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]P, len(keys))
	for i, k := range keys {
		out[i] = set[k]
	}
	return out
}

// ByIndexUnsorted is ByIndex without the sort, for callers that visit every object
// regardless of order (a ReplicaSet's sync over its 150,000 pods spent more in sorting
// their keys than in reading them).
func (c *Cache[P]) ByIndexUnsorted(index, value string) []P {
	c.mu.RLock()
	defer c.mu.RUnlock()
	set := c.indices[index][value]
	out := make([]P, 0, len(set))
	for _, obj := range set {
		out = append(out, obj)
	}
	return out
}

// IndexGroup is one value of an index with its objects: Size of them, Any one of them,
// and with IndexGroups' all, every one in Objects (unsorted).
type IndexGroup[P api.Object] struct {
	Value   string
	Size    int
	Any     P
	Objects []P
}

// IndexGroups returns the values of an index that start with prefix, with their sizes and
// one object each (every object with all), read under one lock: an object moving between
// two of the values meanwhile is counted once. It reads every value of the index: for
// indexes of few values per object.
func (c *Cache[P]) IndexGroups(index, prefix string, all bool) []IndexGroup[P] {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []IndexGroup[P]
	for v, set := range c.indices[index] {
		if len(set) == 0 || !strings.HasPrefix(v, prefix) {
			continue
		}
		g := IndexGroup[P]{Value: v, Size: len(set)}
		if all {
			g.Objects = make([]P, 0, len(set))
		}
		for _, obj := range set {
			g.Any = obj
			if !all {
				break
			}
			g.Objects = append(g.Objects, obj)
		}
		out = append(out, g)
	}
	return out
}

// IndexValues returns the values present in an index, sorted.
func (c *Cache[P]) IndexValues(index string) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for v, set := range c.indices[index] {
		if len(set) > 0 {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// put stores obj and returns the previous object under its key.
func (c *Cache[P]) put(obj P) (old P, existed bool) {
	key := api.KeyFunc(obj)
	c.mu.Lock()
	defer c.mu.Unlock()
	old, existed = c.items[key]
	if existed {
		c.unindexLocked(key, old)
	}
	c.items[key] = obj
	c.indexLocked(key, obj)
	return old, existed
}

// remove deletes key and returns the object it held.
func (c *Cache[P]) remove(key string) (old P, existed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, existed = c.items[key]
	if existed {
		c.unindexLocked(key, old)
		delete(c.items, key)
	}
	return old, existed
}

// keys returns every cached key.
func (c *Cache[P]) keys() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.items))
	for k := range c.items {
		out = append(out, k)
	}
	return out
}

// indexLocked requires c.mu held for writing.
func (c *Cache[P]) indexLocked(key string, obj P) {
	for name, fn := range c.indexers {
		idx := c.indices[name]
		for _, v := range fn(obj) {
			set := idx[v]
			if set == nil {
				set = map[string]P{}
				idx[v] = set
			}
			set[key] = obj
		}
	}
}

// unindexLocked requires c.mu held for writing.
func (c *Cache[P]) unindexLocked(key string, obj P) {
	for name, fn := range c.indexers {
		idx := c.indices[name]
		for _, v := range fn(obj) {
			delete(idx[v], key)
			if len(idx[v]) == 0 {
				delete(idx, v)
			}
		}
	}
}
