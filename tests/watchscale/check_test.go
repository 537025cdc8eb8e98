package watchscale_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/proccluster"
)

// histEvent is one revision of the full history under the prefix.
type histEvent struct {
	rev  int64
	key  string
	hash uint64
}

// readHistory returns every event under the prefix in [from, to], read with a watch from
// revision from on a member that was never killed. It checks the history's own order.
func readHistory(t *testing.T, ctx context.Context, cli *clientv3.Client, from, to int64) []histEvent {
	t.Helper()
	var hist []histEvent
	if to < from {
		return hist
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for resp := range cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from)) {
		if err := resp.Err(); err != nil {
			t.Fatalf("history watch from %d: %v", from, err)
		}
		for _, e := range resp.Events {
			if e.Type != clientv3.EventTypePut {
				t.Fatalf("history: unexpected %v of %q at revision %d", e.Type, e.Kv.Key, e.Kv.ModRevision)
			}
			r := e.Kv.ModRevision
			if n := len(hist); n > 0 && r <= hist[n-1].rev {
				t.Fatalf("history watch: revision %d after %d", r, hist[n-1].rev)
			}
			hist = append(hist, histEvent{rev: r, key: string(e.Kv.Key), hash: eventHash(e.Kv.Key, e.Kv.Value)})
			if r >= to {
				return hist
			}
		}
	}
	t.Fatalf("history watch ended before revision %d (last %d events): %v", to, len(hist), wctx.Err())
	return nil
}

// checkAcked checks that the history holds exactly the writers' puts: every acknowledged put at
// its acknowledged revision with its key and value, and nothing else unless a put failed
// (a failed put may or may not have been applied).
func checkAcked(t *testing.T, hist []histEvent, puts []put) {
	t.Helper()
	byRev := make(map[int64]histEvent, len(hist))
	for _, h := range hist {
		byRev[h.rev] = h
	}
	failed := 0
	for _, p := range puts {
		if p.err != nil {
			failed++
			t.Logf("watchscale: put %d of %q failed: %v", p.id, p.key, p.err)
			continue
		}
		h, ok := byRev[p.rev]
		if !ok || h.hash != eventHash([]byte(p.key), []byte(strconv.Itoa(p.id))) {
			t.Errorf("acknowledged put %d of %q at revision %d: history has %+v (present %v)", p.id, p.key, p.rev, h, ok)
		}
	}
	acked := len(puts) - failed
	if len(hist) < acked || (failed == 0 && len(hist) != acked) {
		t.Errorf("history has %d events, want %d acknowledged puts (%d failed)", len(hist), acked, failed)
	}
	t.Logf("watchscale: history: %d events, %d acknowledged puts, %d failed puts", len(hist), acked, failed)
}

// checkWatchers compares every watcher's received events with its slice of the history:
// same revisions, same order, same key and value, nothing missing, nothing extra.
func checkWatchers(t *testing.T, streams []*stream, hist []histEvent, startRev int64) {
	t.Helper()
	var (
		bad, events, sessions int
		unfinished            []int
	)
	for _, s := range streams {
		sessions += s.sessions
		if !s.finished {
			unfinished = append(unfinished, s.idx)
		}
		for j, w := range s.ws {
			events += len(w.revs)
			if msg := compareWatcher(w, hist, startRev); msg != "" {
				if bad++; bad <= 20 {
					t.Errorf("stream %d watch %d [%q, %q): %s", s.idx, j+1, w.key, w.end, msg)
				}
			}
		}
	}
	if len(unfinished) > 0 {
		t.Errorf("%d streams never saw a progress response at the final revision: %v (e.g. stream %d last error: %v)",
			len(unfinished), unfinished, unfinished[0], streams[unfinished[0]].lastErr)
	}
	if bad > 0 {
		t.Errorf("%d of %d watchers differ from the history", bad, numWatchers)
	}
	t.Logf("watchscale: %d events received by %d watchers over %d stream sessions", events,
		numWatchers, sessions)
}

// compareWatcher returns "" when w received exactly the history events in its range, or a
// description of the first difference.
func compareWatcher(w *watcherState, hist []histEvent, startRev int64) string {
	if len(w.bad) > 0 {
		return fmt.Sprintf("events outside the watch filter: %v", w.bad)
	}
	i := 0
	for _, h := range hist {
		if h.rev < startRev || !inRange([]byte(h.key), w.key, w.end) {
			continue
		}
		if i >= len(w.revs) {
			return fmt.Sprintf("missing revision %d (%q) and later: got %d events, last %d", h.rev, h.key, len(w.revs), w.last)
		}
		switch {
		case w.revs[i] < h.rev:
			return fmt.Sprintf("event %d: got revision %d, want %d (duplicate, reordered or foreign event)", i, w.revs[i], h.rev)
		case w.revs[i] > h.rev:
			return fmt.Sprintf("event %d: got revision %d, want %d (gap)", i, w.revs[i], h.rev)
		case w.hashes[i] != h.hash:
			return fmt.Sprintf("event %d at revision %d: key or value differs from the history (%q)", i, h.rev, h.key)
		}
		i++
	}
	if i < len(w.revs) {
		return fmt.Sprintf("%d extra events after the history, first at revision %d", len(w.revs)-i, w.revs[i])
	}
	return ""
}

