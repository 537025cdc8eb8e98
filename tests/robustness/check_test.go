package robustness_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/kvhist"
	"github.com/keeldb/keel/internal/watchcheck"
)

// result is what the runner learned at the end of a scenario, for the checks.
type result struct {
	// final is the revision of the final marker put, after the traffic stopped.
	final int64
	// hist is every event under the prefix from revision 1 to final, as the reference
	// watcher delivered it.
	hist []watchcheck.Event
	// refResps is the reference watcher's recorded stream.
	refResps []watchcheck.Response
	// state is the prefix at final, read with a linearizable range.
	state map[string]string
}

// memberWatcher is a watcher pinned to one member.
type memberWatcher struct {
	*watcher
	member int
}

// startMemberWatchers starts one watcher per member, pinned to it, from a revision a little
// behind the current one (so that it replays history first), with prev_kv at random, a
// progress request every 100 ms, and (where the traffic does not compact, since a re-list
// cannot be replayed through a filter) the first with a delete filter.
func startMemberWatchers(env *Env, compacts bool) []memberWatcher {
	var out []memberWatcher
	cur := env.ref.delivered()
	for _, i := range env.Live() {
		opts := watchcheck.Options{PrevKV: env.Rand.IntN(2) == 0, NoDelete: i == 0 && !compacts}
		start := max(1, cur-int64(env.Rand.IntN(20)))
		w := startWatcher(watcherConfig{name: fmt.Sprintf("m%d", i), cli: env.C.Client(env.T, i), start: start,
			opts: opts, progressEvery: 100 * time.Millisecond, member: i})
		env.T.Cleanup(w.stop)
		out = append(out, memberWatcher{w, i})
	}
	return out
}

// check writes the final marker and runs every check.
func check(ctx context.Context, env *Env, sc Scenario, traffic Traffic, watchers []memberWatcher, keep bool) report {
	t := env.T
	t.Helper()
	var rep report
	add := func(check, format string, args ...any) {
		rep.violations = append(rep.violations, violation{check, fmt.Sprintf(format, args...)})
	}
	cli := env.C.Client(t, env.Live()...)
	marker := fmt.Sprintf("final-%d", sc.Seed)
	resp, err := cli.Put(ctx, prefix+"final", marker)
	if err != nil {
		t.Fatalf("robustness: final marker put: %v", err)
	}
	env.markers[marker] = true
	res := &result{final: resp.Header.Revision}
	if err := env.ref.finish(ctx, res.final); err != nil {
		add("watch", "reference watcher: %v", err)
	}
	var relists []watchcheck.Relist
	res.refResps, relists, _ = env.ref.record()
	res.hist = watchcheck.Events(res.refResps)
	if len(relists) > 0 {
		add("watch", "the reference watcher was compacted (%d re-lists): the history is incomplete", len(relists))
	}
	if err := watchcheck.CheckGuarantees(res.refResps, res.hist, watchcheck.Options{PrevKV: true}); err != nil {
		add("watch", "reference watcher: %v", err)
	}
	res.state, err = readState(ctx, cli, res.final)
	if err != nil {
		t.Fatalf("robustness: final read: %v", err)
	}
	if replay := replayTo(res.hist, res.final); !maps.Equal(replay, res.state) {
		add("watch", "the reference watcher's events replayed to revision %d differ from a range read there: %s",
			res.final, mapDiff(replay, res.state))
	}
	checkMemberWatchers(ctx, env, res, watchers, add)

	dir := artifactsDir(t, sc)
	h := env.Rec.Snapshot()
	lin := porcupine.Ok
	if len(h.Ops) > 0 {
		start := time.Now()
		var vis string
		lin, vis = kvhist.CheckLinearizable(h.Ops, checkTimeout, dir)
		t.Logf("robustness: porcupine: %v over %d operations in %v", lin, len(h.Ops), time.Since(start).Round(time.Millisecond))
		if lin != porcupine.Ok {
			add("linearizable", "porcupine: %v (visualization: %s)", lin, vis)
		}
	}
	for _, v := range h.Violations {
		add("client", "%s", v)
	}
	lost, extra := kvhist.CheckWrites(underPrefix(res.hist, prefix+"kv/", prefix+"lease/"), h.Writes, env.markers)
	for _, l := range lost {
		add("lost-write", "%s", l)
	}
	for _, e := range extra {
		add("history", "%s", e)
	}
	rep.violations = append(rep.violations, traffic.Check(ctx, env, res)...)
	if err := converge(ctx, env, res.final); err != nil {
		add("converge", "%v", err)
	}
	for _, p := range panics(env) {
		add("panic", "%s", p)
	}
	env.mu.Lock()
	notes := strings.Join(env.notes, "; ")
	env.mu.Unlock()
	rep.summary = fmt.Sprintf("%d members, traffic %s, fault %s: %d operations checked by porcupine (%d unknown, %d failed reads), "+
		"%d events to revision %d, %d member watchers; faults fired: %s; fault notes: %s; violations: %d",
		sc.Members, sc.Traffic.Name, sc.Fault.Name(), len(h.Ops), h.Unknown, h.FailedReads, len(res.hist), res.final,
		len(watchers), strings.Join(env.firedFaults(), ", "), notes, len(rep.violations))
	if keep && len(rep.violations) > 0 {
		rep.artifacts = dir
		keepArtifacts(t, env, sc, dir, res, rep)
	} else {
		_ = os.RemoveAll(dir)
	}
	return rep
}

