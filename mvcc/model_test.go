package mvcc

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var (
	modelSeed  = flag.Uint64("seed", 0, "seed for the randomized tests (0 = time based)")
	modelSteps = flag.Int("model-steps", 4000, "steps of TestModel")
)

// mkv is the model's view of one live key.
type mkv struct {
	val                 string
	create, mod, ver, l int64
}

// model is the reference: the whole key space at every revision.
type model struct {
	states     []map[string]mkv // states[rev]; states[0] unused
	compactRev int64
}

func newModel() *model { return &model{states: []map[string]mkv{nil, {}}} }

func (m *model) rev() int64 { return int64(len(m.states) - 1) }

// inRange reports whether k is in the range described by key and end (ReadView encoding).
func inRange(k, key, end string, single bool) bool {
	switch {
	case single:
		return k == key
	case end == "\x00":
		return k >= key
	default:
		return k >= key && k < end
	}
}

// apply runs a transaction on the model and returns the expected Put prevs (as kvString
// values, "" for none) and DeleteRange prev counts.
func (m *model) apply(ops []op) {
	next := m.rev() + 1
	st := maps.Clone(m.states[m.rev()])
	changed := false
	for _, o := range ops {
		if o.del {
			for k := range st {
				if inRange(k, o.key, o.end, o.end == "") {
					delete(st, k)
					changed = true
				}
			}
			continue
		}
		kv := mkv{val: o.val, create: next, mod: next, ver: 1, l: o.lease}
		if p, ok := st[o.key]; ok {
			kv.create, kv.ver = p.create, p.ver+1
		}
		st[o.key] = kv
		changed = true
	}
	if changed {
		m.states = append(m.states, st)
	}
}

// expect renders the range as kvString would, with the count.
func (m *model) expect(key, end string, rev, limit int64) (string, int) {
	st := m.states[rev]
	var keys []string
	for k := range st {
		if inRange(k, key, end, end == "") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	count := len(keys)
	if limit > 0 && int64(len(keys)) > limit {
		keys = keys[:limit]
	}
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += " "
		}
		kv := st[k]
		out += fmt.Sprintf("%s=%s@%d/%d/%d", k, kv.val, kv.create, kv.mod, kv.ver)
		if kv.l != 0 {
			out += fmt.Sprintf("L%d", kv.l)
		}
	}
	return out, count
}

// entry is one raft log entry of the model test: a transaction or a compaction.
type entry struct {
	ops     []op
	compact int64
}

func applyEntry(s *Store, index uint64, e entry) error {
	if e.compact != 0 {
		return s.Compact(index, e.compact)
	}
	apply(s, index, e.ops...)
	return nil
}

// testSeed returns the -seed flag, or a time-based seed, and logs it.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *modelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", seed, seed)
	return seed
}

func TestModel(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	dir := t.TempDir()
	// s compacts in tiny steps, so its compactions interleave with the writes and reads;
	// peer applies the same log with the default settings and different commit points.
	small := Config{CompactionChunkKeys: 3, CompactionBatchRevisions: 4, CompactionBatchPause: -1}
	openS := func() *Store { return openWith(t, filepath.Join(dir, "a.db"), small, hooks{}) }
	s := openS()
	peer := openAt(t, filepath.Join(dir, "b.db"))
	m := newModel()
	var log []entry

	key := func() string { return fmt.Sprintf("k%02d", rng.IntN(16)) }
	for step := 0; step < *modelSteps; step++ {
		switch p := rng.IntN(100); {
		case p < 45:
			e := entry{ops: randomOps(rng, key)}
			log = append(log, e)
			m.apply(e.ops)
			_ = applyEntry(s, uint64(len(log)), e)
			_ = applyEntry(peer, uint64(len(log)), e)
		case p < 80:
			checkModelRange(t, rng, s, m, key)
		case p < 84:
			at := m.compactRev + 1 + rng.Int64N(m.rev()-m.compactRev+1) // may be in the future
			e := entry{compact: at}
			log = append(log, e)
			want := error(nil)
			if at > m.rev() {
				want = ErrFutureRev
			} else {
				m.compactRev = at
			}
			wantErr(t, applyEntry(s, uint64(len(log)), e), want)
			wantErr(t, applyEntry(peer, uint64(len(log)), e), want)
		case p < 87:
			if err := s.Commit(); err != nil {
				t.Fatal(err)
			}
		case p < 88:
			checkFinishedCompaction(t, s, peer, m)
		case p < 91:
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openS()
		case p < 94:
			s.crash()
			s = openS()
			for i := s.ConsistentIndex(); i < uint64(len(log)); i++ {
				_ = applyEntry(s, i+1, log[i])
			}
		default:
			checkSameHash(t, s, peer, m)
		}
		if s.Rev() != m.rev() || s.CompactRev() != m.compactRev || s.ConsistentIndex() != uint64(len(log)) {
			t.Fatalf("step %d: rev/compact/index %d/%d/%d, want %d/%d/%d", step, s.Rev(), s.CompactRev(),
				s.ConsistentIndex(), m.rev(), m.compactRev, len(log))
		}
	}
	checkSameHash(t, s, peer, m)
	checkFinishedCompaction(t, s, peer, m)
}

