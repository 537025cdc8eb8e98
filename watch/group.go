package watch

// group is a set of watchers indexed by what they watch, so that an event is matched only
// against the watchers that can want it: single-key watchers are found with one map lookup
// by the event's key, and range watchers (prefixes, intervals, from-key) are grouped by their
// range, so only distinct ranges are scanned. With 10,000 watchers on single keys and a few
// prefixes, a revision costs a few lookups and a short scan instead of a scan of every
// watcher. Not safe for concurrent use (the Hub's mutex guards it).
type group struct {
	all    map[*watcher]struct{}
	keys   map[string]map[*watcher]struct{}
	ranges map[span]map[*watcher]struct{}
}

// span is a watched range [key, end).
type span struct{ key, end string }

func newGroup() *group {
	return &group{all: map[*watcher]struct{}{}, keys: map[string]map[*watcher]struct{}{},
		ranges: map[span]map[*watcher]struct{}{}}
}

// bucket returns the set w belongs in and its index key, creating the set if asked.
func (g *group) bucket(w *watcher, create bool) (set map[*watcher]struct{}, drop func()) {
	if len(w.end) == 0 {
		k := string(w.key)
		set = g.keys[k]
		if set == nil && create {
			set = map[*watcher]struct{}{}
			g.keys[k] = set
		}
		return set, func() { delete(g.keys, k) }
	}
	k := span{string(w.key), string(w.end)}
	set = g.ranges[k]
	if set == nil && create {
		set = map[*watcher]struct{}{}
		g.ranges[k] = set
	}
	return set, func() { delete(g.ranges, k) }
}

func (g *group) add(w *watcher) {
	if _, ok := g.all[w]; ok {
		return
	}
	g.all[w] = struct{}{}
	set, _ := g.bucket(w, true)
	set[w] = struct{}{}
}

func (g *group) remove(w *watcher) {
	if _, ok := g.all[w]; !ok {
		return
	}
	delete(g.all, w)
	set, drop := g.bucket(w, false)
	delete(set, w)
	if len(set) == 0 {
		drop()
	}
}

func (g *group) contains(w *watcher) bool {
	_, ok := g.all[w]
	return ok
}

func (g *group) len() int { return len(g.all) }

// match calls f for every watcher whose range holds key. f may remove the watcher it is
// given from the group.
func (g *group) match(key []byte, f func(*watcher)) {
	for w := range g.keys[string(key)] {
		f(w)
	}
	for r, set := range g.ranges {
		if inRange(key, []byte(r.key), []byte(r.end)) {
			for w := range set {
				f(w)
			}
		}
	}
}