// checkMemberWatchers waits for every member watcher to reach the final revision and checks
// its stream: events equal to the history from its start (gap-free, in order, re-lists
// right) and the guarantees CheckGuarantees covers. A watcher on a removed member is
// checked only for the latter.
func checkMemberWatchers(ctx context.Context, env *Env, res *result, watchers []memberWatcher, add func(string, string, ...any)) {
	for _, w := range watchers {
		removed := env.removedMember(w.member)
		if removed {
			w.stop()
		} else if err := w.finish(ctx, res.final); err != nil {
			add("watch", "%v", err)
			continue
		}
		resps, relists, sessions := w.record()
		opts := w.cfg.opts
		opts.CompactedAt = env.compactions()
		if err := watchcheck.CheckGuarantees(resps, res.hist, opts); err != nil {
			add("watch", "watcher %s from revision %d: %v", w.cfg.name, w.cfg.start, err)
		}
		if removed {
			continue
		}
		want := watchcheck.Filter(res.hist, w.cfg.opts)
		if _, err := watchcheck.CheckFrom(watchcheck.Events(resps), relists, sessions, want, w.cfg.start); err != nil {
			add("watch", "watcher %s from revision %d: %v", w.cfg.name, w.cfg.start, err)
		}
	}
}

// readState reads the prefix at revision rev.
func readState(ctx context.Context, cli *clientv3.Client, rev int64) (map[string]string, error) {
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out, nil
}

// replayTo applies the history's events up to revision rev.
func replayTo(hist []watchcheck.Event, rev int64) map[string]string {
	out := map[string]string{}
	for _, e := range hist {
		if e.Rev > rev {
			break
		}
		if e.Delete {
			delete(out, e.Key)
		} else {
			out[e.Key] = e.Value
		}
	}
	return out
}

// underPrefix returns the events of keys under any of ps.
func underPrefix(hist []watchcheck.Event, ps ...string) []watchcheck.Event {
	var out []watchcheck.Event
	for _, e := range hist {
		for _, p := range ps {
			if strings.HasPrefix(e.Key, p) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// mapDiff describes the first few differences between two states.
func mapDiff(want, got map[string]string) string {
	var d []string
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			d = append(d, fmt.Sprintf("%s: replay %q, read %q", k, v, g))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s: replay absent, read %q", k, v))
		}
	}
	if len(d) > 5 {
		d = append(d[:5], fmt.Sprintf("... %d more", len(d)-5))
	}
	return strings.Join(d, "; ")
}

// converge waits until every live member has applied revision rev and checks that all
// report the same HashKV at rev.
func converge(ctx context.Context, env *Env, rev int64) error {
	var hashes []string
	var first uint32
	for n, i := range env.Live() {
		for {
			st, err := env.C.Status(ctx, i)
			if err == nil && st.Header.Revision >= rev {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("m%d did not reach revision %d: %v", i, rev, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
		cli := env.C.Client(env.T, i)
		h, err := cli.HashKV(ctx, env.C.Endpoint(i), rev)
		if err != nil {
			return fmt.Errorf("hashkv on m%d: %w", i, err)
		}
		if n == 0 {
			first = h.Hash
		}
		hashes = append(hashes, fmt.Sprintf("m%d=%08x", i, h.Hash))
		if h.Hash != first {
			return fmt.Errorf("HashKV at revision %d differs: %s", rev, strings.Join(hashes, " "))
		}
	}
	return nil
}

// panicMarkers are what a Go runtime crash or a detected race writes to a member log.
var panicMarkers = []string{"panic:", "fatal error:", "WARNING: DATA RACE"}

// panics returns the member log lines that show a crash no fault declared (Env.ExpectPanic).
func panics(env *Env) []string {
	var out []string
	for i := range env.C.Size() {
		f, err := os.Open(env.C.LogPath(i))
		if err != nil {
			continue
		}
		for _, p := range logPanics(f, env.expectedPanics(i)) {
			out = append(out, fmt.Sprintf("%s: %s", env.C.Name(i), p))
		}
		f.Close()
	}
	return out
}

// logPanics returns the crash lines of one member log, leaving out panics whose message
// contains one of expected. A panic re-raised from a deferred recover is printed as a
// "panic: ... [recovered]" line and then the new panic's line; the two are judged together.
func logPanics(r io.Reader, expected []string) []string {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var pending string // a "[recovered]" panic line, judged with the next one
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for _, m := range panicMarkers {
			if !strings.HasPrefix(line, m) {
				continue
			}
			if m == "panic:" && strings.Contains(line, "[recovered") {
				pending += line + " "
				continue
			}
			crash := pending + line
			pending = ""
			if m == "panic:" && slices.ContainsFunc(expected, func(e string) bool { return strings.Contains(crash, e) }) {
				continue
			}
			out = append(out, crash)
		}
	}
	if pending != "" {
		out = append(out, strings.TrimSpace(pending))
	}
	return out
}

// historyJSON renders the recorded operations for a person to read.
func historyJSON(h kvhist.History) []byte {
	type op struct {
		Client int
		Input  kvhist.Input
		Output kvhist.Output
		Call   int64
		Return int64
	}
	ops := make([]op, len(h.Ops))
	for i, o := range h.Ops {
		ops[i] = op{o.ClientId, o.Input.(kvhist.Input), o.Output.(kvhist.Output), o.Call, o.Return}
	}
	return jsonOf(map[string]any{"start": h.Start, "operations": ops, "writes": h.Writes,
		"unknown": h.Unknown, "failed_reads": h.FailedReads, "violations": h.Violations})
}

func jsonOf(v any) []byte {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return []byte(err.Error())
	}
	return b
}
