package watchcheck_test

import (
	"strings"
	"testing"

	"github.com/keeldb/keel/internal/watchcheck"
)

// CheckGuarantees on hand-made streams: it accepts the right one and names the guarantee
// each broken one violates.
func TestCheckGuarantees(t *testing.T) {
	hist := []watchcheck.Event{
		{Rev: 2, Key: "a", Value: "1"},
		{Rev: 3, Key: "a", Value: "2"},
		{Rev: 4, Key: "a", Delete: true},
		{Rev: 4, Key: "b", Delete: true}, // never existed: not delivered by etcd, but harmless here
		{Rev: 5, Key: "a", Value: "3"},
	}
	ev := func(i int) watchcheck.WatchEvent {
		e := hist[i]
		we := watchcheck.WatchEvent{Event: e}
		switch i {
		case 0, 4:
			we.IsCreate, we.CreateRev, we.Version = true, e.Rev, 1
		case 1:
			we.CreateRev, we.Version = 2, 2
		}
		if i == 1 || i == 2 {
			p := hist[i-1]
			if i == 2 {
				p = hist[1]
			}
			we.Prev = &p
		}
		return we
	}
	resp := func(rev int64, idx ...int) watchcheck.Response {
		r := watchcheck.Response{Rev: rev}
		for _, i := range idx {
			r.Events = append(r.Events, ev(i))
		}
		return r
	}
	start := watchcheck.Response{Start: 1}
	good := []watchcheck.Response{start, resp(2, 0), resp(3, 1), {Rev: 3, Progress: true}, resp(4, 2, 3), resp(5, 4)}
	withPrev := watchcheck.Options{PrevKV: true}
	noPrev := ev(1)
	noPrev.Prev = nil
	notCreate := ev(4)
	notCreate.IsCreate = false
	for _, tc := range []struct {
		name  string
		resps []watchcheck.Response
		opts  watchcheck.Options
		want  string
	}{
		{"good", good, withPrev, ""},
		{"reordered", []watchcheck.Response{start, resp(3, 1), resp(2, 0)}, withPrev, "ordered"},
		{"duplicate", []watchcheck.Response{start, resp(2, 0), resp(2, 0)}, withPrev, "unique"},
		{"split revision", []watchcheck.Response{start, resp(4, 2), resp(4, 3)}, withPrev, "atomic"},
		{"early progress", []watchcheck.Response{start, resp(2, 0), {Rev: 3, Progress: true}, resp(3, 1)}, withPrev, "bookmarkable"},
		{"missing prev_kv", []watchcheck.Response{start, resp(2, 0), {Rev: 3, Events: []watchcheck.WatchEvent{noPrev}}}, withPrev, "prevKV"},
		{"missing prev_kv at a compaction", []watchcheck.Response{start, resp(2, 0), {Rev: 3, Events: []watchcheck.WatchEvent{noPrev}}},
			watchcheck.Options{PrevKV: true, CompactedAt: []int64{3}}, ""},
		{"missing prev_kv at another revision than the compaction's", []watchcheck.Response{start, resp(2, 0), {Rev: 3, Events: []watchcheck.WatchEvent{noPrev}}},
			watchcheck.Options{PrevKV: true, CompactedAt: []int64{2}}, "prevKV"},
		{"unasked prev_kv", []watchcheck.Response{start, resp(3, 1)}, watchcheck.Options{}, "prevKV"},
		{"create not flagged", []watchcheck.Response{start, {Rev: 5, Events: []watchcheck.WatchEvent{notCreate}}}, withPrev, "isCreate"},
		{"filter", []watchcheck.Response{start, resp(4, 2, 3)}, watchcheck.Options{PrevKV: true, NoDelete: true}, "filter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := watchcheck.CheckGuarantees(tc.resps, hist, tc.opts)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no violation", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want+":")):
				t.Errorf("got %v, want a %s violation", err, tc.want)
			}
		})
	}
	// CheckFrom starts from the state before the watch's start: a re-list holds the keys
	// written before it.
	relist := []watchcheck.Relist{{AfterEvents: 0, Rev: 3, KVs: map[string]string{"a": "2"}}}
	if _, err := watchcheck.CheckFrom(watchcheck.Events([]watchcheck.Response{resp(4, 2, 3), resp(5, 4)}), relist, 1, hist, 3); err != nil {
		t.Errorf("CheckFrom with a re-list after the start: %v", err)
	}
	// Check replays deletes: a re-list after a delete must not hold the key.
	rep, err := watchcheck.Check(watchcheck.Events(good), nil, 1, hist)
	if err != nil || rep.Events != len(hist) {
		t.Errorf("Check of the good stream: %+v, %v", rep, err)
	}
}
