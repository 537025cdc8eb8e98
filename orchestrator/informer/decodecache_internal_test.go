package informer

import (
	"fmt"
	"testing"
)

// TestDecodeCache checks the shared decode cache's look-ups and its bound: the oldest
// version is evicted first, and a version put twice keeps its first object.
func TestDecodeCache(t *testing.T) {
	c := newDecodeCache(3)
	for i := range 5 {
		c.put(decodeKey{key: fmt.Sprint("k", i), rev: int64(i)}, i)
	}
	for i := range 5 {
		v, ok := c.get(decodeKey{key: fmt.Sprint("k", i), rev: int64(i)})
		if want := i >= 2; ok != want || ok && v != i {
			t.Errorf("get k%d = %v, %v; want present %v", i, v, ok, want)
		}
	}
	if _, ok := c.get(decodeKey{key: "k4", rev: 3}); ok {
		t.Error("another revision of k4 was found")
	}
	c.put(decodeKey{key: "k4", rev: 4}, "again")
	if v, _ := c.get(decodeKey{key: "k4", rev: 4}); v != 4 {
		t.Errorf("k4 = %v after a second put, want the first object", v)
	}
	if len(c.m) != 3 {
		t.Errorf("%d entries, want 3", len(c.m))
	}
}
