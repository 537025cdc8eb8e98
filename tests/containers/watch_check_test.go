package containers

import (
	"strings"
	"testing"
)

// TestWatchCheck proves the watch check accepts exactly the history and rejects a stream with
// a missing, repeated, reordered or altered event, a stream that stops early, and a wrong
// re-list.
func TestWatchCheck(t *testing.T) {
	hist := []event{{2, "wl/a", "1"}, {3, "wl/b", "1"}, {5, "wl/a", "2"}, {6, "wl/final", "final"}}
	drop := func(i int) []event { return append(append([]event(nil), hist[:i]...), hist[i+1:]...) }
	tests := []struct {
		name    string
		events  []event
		relists []relist
		want    string // "" = ok, else a substring of the error
	}{
		{"exact", hist, nil, ""},
		{"dropped event", drop(1), nil, "missing"},
		{"dropped last event", drop(3), nil, "stopped at history entry 3"},
		{"duplicate", []event{hist[0], hist[1], hist[1], hist[2], hist[3]}, nil, "repeated"},
		{"reordered", []event{hist[0], hist[2], hist[1], hist[3]}, nil, "out of order"},
		{"altered value", []event{hist[0], hist[1], {5, "wl/a", "x"}, hist[3]}, nil, "history has"},
		{"beyond history", append(append([]event(nil), hist...), event{7, "wl/z", "1"}), nil, "beyond"},
		{"re-list replaces compacted events", hist[2:], []relist{{0, 3, map[string]string{"wl/a": "1", "wl/b": "1"}}}, ""},
		{"wrong re-list", hist[2:], []relist{{0, 3, map[string]string{"wl/a": "1"}}}, "re-list 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkStream(tt.events, tt.relists, 1, hist)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("check failed: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("check passed, want an error with %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}
