package mvcc

import (
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestRevisionsAndVersions(t *testing.T) {
	tests := []struct {
		name    string
		txns    [][]op
		wantRev int64
		key     string
		want    string // kvString of the key at the current revision
	}{
		{name: "empty store", wantRev: 1, key: "a", want: ""},
		{name: "first write is revision 2", txns: [][]op{{put("a", "1")}},
			wantRev: 2, key: "a", want: "a=1@2/2/1"},
		{name: "put bumps mod and version", txns: [][]op{{put("a", "1")}, {put("a", "2")}, {put("a", "2")}},
			wantRev: 4, key: "a", want: "a=2@2/4/3"},
		{name: "one revision per txn", txns: [][]op{{put("a", "1"), put("b", "1"), put("c", "1")}},
			wantRev: 2, key: "b", want: "b=1@2/2/1"},
		{name: "delete then recreate resets", txns: [][]op{{put("a", "1")}, {put("a", "2")}, {delKey("a")}, {put("a", "3")}},
			wantRev: 5, key: "a", want: "a=3@5/5/1"},
		{name: "delete of nothing does not advance", txns: [][]op{{put("a", "1")}, {delKey("zz")}, {}},
			wantRev: 2, key: "a", want: "a=1@2/2/1"},
		{name: "deleted key is gone", txns: [][]op{{put("a", "1")}, {delKey("a")}},
			wantRev: 3, key: "a", want: ""},
		{name: "lease is kept", txns: [][]op{{putL("a", "1", 7)}},
			wantRev: 2, key: "a", want: "a=1@2/2/1L7"},
		{name: "delete and put in one txn", txns: [][]op{{put("a", "1")}, {delKey("a"), put("a", "2")}},
			wantRev: 3, key: "a", want: "a=2@3/3/1"},
		{name: "put and delete in one txn", txns: [][]op{{put("a", "1")}, {put("a", "2"), delKey("a")}},
			wantRev: 3, key: "a", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			history(s, tt.txns...)
			if got := s.Rev(); got != tt.wantRev {
				t.Fatalf("Rev() = %d, want %d", got, tt.wantRev)
			}
			if got := kvString(rangeAt(t, s, tt.key, "", RangeOptions{}).KVs); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if got, want := s.ConsistentIndex(), uint64(len(tt.txns)); got != want {
				t.Fatalf("ConsistentIndex() = %d, want %d", got, want)
			}
		})
	}
}

func TestRanges(t *testing.T) {
	s := newStore(t)
	history(s,
		[]op{put("a", "1"), put("ab", "2"), put("abc", "3"), put("b", "4"), put("c", "5")},
		[]op{put("\xff", "6"), put("\xff\xff", "7")},
		[]op{delKey("c")},
	)
	tests := []struct {
		name, key, end string
		ro             RangeOptions
		wantKeys       string
		wantCount      int
	}{
		{name: "single key", key: "ab", wantKeys: "ab", wantCount: 1},
		{name: "missing single key", key: "zz", wantKeys: "", wantCount: 0},
		{name: "deleted single key", key: "c", wantKeys: "", wantCount: 0},
		{name: "prefix", key: "a", end: "b", wantKeys: "a ab abc", wantCount: 3},
		{name: "interval", key: "ab", end: "b\x00", wantKeys: "ab abc b", wantCount: 3},
		{name: "from key", key: "b", end: "\x00", wantKeys: "b \xff \xff\xff", wantCount: 3},
		{name: "all keys", key: "\x00", end: "\x00", wantKeys: "a ab abc b \xff \xff\xff", wantCount: 6},
		{name: "end equal key", key: "b", end: "b", wantKeys: "", wantCount: 0},
		{name: "end below key", key: "b", end: "a", wantKeys: "", wantCount: 0},
		{name: "limit", key: "a", end: "\x00", ro: RangeOptions{Limit: 2}, wantKeys: "a ab", wantCount: 6},
		{name: "limit above count", key: "a", end: "b", ro: RangeOptions{Limit: 10}, wantKeys: "a ab abc", wantCount: 3},
		{name: "count only", key: "a", end: "\x00", ro: RangeOptions{CountOnly: true}, wantKeys: "", wantCount: 6},
		{name: "skip count stops at limit", key: "a", end: "\x00", ro: RangeOptions{Limit: 2, SkipCount: true}, wantKeys: "a ab", wantCount: 2},
		{name: "skip count past deleted", key: "b", end: "\x00", ro: RangeOptions{Limit: 2, SkipCount: true}, wantKeys: "b \xff", wantCount: 2},
		{name: "skip count without limit", key: "a", end: "b", ro: RangeOptions{SkipCount: true}, wantKeys: "a ab abc", wantCount: 3},
		{name: "historical includes deleted", key: "b", end: "d", ro: RangeOptions{Rev: 2}, wantKeys: "b c", wantCount: 2},
		{name: "historical before writes", key: "a", end: "\x00", ro: RangeOptions{Rev: 1}, wantKeys: "", wantCount: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := rangeAt(t, s, tt.key, tt.end, tt.ro)
			var keys []byte
			for i := range res.KVs {
				if i > 0 {
					keys = append(keys, ' ')
				}
				keys = append(keys, res.KVs[i].Key...)
			}
			if string(keys) != tt.wantKeys || res.Count != tt.wantCount {
				t.Fatalf("got %q count %d, want %q count %d", keys, res.Count, tt.wantKeys, tt.wantCount)
			}
			wantRev := tt.ro.Rev
			if wantRev == 0 {
				wantRev = s.Rev()
			}
			if res.Rev != wantRev {
				t.Fatalf("Rev = %d, want %d", res.Rev, wantRev)
			}
		})
	}
}

