package informer

import (
	"fmt"
	"slices"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// TestDecodeCache checks the shared decode cache's look-ups and its bound: the oldest
// version is evicted first, a version put twice keeps its first object, and the same key
// and revision with other bytes (another cluster's) is not a hit.
func TestDecodeCache(t *testing.T) {
	c := newDecodeCache(3)
	val := func(i int) []byte { return []byte(fmt.Sprint("v", i)) }
	for i := range 5 {
		c.put(decodeKey{key: fmt.Sprint("k", i), rev: int64(i)}, val(i), i)
	}
	for i := range 5 {
		v, ok := c.get(decodeKey{key: fmt.Sprint("k", i), rev: int64(i)}, val(i))
		if want := i >= 2; ok != want || ok && v != i {
			t.Errorf("get k%d = %v, %v; want present %v", i, v, ok, want)
		}
	}
	if _, ok := c.get(decodeKey{key: "k4", rev: 3}, val(4)); ok {
		t.Error("another revision of k4 was found")
	}
	if _, ok := c.get(decodeKey{key: "k4", rev: 4}, []byte("other cluster")); ok {
		t.Error("k4 at revision 4 with other bytes was found")
	}
	if first := c.put(decodeKey{key: "k4", rev: 4}, val(4), "again"); first != 4 {
		t.Errorf("second put of k4 returned %v, want the first object", first)
	}
	if v, _ := c.get(decodeKey{key: "k4", rev: 4}, val(4)); v != 4 {
		t.Errorf("k4 = %v after a second put, want the first object", v)
	}
	if got := c.put(decodeKey{key: "k4", rev: 4}, []byte("other cluster"), "other"); got != "other" {
		t.Errorf("put of other bytes returned %v, want its own object", got)
	}
	if len(c.m) != 3 {
		t.Errorf("%d entries, want 3", len(c.m))
	}
}

// TestIndexGroups checks the values found by prefix, their sizes and objects.
func TestIndexGroups(t *testing.T) {
	c := newCache[*api.Pod]()
	c.indexers["g"] = func(p *api.Pod) []string { return []string{p.Labels["g"]} }
	c.indices["g"] = map[string]map[string]*api.Pod{}
	for i, g := range []string{"a\x00x", "a\x00y", "a\x00x", "ab\x00x", "b\x00x"} {
		c.put(&api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: fmt.Sprint("p", i), Labels: map[string]string{"g": g}}})
	}
	got := map[string][]string{}
	for _, g := range c.IndexGroups("g", "a\x00", true) {
		var names []string
		for _, p := range g.Objects {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		if g.Size != len(names) || g.Any.Labels["g"] != g.Value {
			t.Errorf("group %q: size %d, any %v, objects %v", g.Value, g.Size, g.Any.Name, names)
		}
		got[g.Value] = names
	}
	if want := map[string][]string{"a\x00x": {"p0", "p2"}, "a\x00y": {"p1"}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("groups %v, want %v", got, want)
	}
	c.remove("ns/p1")
	if g := c.IndexGroups("g", "a\x00", false); len(g) != 1 || g[0].Size != 2 || g[0].Objects != nil {
		t.Errorf("after removing a/y's only pod: %+v", g)
	}
}