// reportLatency logs put-to-event latency percentiles. The headline is the steady state:
// events whose put was sent and received before the kill. Separate lines cover puts sent after
// every watcher had resumed (they may still queue behind the outage backlog) and all events
// (including puts sent while the member was down, which wait at least for its restart); a
// timeline by send second shows how long the fault's effect lasts.
func reportLatency(t *testing.T, streams []*stream, sh *shared, puts []put, killAt, recoveredAt time.Time) {
	t.Helper()
	var before, after, all []time.Duration
	for _, s := range streams {
		for _, sm := range s.samples {
			all = append(all, sm.lat)
			sent := time.Unix(0, sh.sendNanos[sm.id].Load())
			switch {
			case sent.Add(sm.lat).Before(killAt):
				before = append(before, sm.lat)
			case sent.After(recoveredAt):
				after = append(after, sm.lat)
			}
		}
	}
	line := func(name string, d []time.Duration) string {
		if len(d) == 0 {
			return fmt.Sprintf("watchscale: %s: no events", name)
		}
		slices.Sort(d)
		return fmt.Sprintf("watchscale: %s p50=%v p99=%v max=%v over %d events", name,
			pct(d, 0.50), pct(d, 0.99), d[len(d)-1].Round(time.Microsecond), len(d))
	}
	t.Log(line("put-to-event", before) + " (steady state: put sent and event received before the kill)")
	t.Log(line("put-to-event-after-resume", after) + " (puts sent after every watcher was re-created)")
	t.Log(line("put-to-event-all", all) + " (every event, including puts sent while the member was down)")
	logTimeline(t, streams, sh, puts, killAt, recoveredAt)
}

// logTimeline logs, by the second in which puts were sent (relative to the kill), the
// put-to-event percentiles, the number of puts and their slowest acknowledgement, to show how
// long the fault's effect lasts.
func logTimeline(t *testing.T, streams []*stream, sh *shared, puts []put, killAt, recoveredAt time.Time) {
	t.Helper()
	second := func(id int) int {
		return int(math.Floor(time.Unix(0, sh.sendNanos[id].Load()).Sub(killAt).Seconds()))
	}
	buckets := map[int][]time.Duration{}
	for _, s := range streams {
		for _, sm := range s.samples {
			b := second(int(sm.id))
			buckets[b] = append(buckets[b], sm.lat)
		}
	}
	sent, slowest := map[int]int{}, map[int]time.Duration{}
	for _, p := range puts {
		b := second(p.id)
		sent[b]++
		slowest[b] = max(slowest[b], p.ack)
	}
	keys := slices.Sorted(maps.Keys(buckets))
	var sb strings.Builder
	fmt.Fprintf(&sb, "watchscale: latency by send second relative to the kill (resumed at +%v):", recoveredAt.Sub(killAt).Round(time.Millisecond))
	for _, k := range keys {
		d := buckets[k]
		slices.Sort(d)
		fmt.Fprintf(&sb, "\n  %+3ds: p50=%-10v p99=%-10v events=%-7d puts=%-4d slowest-put=%v",
			k, pct(d, 0.5), pct(d, 0.99), len(d), sent[k], slowest[k].Round(time.Millisecond))
	}
	t.Log(sb.String())
}

func pct(sorted []time.Duration, q float64) time.Duration {
	i := min(int(q*float64(len(sorted))), len(sorted)-1)
	return sorted[i].Round(time.Microsecond)
}

// logRSS logs member i's resident set size and its peak, read from /proc/<pid>/status of the
// keeld process whose --data-dir is member i's. It logs nothing where /proc is unavailable.
func logRSS(t *testing.T, c *proccluster.Cluster, i int, when string) {
	t.Helper()
	pid := findPID(c.DataDir(i))
	if pid == 0 {
		t.Logf("watchscale: RSS of m%d (%s): process not found in /proc", i, when)
		return
	}
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Logf("watchscale: RSS of m%d (%s): %v", i, when, err)
		return
	}
	defer f.Close()
	var rss, hwm string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			rss = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			hwm = strings.TrimSpace(v)
		}
	}
	t.Logf("watchscale: RSS of m%d (pid %d) %s: VmRSS=%s VmHWM=%s", i, pid, when, rss, hwm)
}

// findPID returns the pid of the process started with "--data-dir dir", or 0.
func findPID(dir string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := bytes.Split(b, []byte{0})
		for k := 0; k+1 < len(args); k++ {
			if string(args[k]) == "--data-dir" && string(args[k+1]) == dir {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				return pid
			}
		}
	}
	return 0
}