func TestHistoricalReads(t *testing.T) {
	s := newStore(t)
	history(s,
		[]op{put("a", "1")},                // 2
		[]op{put("a", "2")},                // 3
		[]op{delKey("a")},                  // 4
		[]op{put("a", "3")},                // 5
		[]op{put("b", "x"), put("a", "4")}, // 6
	)
	want := map[int64]string{
		1: "", 2: "a=1@2/2/1", 3: "a=2@2/3/2", 4: "", 5: "a=3@5/5/1", 6: "a=4@5/6/2",
	}
	for rev, w := range want {
		if got := kvString(rangeAt(t, s, "a", "", RangeOptions{Rev: rev}).KVs); got != w {
			t.Errorf("rev %d: got %q, want %q", rev, got, w)
		}
	}
	r := s.Read()
	defer r.End()
	_, err := r.Range([]byte("a"), nil, RangeOptions{Rev: 7})
	wantErr(t, err, ErrFutureRev)
}

func TestReadTxnPinsRevision(t *testing.T) {
	s := newStore(t)
	history(s, []op{put("a", "1")})
	r := s.Read()
	defer r.End()
	apply(s, 2, put("a", "2"), put("b", "1"))
	res, err := r.Range([]byte("a"), []byte("\x00"), RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := kvString(res.KVs); got != "a=1@2/2/1" || r.Rev() != 2 {
		t.Fatalf("got %q at %d, want the state at 2", got, r.Rev())
	}
	if got := kvString(rangeAt(t, s, "a", "\x00", RangeOptions{}).KVs); got != "a=2@2/3/2 b=1@3/3/1" {
		t.Fatalf("new read got %q", got)
	}
}

func TestWriteTxn(t *testing.T) {
	s := newStore(t)
	history(s, []op{put("a", "1"), put("b", "1")}) // rev 2

	w := s.Write(2)
	if w.Rev() != 2 {
		t.Fatalf("Rev() = %d, want 2", w.Rev())
	}
	if prev := w.Put([]byte("a"), []byte("2"), 0); prev == nil || string(prev.Value) != "1" {
		t.Fatalf("Put prev = %v, want a=1", prev)
	}
	if prev := w.Put([]byte("c"), []byte("1"), 0); prev != nil {
		t.Fatalf("Put prev of a new key = %v, want nil", prev)
	}
	// Reads inside the transaction see its writes; readers outside do not.
	res, err := w.Range([]byte("a"), []byte("\x00"), RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := kvString(res.KVs); got != "a=2@2/3/2 b=1@2/2/1 c=1@3/3/1" || res.Rev != 3 {
		t.Fatalf("txn range got %q at %d", got, res.Rev)
	}
	if got := kvString(rangeAt(t, s, "a", "\x00", RangeOptions{}).KVs); got != "a=1@2/2/1 b=1@2/2/1" {
		t.Fatalf("outside reader got %q", got)
	}
	if s.Rev() != 2 {
		t.Fatalf("store Rev() during txn = %d, want 2", s.Rev())
	}
	prevs := w.DeleteRange([]byte("b"), []byte("d"))
	if got := kvString(prevs); got != "b=1@2/2/1 c=1@3/3/1" {
		t.Fatalf("DeleteRange prevs = %q", got)
	}
	if len(w.Changes()) != 4 {
		t.Fatalf("Changes() has %d events, want 4", len(w.Changes()))
	}
	evs := w.End()
	wantEvents := []struct {
		typ mvccpb.Event_EventType
		kv  string
	}{
		{mvccpb.Event_PUT, "a=2@2/3/2"},
		{mvccpb.Event_PUT, "c=1@3/3/1"},
		{mvccpb.Event_DELETE, "b=@0/3/0"},
		{mvccpb.Event_DELETE, "c=@0/3/0"},
	}
	if len(evs) != len(wantEvents) {
		t.Fatalf("End returned %d events, want %d", len(evs), len(wantEvents))
	}
	for i, we := range wantEvents {
		got := kvString([]mvccpb.KeyValue{{Key: evs[i].Kv.Key, Value: evs[i].Kv.Value,
			CreateRevision: evs[i].Kv.CreateRevision, ModRevision: evs[i].Kv.ModRevision, Version: evs[i].Kv.Version}})
		if evs[i].Type != we.typ || got != we.kv {
			t.Errorf("event %d = %v %q, want %v %q", i, evs[i].Type, got, we.typ, we.kv)
		}
	}
	if s.Rev() != 3 || s.ConsistentIndex() != 2 {
		t.Fatalf("after End Rev %d index %d, want 3 and 2", s.Rev(), s.ConsistentIndex())
	}
	if got := kvString(rangeAt(t, s, "a", "\x00", RangeOptions{}).KVs); got != "a=2@2/3/2" {
		t.Fatalf("after End got %q", got)
	}
}

func TestWriteTxnNoChange(t *testing.T) {
	tests := []struct {
		name      string
		index     uint64
		ops       []op
		wantIndex uint64
	}{
		{name: "empty txn records index", index: 5, wantIndex: 5},
		{name: "delete of nothing records index", index: 6, ops: []op{delKey("nope")}, wantIndex: 6},
		{name: "index 0 leaves index", index: 0, wantIndex: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			apply(s, 1, put("a", "1"))
			if evs := apply(s, tt.index, tt.ops...); len(evs) != 0 {
				t.Fatalf("got %d events, want none", len(evs))
			}
			if s.Rev() != 2 || s.ConsistentIndex() != tt.wantIndex {
				t.Fatalf("Rev %d index %d, want 2 and %d", s.Rev(), s.ConsistentIndex(), tt.wantIndex)
			}
			w := s.Write(0)
			defer w.End()
			_, err := w.Range([]byte("a"), nil, RangeOptions{Rev: 3})
			wantErr(t, err, ErrFutureRev)
		})
	}
}

func TestClosedStore(t *testing.T) {
	s := newStore(t)
	apply(s, 1, put("a", "1"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	r := s.Read()
	_, err := r.Range([]byte("a"), nil, RangeOptions{})
	wantErr(t, err, ErrClosed)
	wantErr(t, s.Commit(), ErrClosed)
	wantErr(t, s.Compact(2, 2), ErrClosed)
	_, _, _, err = s.HashKV(0)
	wantErr(t, err, ErrClosed)
	_, err = s.Snapshot(&discard{})
	wantErr(t, err, ErrClosed)
	if size, _ := s.Size(); size != 0 {
		t.Fatalf("Size of a closed store = %d", size)
	}
	if w := s.Write(3); w.Put([]byte("b"), nil, 0) != nil || w.End() != nil {
		t.Fatal("write on a closed store did something")
	}
	if !errors.Is(s.ForEachAux([]byte("x"), nil), ErrClosed) {
		t.Fatal("ForEachAux on a closed store did not return ErrClosed")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
