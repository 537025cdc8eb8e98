package mvcc

import (
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// eventString renders events as "PUT a=1@2/2/1<prev>" with prev the previous ModRevision.
func eventString(evs []*mvccpb.Event) string {
	var parts []string
	for _, e := range evs {
		s := fmt.Sprintf("%s %s=%s@%d/%d/%d", e.Type, e.Kv.Key, e.Kv.Value,
			e.Kv.CreateRevision, e.Kv.ModRevision, e.Kv.Version)
		if e.PrevKv != nil {
			s += fmt.Sprintf("<%d", e.PrevKv.ModRevision)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestEvents(t *testing.T) {
	hist := [][]op{
		{put("a", "1")},                // 2
		{put("a", "2"), put("b", "1")}, // 3
		{delKey("a")},                  // 4
		{put("a", "3")},                // 5
	}
	tests := []struct {
		name     string
		from, to int64
		maxRevs  int
		commit   bool
		want     string
	}{
		{name: "all", from: 1, to: 0,
			want: "PUT a=1@2/2/1 PUT a=2@2/3/2<2 PUT b=1@3/3/1 DELETE a=@0/4/0<3 PUT a=3@5/5/1"},
		{name: "all committed", from: 1, to: 0, commit: true,
			want: "PUT a=1@2/2/1 PUT a=2@2/3/2<2 PUT b=1@3/3/1 DELETE a=@0/4/0<3 PUT a=3@5/5/1"},
		{name: "window", from: 3, to: 4, want: "PUT a=2@2/3/2<2 PUT b=1@3/3/1 DELETE a=@0/4/0<3"},
		{name: "max revs counts revisions", from: 2, to: 0, maxRevs: 2,
			want: "PUT a=1@2/2/1 PUT a=2@2/3/2<2 PUT b=1@3/3/1"},
		{name: "to beyond current", from: 5, to: 99, want: "PUT a=3@5/5/1"},
		{name: "empty", from: 6, to: 0, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			history(s, hist...)
			if tt.commit {
				if err := s.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			evs, err := s.Events(tt.from, tt.to, tt.maxRevs)
			if err != nil {
				t.Fatal(err)
			}
			if got := eventString(evs); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestEventsCompacted(t *testing.T) {
	s := newStore(t)
	history(s, []op{put("a", "1")}, []op{put("a", "2")}, []op{put("a", "3")})
	if err := s.Compact(4, 3); err != nil {
		t.Fatal(err)
	}
	_, err := s.Events(2, 0, 0)
	wantErr(t, err, ErrCompacted)
	evs, err := s.Events(3, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The version replaced at 3 was compacted away, so 3 has no PrevKv.
	if got, want := eventString(evs), "PUT a=2@2/3/2 PUT a=3@2/4/3<3"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