func randomOps(rng *rand.Rand, key func() string) []op {
	ops := make([]op, 1+rng.IntN(3))
	for i := range ops {
		switch p := rng.IntN(10); {
		case p < 6:
			ops[i] = putL(key(), fmt.Sprint("v", rng.IntN(1000)), rng.Int64N(3))
		case p < 8:
			ops[i] = delKey(key())
		case p < 9:
			a, b := key(), key()
			ops[i] = del(min(a, b), max(a, b))
		default:
			ops[i] = del(key(), "\x00")
		}
	}
	return ops
}

func checkModelRange(t *testing.T, rng *rand.Rand, s *Store, m *model, key func() string) {
	t.Helper()
	k, end := key(), ""
	switch rng.IntN(4) {
	case 1:
		end = key()
	case 2:
		end = "\x00"
	}
	ro := RangeOptions{Limit: rng.Int64N(4)}
	if rng.IntN(2) == 0 {
		ro.Rev = max(m.compactRev-1, 1) + rng.Int64N(m.rev()-max(m.compactRev-1, 1)+1)
	}
	r := s.Read()
	defer r.End()
	res, err := r.Range([]byte(k), endBytes(end), ro)
	if ro.Rev != 0 && ro.Rev < m.compactRev {
		wantErr(t, err, ErrCompacted)
		return
	}
	if err != nil {
		t.Fatalf("range %q-%q %+v: %v", k, end, ro, err)
	}
	at := ro.Rev
	if at == 0 {
		at = m.rev()
	}
	want, count := m.expect(k, end, at, ro.Limit)
	if got := kvString(res.KVs); got != want || res.Count != count {
		t.Fatalf("range %q-%q %+v:\n got  %q (%d)\n want %q (%d)", k, end, ro, got, res.Count, want, count)
	}
}

func checkSameHash(t *testing.T, a, b *Store, m *model) {
	t.Helper()
	if err := b.Commit(); err != nil { // a and b now differ in what is on disk
		t.Fatal(err)
	}
	for _, rev := range []int64{0, m.compactRev, (m.compactRev + m.rev()) / 2} {
		ha, _, _, err := a.HashKV(rev)
		if err != nil {
			t.Fatalf("HashKV(%d): %v", rev, err)
		}
		hb, _, _, err := b.HashKV(rev)
		if err != nil {
			t.Fatalf("peer HashKV(%d): %v", rev, err)
		}
		if ha != hb {
			t.Fatalf("HashKV(%d): %x != peer %x", rev, ha, hb)
		}
	}
	// Catching up from the compaction revision does not depend on the compactors' progress.
	ea, err := a.Events(m.compactRev, 0, 0)
	if err != nil {
		t.Fatalf("Events(%d): %v", m.compactRev, err)
	}
	eb, err := b.Events(m.compactRev, 0, 0)
	if err != nil {
		t.Fatalf("peer Events(%d): %v", m.compactRev, err)
	}
	if ga, gb := eventString(ea), eventString(eb); ga != gb {
		t.Fatalf("Events(%d):\n %s\n peer %s", m.compactRev, ga, gb)
	}
}

// checkFinishedCompaction waits for both stores to finish the model's compaction and
// compares what their backends hold.
func checkFinishedCompaction(t *testing.T, a, b *Store, m *model) {
	t.Helper()
	if m.compactRev == 0 {
		return
	}
	for _, s := range []*Store{a, b} {
		waitCompacted(t, s, m.compactRev)
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if ga, gb := backendRevs(t, a), backendRevs(t, b); !slices.Equal(ga, gb) {
		t.Fatalf("after the compaction at %d the backends differ: %s", m.compactRev, firstDiff(ga, gb))
	}
}
