package chaos_test

import (
	"strings"
	"testing"
)

// The watch check on hand-made streams: it must accept the complete one and reject every
// broken one, so a green scenario means something. The model and the write check have their
// own tests in internal/kvhist.

func TestWatchCheck(t *testing.T) {
	hist := []event{{2, "k0", "a"}, {3, "k1", "b"}, {4, "k0", "c"}, {5, "k1", "d"}}
	for _, tc := range []struct {
		name    string
		events  []event
		relists []relist
		wantErr string
	}{
		{"complete", hist, nil, ""},
		{"gap", []event{hist[0], hist[2], hist[3]}, nil, "missing"},
		{"duplicate", []event{hist[0], hist[1], hist[1], hist[2], hist[3]}, nil, "repeated"},
		{"reordered", []event{hist[1], hist[0], hist[2], hist[3]}, nil, "out of order"},
		{"stopped early", hist[:3], nil, "stopped"},
		{"re-list", []event{hist[0], hist[3]},
			[]relist{{afterEvents: 1, rev: 4, kvs: map[string]string{"k0": "c", "k1": "b"}}}, ""},
		{"wrong re-list", []event{hist[0], hist[3]},
			[]relist{{afterEvents: 1, rev: 4, kvs: map[string]string{"k0": "a", "k1": "b"}}}, "re-list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &watcher{events: tc.events, relists: tc.relists}
			_, err := w.check(hist)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}
