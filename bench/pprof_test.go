package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProfileFileName(t *testing.T) {
	cases := []struct{ endpoint, want string }{
		{"127.0.0.1:2379", "127.0.0.1_2379.cpu.pprof"},
		{"http://127.0.0.1:2379", "127.0.0.1_2379.cpu.pprof"},
		{"https://keel-0.example:2379/", "keel-0.example_2379.cpu.pprof"},
		{"localhost", "localhost.cpu.pprof"},
	}
	for _, tc := range cases {
		if got := profileFileName(tc.endpoint); got != tc.want {
			t.Errorf("profileFileName(%q) = %q, want %q", tc.endpoint, got, tc.want)
		}
	}
}

func TestFetchProfiles(t *testing.T) {
	asked := make(chan string, 1) // the seconds the profile was asked for
	serving := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/pprof/profile" {
			http.NotFound(w, r)
			return
		}
		asked <- r.URL.Query().Get("seconds")
		_, _ = w.Write([]byte("profile bytes"))
	}))
	defer serving.Close()
	without := httptest.NewServer(http.NotFoundHandler())
	defer without.Close()
	eps := []string{strings.TrimPrefix(serving.URL, "http://"), without.URL}
	dir := filepath.Join(t.TempDir(), "profiles")

	t.Run("fired", func(t *testing.T) {
		p := startProfiles(context.Background(), Config{PprofDir: dir, PprofSeconds: 3}, eps, time.Now())
		p.fire()
		p.fire() // idempotent
		p.runEnded()
		got := p.wait()
		if len(got) != 2 || got[0].Error != "" || got[1].Path != "" || !strings.Contains(got[1].Error, "404 Not Found") {
			t.Fatalf("results %+v, want the first fetched and the second refused with 404", got)
		}
		data, err := os.ReadFile(got[0].Path)
		if err != nil || string(data) != "profile bytes" || filepath.Base(got[0].Path) != profileFileName(eps[0]) {
			t.Fatalf("profile %s: %q (%v)", got[0].Path, data, err)
		}
		if s := <-asked; s != "3" {
			t.Fatalf("asked for %s seconds, want 3", s)
		}
	})
	t.Run("run ended first", func(t *testing.T) {
		p := startProfiles(context.Background(), Config{PprofDir: dir, PprofSeconds: 3}, eps, time.Now())
		p.runEnded()
		got := p.wait()
		if len(got) != 2 || !strings.HasPrefix(got[0].Error, "not taken") || got[0].Path != "" {
			t.Fatalf("results %+v, want none taken", got)
		}
	})
	t.Run("not asked for", func(t *testing.T) {
		p := startProfiles(context.Background(), Config{}, eps, time.Now())
		p.fire()
		p.runEnded()
		if got := p.wait(); got != nil {
			t.Fatalf("results %+v, want none", got)
		}
	})
}

func TestWriteTableProfiles(t *testing.T) {
	profiles := []ProfileResult{{Endpoint: "a:1", Path: "/p/a_1.cpu.pprof", Start: 1500 * time.Millisecond},
		{Endpoint: "b:2", Error: "GET http://b:2/debug/pprof/profile?seconds=10: 404 Not Found"}}
	lines := []string{"a:1                  /p/a_1.cpu.pprof (from 1.5 s)",
		"b:2                  none: GET http://b:2/debug/pprof/profile?seconds=10: 404 Not Found"}
	r := fixedReport("keel", 1)
	r.Profiles = profiles
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range append([]string{"cpu profiles:"}, lines...) {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}

	c := &Comparison{Names: [2]string{"keel", "etcd"}, Rounds: [][2]*Report{{r, fixedReport("etcd", 1)}}}
	b.Reset()
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "keel round 1 cpu profiles:\n  "+lines[0]) || strings.Contains(b.String(), "etcd round 1 cpu") {
		t.Errorf("compare table lists the profiles wrong:\n%s", b.String())
	}
}
