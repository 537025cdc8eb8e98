package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProfileResult says what became of one endpoint's CPU profile.
type ProfileResult struct {
	Endpoint string        `json:"endpoint"`
	Path     string        `json:"path,omitempty"`  // where the profile was written
	Start    time.Duration `json:"start_ns"`        // when it began, since the measured run began
	Error    string        `json:"error,omitempty"` // why there is none (e.g. "404 Not Found": no --enable-pprof)
}

// profileSlack is how much longer than the profile itself its request may take.
const profileSlack = 30 * time.Second

// profiles fetches a CPU profile of every endpoint once fire is called, unless the run ends
// (runEnded) first. Its goroutine belongs to measure, which waits for it.
type profiles struct {
	trigger, ended    chan struct{}
	fireOnce, endOnce sync.Once
	results           chan []ProfileResult // nil when no profiles were asked for
}

// startProfiles starts waiting for the moment to profile endpoints, if cfg.PprofDir is set;
// start is when the measured run began.
func startProfiles(ctx context.Context, cfg Config, endpoints []string, start time.Time) *profiles {
	p := &profiles{trigger: make(chan struct{}), ended: make(chan struct{})}
	if cfg.PprofDir == "" {
		return p
	}
	p.results = make(chan []ProfileResult, 1)
	go func() {
		p.results <- fetchProfiles(ctx, cfg.PprofDir, cfg.PprofSeconds, endpoints, start, p.trigger, p.ended)
	}()
	return p
}

// fire starts the profiles; later calls do nothing.
func (p *profiles) fire() { p.fireOnce.Do(func() { close(p.trigger) }) }

// runEnded tells the profiles that the run is over: if they have not started, they never will.
func (p *profiles) runEnded() { p.endOnce.Do(func() { close(p.ended) }) }

// wait returns the results once every profile is in; call runEnded first.
func (p *profiles) wait() []ProfileResult {
	if p.results == nil {
		return nil
	}
	return <-p.results
}

// fetchProfiles waits for trigger, then fetches a profile of seconds from every endpoint at
// once into dir. If ended closes first, or ctx ends, it fetches nothing.
func fetchProfiles(ctx context.Context, dir string, seconds int, endpoints []string, start time.Time,
	trigger, ended <-chan struct{}) []ProfileResult {
	none := func(why string) []ProfileResult {
		out := make([]ProfileResult, len(endpoints))
		for i, ep := range endpoints {
			out[i] = ProfileResult{Endpoint: ep, Error: why}
		}
		return out
	}
	select {
	case <-trigger:
	case <-ended:
		select {
		case <-trigger:
		default:
			return none("not taken: the run ended before the profile was due")
		}
	case <-ctx.Done():
		return none("not taken: " + ctx.Err().Error())
	}
	at := time.Since(start)
	out := make([]ProfileResult, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			out[i] = ProfileResult{Endpoint: ep, Start: at}
			path, err := fetchProfile(ctx, ep, dir, seconds)
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].Path = path
		})
	}
	wg.Wait()
	return out
}

// fetchProfile fetches a CPU profile of seconds from the endpoint's /debug/pprof/profile
// (http:// unless the endpoint names its scheme) and writes it to dir/<endpoint>.cpu.pprof,
// with ':' and '/' of the endpoint turned into '_'.
func fetchProfile(ctx context.Context, endpoint, dir string, seconds int) (string, error) {
	base := endpoint
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	url := strings.TrimRight(base, "/") + "/debug/pprof/profile?seconds=" + strconv.Itoa(seconds)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds)*time.Second+profileSlack)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, profileFileName(endpoint))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	return path, f.Close()
}

// profileFileName names an endpoint's profile: "127.0.0.1:2379" gives
// "127.0.0.1_2379.cpu.pprof" (go tool pprof would take a name with a colon for a URL).
func profileFileName(endpoint string) string {
	if _, rest, ok := strings.Cut(endpoint, "://"); ok {
		endpoint = rest
	}
	endpoint = strings.TrimRight(endpoint, "/")
	return strings.NewReplacer(":", "_", "/", "_").Replace(endpoint) + ".cpu.pprof"
}
