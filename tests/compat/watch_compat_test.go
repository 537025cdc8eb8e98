package compat_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/keeldb/keel/internal/proccluster"
)

// This file holds TestWatchCompat and the sequence harness it shares with TestLeaseCompat
// (lease_compat_test.go). Unlike TestKVCompat's one-request steps, a sequence step may open a
// watch stream, write through another member and read the events back; it returns every
// response it saw, in a fixed order, and both sides must return the same list.
//
// Determinism rules the steps follow:
//   - Before reading state on a member (a watch's created revision, a catch-up, a lease list),
//     a step does a linearizable Range on that member, so that the member has applied every
//     acknowledged write.
//   - History is written first and watched afterwards; live events are awaited by blocking on
//     Recv with the step's context deadline, never by sleeping.
//   - Every live watcher is canceled at the end of its step and the step waits for the
//     canceled response: Keel's outbox is ordered, so an unexpected event queued before the
//     cancel shows up as a difference.
//   - Watch responses of two watchers with concurrent catch-ups are never expected on one
//     stream (etcd delivers them in map order).

// seqStep is one named step of a watch or lease sequence. do runs it with m as the main member
// (step k uses member k mod 3, so leader and followers all serve every kind of step) and
// returns the responses to compare, in a fixed order. An error ends the list; gRPC statuses
// are compared like responses.
type seqStep struct {
	name string
	do   func(ctx context.Context, e *env, m int) ([]proto.Message, error)
	// fixed, when set, replaces the comparison with etcd: the step runs against Keel only and
	// must return exactly these responses (headers normalized). As with step.fixed, use it only
	// where Debian's etcd 3.4 cannot be the reference, and say why in fixedWhy.
	fixed    []proto.Message
	fixedWhy string
}

// env is one cluster under comparison with raw KV, Watch and Lease clients per member.
type env struct {
	side
	watches []pb.WatchClient
	leases  []pb.LeaseClient
	// autoLeases are lease IDs the server chose; they differ between sides, so responses show
	// them as maskedLeaseID.
	autoLeases map[int64]bool
	// autoLease is the last server-chosen lease ID.
	autoLease int64
}

// maskedLeaseID replaces a server-chosen lease ID in compared responses.
const maskedLeaseID = -0x5e5e

// startEnv starts a 3-member cluster of binary with one gRPC connection per member.
func startEnv(t *testing.T, name, binary string, etcd bool) *env {
	t.Helper()
	c := proccluster.Start(t, proccluster.Config{Binary: binary, Members: 3})
	e := &env{side: side{name: name, etcd: etcd, cluster: c}, autoLeases: map[int64]bool{}}
	for i := range c.Size() {
		conn := c.Client(t, i).ActiveConnection()
		e.kvs = append(e.kvs, pb.NewKVClient(conn))
		e.watches = append(e.watches, pb.NewWatchClient(conn))
		e.leases = append(e.leases, pb.NewLeaseClient(conn))
	}
	return e
}

// other returns the member after m, used to write while m watches.
func (e *env) other(m int) int { return (m + 1) % len(e.kvs) }

// prime does a linearizable read on member m: afterwards m has applied every write that was
// acknowledged before, so its revision, history, compaction point and leases are current.
func (e *env) prime(ctx context.Context, m int) (int64, error) {
	r, err := e.kvs[m].Range(ctx, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, CountOnly: true})
	if err != nil {
		return 0, fmt.Errorf("priming linearizable read on member %d: %w", m, err)
	}
	return r.Header.Revision, nil
}

// runSequence sends every step to got and want in lockstep and compares what they return.
func runSequence(t *testing.T, steps []seqStep, got, want *env) {
	t.Helper()
	failed := 0
	for k, s := range steps {
		m := k % len(got.kvs)
		ok := t.Run(s.name, func(t *testing.T) {
			if s.fixed != nil {
				if got.etcd {
					t.Skipf("fixed-outcome step (%s); it runs only against Keel", s.fixedWhy)
				}
				var w []outcome
				for _, r := range s.fixed {
					w = append(w, makeOutcome(r, nil))
				}
				if diff := compareSequences(runSeqStep(t, s, got, m), w); diff != "" {
					t.Fatalf("step %d %q on member %d: %s (got) differs from the fixed outcome (want; %s):\n%s", k, s.name, m, got.name, s.fixedWhy, diff)
				}
				if dead := got.crashed(); len(dead) > 0 {
					t.Fatalf("step %d %q: members died: %v (see their logs below)", k, s.name, dead)
				}
				return
			}
			g := runSeqStep(t, s, got, m)
			w := runSeqStep(t, s, want, m)
			if dead := append(got.crashed(), want.crashed()...); len(dead) > 0 {
				t.Fatalf("step %d %q on member %d: members died: %v (see their logs below)", k, s.name, m, dead)
			}
			if diff := compareSequences(g, w); diff != "" {
				t.Fatalf("step %d %q on member %d: %s (got) differs from %s (want):\n%s", k, s.name, m, got.name, want.name, diff)
			}
			if os.Getenv("COMPAT_DUMP") != "" {
				for _, o := range w {
					if o.resp == nil {
						t.Logf("%s: error %s", want.name, o.errString())
						continue
					}
					t.Logf("%s: %s", want.name, render(o.resp))
				}
			}
		})
		if !ok {
			if failed++; failed >= maxFailedSteps {
				t.Fatalf("stopping after %d failed steps; later steps would only repeat the divergence", failed)
			}
		}
	}
}

// runSeqStep runs s on e and returns its normalized outcomes: one per response, then one for
// the error, if any. A step that runs out of time fails the test on that side: two sides that
// both hang must not count as agreeing.
func runSeqStep(t *testing.T, s seqStep, e *env, m int) []outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	resps, err := s.do(ctx, e, m)
	var out []outcome
	for _, r := range resps {
		out = append(out, outcome{resp: e.canonical(normalize(r))})
	}
	if ctx.Err() != nil || errors.Is(err, errHarness) {
		var sb bytes.Buffer
		for i, o := range out {
			fmt.Fprintf(&sb, "response %d:\n%s\n", i, render(o.resp))
		}
		t.Fatalf("%s: step %q on member %d did not complete: %v (context: %v); responses so far:\n%s", e.name, s.name, m, err, ctx.Err(), sb.String())
	}
	if err != nil {
		out = append(out, makeOutcome(nil, err))
	}
	return out
}

// errHarness marks a step failure that is not a server answer (an unexpected response shape).
var errHarness = errors.New("harness")

// canonical removes what legitimately differs between sides beyond header identity: it masks
// server-chosen lease IDs, sorts the lists etcd builds from maps (lease keys, lease list) and
// reports a remaining lease TTL within (0, grantedTTL] as grantedTTL.
func (e *env) canonical(m proto.Message) proto.Message {
	if m == nil || !m.ProtoReflect().IsValid() {
		return m
	}
	e.maskLeases(m.ProtoReflect())
	switch r := m.(type) {
	case *pb.LeaseTimeToLiveResponse:
		slices.SortFunc(r.Keys, bytes.Compare)
		if r.TTL > 0 && r.TTL <= r.GrantedTTL {
			r.TTL = r.GrantedTTL
		}
	case *pb.LeaseLeasesResponse:
		slices.SortFunc(r.Leases, func(a, b *pb.LeaseStatus) int { return cmp.Compare(a.ID, b.ID) })
	}
	return m
}

// maskLeases replaces server-chosen lease IDs in int64 fields named ID or lease, however deep.
func (e *env) maskLeases(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.Int64Kind && !fd.IsList() && (fd.Name() == "ID" || fd.Name() == "lease"):
			if e.autoLeases[v.Int()] {
				m.Set(fd, protoreflect.ValueOfInt64(maskedLeaseID))
			}
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			for i := range v.List().Len() {
				e.maskLeases(v.List().Get(i).Message())
			}
		default:
			e.maskLeases(v.Message())
		}
		return true
	})
}

// compareSequences returns "" when got and want hold equal outcomes, else a readable diff.
func compareSequences(got, want []outcome) string {
	if len(got) == len(want) {
		var sb bytes.Buffer
		for i := range got {
			if d := compareOutcomes(got[i], want[i]); d != "" {
				fmt.Fprintf(&sb, "response %d: %s\n", i, d)
			}
		}
		return sb.String()
	}
	return lineDiff(renderSequence(got), renderSequence(want))
}

func renderSequence(os []outcome) string {
	var sb bytes.Buffer
	for i, o := range os {
		fmt.Fprintf(&sb, "== response %d\n", i)
		if o.resp == nil {
			fmt.Fprintf(&sb, "error %s\n", o.errString())
			continue
		}
		sb.WriteString(render(o.resp))
	}
	return sb.String()
}

// checkSteps fails the test when step names are empty or repeated.
func checkSteps(t *testing.T, steps []seqStep) {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range steps {
		if s.name == "" || seen[s.name] {
			t.Fatalf("step name %q is empty or duplicated", s.name)
		}
		seen[s.name] = true
	}
}

// TestWatchCompat replays watchScript against two clusters: etcd against etcd (proving the
// sequence is deterministic) and Keel against etcd.
func TestWatchCompat(t *testing.T) {
	steps := watchScript()
	checkSteps(t, steps)
	t.Run("etcd-vs-etcd", func(t *testing.T) {
		etcd := proccluster.EtcdBinary(t)
		runSequence(t, steps, startEnv(t, "etcd-a", etcd, true), startEnv(t, "etcd-b", etcd, true))
	})
	t.Run("keel-vs-etcd", func(t *testing.T) {
		etcd := proccluster.EtcdBinary(t)
		keeld := proccluster.BuildKeeld(t)
		runSequence(t, steps, startEnv(t, "keel", keeld, false), startEnv(t, "etcd", etcd, true))
	})
}

// watchConn is one watch stream of a step. It records every response it receives into out,
// in arrival order, together with whatever the step appends.
type watchConn struct {
	stream pb.Watch_WatchClient
	out    *[]proto.Message
}

// openWatch opens a watch stream on member m, bound to ctx.
func (e *env) openWatch(ctx context.Context, m int, out *[]proto.Message) (*watchConn, error) {
	st, err := e.watches[m].Watch(ctx)
	if err != nil {
		return nil, err
	}
	return &watchConn{stream: st, out: out}, nil
}

// create sends a create request and waits for its created response, which it returns.
func (w *watchConn) create(req *pb.WatchCreateRequest) (*pb.WatchResponse, error) {
	if err := w.stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: req}}); err != nil {
		return nil, err
	}
	r, err := w.recvUntil(func(r *pb.WatchResponse) bool { return r.Created })
	if err != nil {
		return nil, err
	}
	return r, nil
}

// recvUntil records responses until one satisfies done, which it returns. It blocks on Recv,
// bounded by the stream's context.
func (w *watchConn) recvUntil(done func(*pb.WatchResponse) bool) (*pb.WatchResponse, error) {
	for {
		r, err := w.stream.Recv()
		if err != nil {
			return nil, err
		}
		*w.out = append(*w.out, r)
		if done(r) {
			return r, nil
		}
	}
}

// untilRev records responses until one carries an event at revision rev or later.
func (w *watchConn) untilRev(rev int64) error {
	_, err := w.recvUntil(func(r *pb.WatchResponse) bool {
		return len(r.Events) > 0 && r.Events[len(r.Events)-1].Kv.ModRevision >= rev
	})
	return err
}

// cancel sends a cancel request for id and records responses up to its canceled response.
func (w *watchConn) cancel(id int64) error {
	if err := w.stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: id}}}); err != nil {
		return err
	}
	_, err := w.recvUntil(func(r *pb.WatchResponse) bool { return r.Canceled && r.WatchId == id })
	return err
}

// watchCreated checks that a created response created a watcher; a rejected create (canceled)
// is a valid answer to compare, not a reason to wait for events.
func watchCreated(r *pb.WatchResponse) bool { return r.Created && !r.Canceled }

// replay is a step that watches from a past revision on a primed member: it expects the
// created response, then the catch-up (or, with wantEvents false, nothing), then cancels.
// The catch-up must arrive in one response, so it waits for the first response with events
// and the cancel that follows shows anything else.
func replay(name string, req *pb.WatchCreateRequest, wantEvents bool) seqStep {
	return seqStep{name: name, do: func(ctx context.Context, e *env, m int) ([]proto.Message, error) {
		var out []proto.Message
		if _, err := e.prime(ctx, m); err != nil {
			return out, err
		}
		w, err := e.openWatch(ctx, m, &out)
		if err != nil {
			return out, err
		}
		c, err := w.create(proto.Clone(req).(*pb.WatchCreateRequest))
		if err != nil || !watchCreated(c) {
			return out, err
		}
		if wantEvents {
			if _, err := w.recvUntil(func(r *pb.WatchResponse) bool { return len(r.Events) > 0 || r.Canceled }); err != nil {
				return out, err
			}
		}
		return out, w.cancel(c.WatchId)
	}}
}

// write is a step that sends one KV write to member m and returns its response; wantRev pins
// the header revision (both sides must agree on it anyway).
func write(name string, wantRev int64, do func(ctx context.Context, kv pb.KVClient) (proto.Message, error)) seqStep {
	return seqStep{name: name, do: func(ctx context.Context, e *env, m int) ([]proto.Message, error) {
		r, err := do(ctx, e.kvs[m])
		if err != nil {
			return nil, err
		}
		if rev := headerRevision(r); wantRev != 0 && rev != wantRev {
			return []proto.Message{r}, fmt.Errorf("%w: header revision %d, want %d", errHarness, rev, wantRev)
		}
		return []proto.Message{r}, nil
	}}
}

func wPut(key, value string) func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
	return func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
		return kv.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte(value)})
	}
}

func wDel(req *pb.DeleteRangeRequest) func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
	return func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
		return kv.DeleteRange(ctx, req)
	}
}

func wTxn(ops ...*pb.RequestOp) func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
	return func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
		return kv.Txn(ctx, &pb.TxnRequest{Success: ops})
	}
}

// watchPrefix returns a create request for a prefix.
func watchPrefix(prefix string, start int64) *pb.WatchCreateRequest {
	return &pb.WatchCreateRequest{Key: []byte(prefix), RangeEnd: prefixEnd(prefix), StartRevision: start}
}

// watchScript is the watch sequence of TestWatchCompat. Both clusters start empty at
// revision 1. History (revisions 2..10):
//
//	rev  change
//	 2   put w/a=a1
//	 3   put w/b=b1
//	 4   put w/a=a2
//	 5   txn: put w/c=c1, put w/b=b2, delete w/a (three events in one revision)
//	 6   put x=x1 (outside w/)
//	 7   delete w/b
//	 8   put w/a=a3 (recreated)
//	 9   delete prefix w/ (w/a, w/c)
//	10   put w/b=b3
func watchScript() []seqStep {
	var s []seqStep
	s = append(s, watchHistory()...)
	s = append(s, watchReplaySteps()...)
	s = append(s, watchLiveSteps()...)
	s = append(s, watchCompactSteps()...)
	return s
}

func watchHistory() []seqStep {
	return []seqStep{
		write("history/rev2-put-w/a", 2, wPut("w/a", "a1")),
		write("history/rev3-put-w/b", 3, wPut("w/b", "b1")),
		write("history/rev4-put-w/a", 4, wPut("w/a", "a2")),
		write("history/rev5-txn", 5, wTxn(opPut("w/c", "c1"), opPut("w/b", "b2"), opDel(&pb.DeleteRangeRequest{Key: []byte("w/a")}))),
		write("history/rev6-put-x", 6, wPut("x", "x1")),
		write("history/rev7-delete-w/b", 7, wDel(&pb.DeleteRangeRequest{Key: []byte("w/b")})),
		write("history/rev8-put-w/a", 8, wPut("w/a", "a3")),
		write("history/rev9-delete-prefix", 9, wDel(&pb.DeleteRangeRequest{Key: []byte("w/"), RangeEnd: prefixEnd("w/")})),
		write("history/rev10-put-w/b", 10, wPut("w/b", "b3")),
	}
}

// watchReplaySteps watch from past revisions at revision 10; no writes.
func watchReplaySteps() []seqStep {
	b := func(s string) []byte { return []byte(s) }
	withPrevKV := func(r *pb.WatchCreateRequest) *pb.WatchCreateRequest { r.PrevKv = true; return r }
	withFilters := func(r *pb.WatchCreateRequest, f ...pb.WatchCreateRequest_FilterType) *pb.WatchCreateRequest {
		r.Filters = f
		return r
	}
	return []seqStep{
		replay("replay/key-from-2", &pb.WatchCreateRequest{Key: b("w/a"), StartRevision: 2}, true),
		replay("replay/key-from-5", &pb.WatchCreateRequest{Key: b("w/a"), StartRevision: 5}, true),
		replay("replay/key-prev-kv", &pb.WatchCreateRequest{Key: b("w/a"), StartRevision: 2, PrevKv: true}, true),
		replay("replay/prefix-from-1", watchPrefix("w/", 1), true),
		replay("replay/prefix-from-3", watchPrefix("w/", 3), true),
		replay("replay/prefix-prev-kv", withPrevKV(watchPrefix("w/", 2)), true),
		replay("replay/prefix-noput", withFilters(watchPrefix("w/", 2), pb.WatchCreateRequest_NOPUT), true),
		replay("replay/prefix-nodelete", withFilters(watchPrefix("w/", 2), pb.WatchCreateRequest_NODELETE), true),
		replay("replay/prefix-noput-prev-kv", withPrevKV(withFilters(watchPrefix("w/", 2), pb.WatchCreateRequest_NOPUT)), true),
		replay("replay/prefix-both-filters", withFilters(watchPrefix("w/", 2), pb.WatchCreateRequest_NOPUT, pb.WatchCreateRequest_NODELETE), false),
		replay("replay/interval", &pb.WatchCreateRequest{Key: b("w/b"), RangeEnd: b("w/c"), StartRevision: 2}, true),
		replay("replay/from-key", &pb.WatchCreateRequest{Key: b("w/c"), RangeEnd: b("\x00"), StartRevision: 2}, true),
		replay("replay/all-keys", &pb.WatchCreateRequest{Key: b("\x00"), RangeEnd: b("\x00"), StartRevision: 2, PrevKv: true}, true),
		replay("replay/empty-key-all", &pb.WatchCreateRequest{RangeEnd: b("\x00"), StartRevision: 6}, true),
		replay("replay/start-current", watchPrefix("w/", 10), true),
		replay("replay/missing-key", &pb.WatchCreateRequest{Key: b("nokey"), StartRevision: 1}, false),
		replay("replay/client-watch-id", &pb.WatchCreateRequest{Key: b("w/b"), StartRevision: 3, WatchId: 7}, true),
		negativeStart(),
		replay("create/range-end-before-key", &pb.WatchCreateRequest{Key: b("w/c"), RangeEnd: b("w/a"), StartRevision: 2}, false),
		{name: "create/ids-and-duplicate", do: watchIDs},
	}
}

// negativeStart creates a watcher with start_revision -1. etcd 3.4.23 accepts it as an ordinary
// watcher (its catch-up then races with anything that follows); etcd >= 3.5 rejects it in the
// created response with the compacted error, which is what docs/ETCD-API.md "Watch" pins.
func negativeStart() seqStep {
	s := replay("create/negative-start", &pb.WatchCreateRequest{Key: []byte("w/a"), StartRevision: -1}, false)
	s.fixed = []proto.Message{&pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 10}, WatchId: -1, Created: true,
		Canceled: true, CancelReason: "etcdserver: mvcc: required revision has been compacted"}}
	s.fixedWhy = "etcd 3.4 accepts a negative start revision; etcd >= 3.5 rejects it as compacted"
	return s
}

// watchIDs creates watchers one after the other on one stream (server-assigned IDs count from
// 0 and skip client-chosen ones), tries a duplicate client ID, cancels an unknown ID (no reply)
// and then the real ones.
func watchIDs(ctx context.Context, e *env, m int) ([]proto.Message, error) {
	var out []proto.Message
	if _, err := e.prime(ctx, m); err != nil {
		return out, err
	}
	w, err := e.openWatch(ctx, m, &out)
	if err != nil {
		return out, err
	}
	reqs := []*pb.WatchCreateRequest{
		{Key: []byte("w/b"), StartRevision: 10},             // auto: 0
		{Key: []byte("w/b"), StartRevision: 10, WatchId: 1}, // client-chosen 1
		{Key: []byte("w/b"), StartRevision: 10},             // auto: skips 1, gets 2
		{Key: []byte("w/b"), StartRevision: 10, WatchId: 2}, // duplicate: rejected
		{Key: []byte("w/b")},                                // auto: 3, from now
	}
	var ids []int64
	for _, req := range reqs {
		c, err := w.create(req)
		if err != nil {
			return out, err
		}
		if !watchCreated(c) {
			continue
		}
		ids = append(ids, c.WatchId)
		if req.StartRevision != 0 {
			// One catch-up at a time: events of two catch-ups on one stream come in map order.
			if err := w.untilRev(10); err != nil {
				return out, err
			}
		}
	}
	if err := w.stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 99}}}); err != nil {
		return out, err
	}
	for _, id := range ids {
		if err := w.cancel(id); err != nil {
			return out, err
		}
	}
	return out, nil
}

// liveWatch primes member m, creates req there and runs writes through the next member; after
// each write it waits for the watcher's response carrying that revision, unless the write is
// expected to be filtered out (silent). The write responses are recorded in between.
func liveWatch(name string, req *pb.WatchCreateRequest, writes ...liveWrite) seqStep {
	return seqStep{name: name, do: func(ctx context.Context, e *env, m int) ([]proto.Message, error) {
		var out []proto.Message
		if _, err := e.prime(ctx, m); err != nil {
			return out, err
		}
		w, err := e.openWatch(ctx, m, &out)
		if err != nil {
			return out, err
		}
		c, err := w.create(proto.Clone(req).(*pb.WatchCreateRequest))
		if err != nil || !watchCreated(c) {
			return out, err
		}
		for i, wr := range writes {
			r, err := wr.do(ctx, e.kvs[e.other(m)])
			if err != nil {
				return out, fmt.Errorf("write %d: %w", i, err)
			}
			out = append(out, r)
			if wr.silent {
				continue
			}
			rev := headerRevision(r)
			if req.StartRevision > rev {
				continue // before the watcher's start: nothing may arrive
			}
			if err := w.untilRev(rev); err != nil {
				return out, err
			}
		}
		return out, w.cancel(c.WatchId)
	}}
}

// liveWrite is one write of a liveWatch step; silent means the watcher must not see it (the
// cancel at the end of the step catches it if it does).
type liveWrite struct {
	do     func(ctx context.Context, kv pb.KVClient) (proto.Message, error)
	silent bool
}

func seen(do func(ctx context.Context, kv pb.KVClient) (proto.Message, error)) liveWrite {
	return liveWrite{do: do}
}

func silent(do func(ctx context.Context, kv pb.KVClient) (proto.Message, error)) liveWrite {
	return liveWrite{do: do, silent: true}
}

// watchLiveSteps write while watching; they start at revision 10 and end at revision 27.
func watchLiveSteps() []seqStep {
	b := func(s string) []byte { return []byte(s) }
	prefix := func(p string, f ...pb.WatchCreateRequest_FilterType) *pb.WatchCreateRequest {
		r := watchPrefix(p, 0)
		r.Filters = f
		return r
	}
	prevKV := prefix("w/")
	prevKV.PrevKv = true
	return []seqStep{
		// revisions 11..13: a put, a txn with two events inside w/ and one outside, a delete.
		liveWatch("live/prefix-prev-kv", prevKV,
			seen(wPut("w/b", "b4")),
			seen(wTxn(opPut("w/l", "l1"), opPut("x", "x2"), opDel(&pb.DeleteRangeRequest{Key: []byte("w/b")}))),
			seen(wDel(&pb.DeleteRangeRequest{Key: b("w/l")}))),
		// revisions 14..15: the put is filtered out, the delete is delivered.
		liveWatch("live/noput", prefix("w/", pb.WatchCreateRequest_NOPUT),
			silent(wPut("w/n", "n1")),
			seen(wDel(&pb.DeleteRangeRequest{Key: b("w/n")}))),
		// revisions 16..18.
		liveWatch("live/nodelete", prefix("w/", pb.WatchCreateRequest_NODELETE),
			seen(wPut("w/n", "n2")),
			silent(wDel(&pb.DeleteRangeRequest{Key: b("w/n")})),
			seen(wPut("w/n", "n3"))),
		// revisions 19..20: outside the watched key, then the key.
		liveWatch("live/key-outside-then-inside", &pb.WatchCreateRequest{Key: b("w/n"), PrevKv: true},
			silent(wPut("w/o", "o1")),
			seen(wPut("w/n", "n4"))),
		// revisions 21..23; the watcher starts at 22: revision 21 must not arrive.
		liveWatch("live/future-start", watchPrefix("w/", 22),
			silent(wPut("w/f", "f1")),
			seen(wPut("w/f", "f2")),
			seen(wPut("w/f", "f3"))),
		{name: "live/future-start-far", do: futureStartFar},
		// revision 27: a catch-up from revision 20, then a live event on the same watcher.
		{name: "live/replay-then-live", do: replayThenLive},
		{name: "live/progress-request", do: progressRequest},
	}
}

// replayThenLive watches w/ with prev_kv from revision 20, waits for the catch-up (revisions
// 20..26), writes revision 27 and waits for it: the switch from catch-up to live delivery must
// neither lose nor repeat an event.
func replayThenLive(ctx context.Context, e *env, m int) ([]proto.Message, error) {
	var out []proto.Message
	if _, err := e.prime(ctx, m); err != nil {
		return out, err
	}
	w, err := e.openWatch(ctx, m, &out)
	if err != nil {
		return out, err
	}
	req := watchPrefix("w/", 20)
	req.PrevKv = true
	c, err := w.create(req)
	if err != nil || !watchCreated(c) {
		return out, err
	}
	if err := w.untilRev(c.Header.Revision); err != nil {
		return out, err
	}
	r, err := wPut("w/f", "f-live")(ctx, e.kvs[e.other(m)])
	if err != nil {
		return out, err
	}
	out = append(out, r)
	if err := w.untilRev(headerRevision(r)); err != nil {
		return out, err
	}
	return out, w.cancel(c.WatchId)
}

// progressRequest asks for progress on a stream whose only watcher is synced: the answer is
// one response with watch_id -1 at the current revision.
func progressRequest(ctx context.Context, e *env, m int) ([]proto.Message, error) {
	var out []proto.Message
	if _, err := e.prime(ctx, m); err != nil {
		return out, err
	}
	w, err := e.openWatch(ctx, m, &out)
	if err != nil {
		return out, err
	}
	c, err := w.create(watchPrefix("w/", 0))
	if err != nil || !watchCreated(c) {
		return out, err
	}
	if err := w.stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}); err != nil {
		return out, err
	}
	if _, err := w.recvUntil(func(r *pb.WatchResponse) bool { return r.WatchId == -1 }); err != nil {
		return out, err
	}
	return out, w.cancel(c.WatchId)
}

// futureStartFar creates a watcher far beyond the current revision, writes (nothing may
// arrive) and cancels it: the cancel is the only response after created.
func futureStartFar(ctx context.Context, e *env, m int) ([]proto.Message, error) {
	var out []proto.Message
	rev, err := e.prime(ctx, m)
	if err != nil {
		return out, err
	}
	w, err := e.openWatch(ctx, m, &out)
	if err != nil {
		return out, err
	}
	c, err := w.create(watchPrefix("w/", rev+1000))
	if err != nil || !watchCreated(c) {
		return out, err
	}
	for i := range 3 {
		r, err := wPut("w/far", fmt.Sprint(i))(ctx, e.kvs[e.other(m)])
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	// The watching member must have applied the writes before the cancel.
	if _, err := e.prime(ctx, m); err != nil {
		return out, err
	}
	return out, w.cancel(c.WatchId)
}

// watchCompactSteps compact at revision 24 and watch around the compaction point.
func watchCompactSteps() []seqStep {
	withPrevKV := func(r *pb.WatchCreateRequest) *pb.WatchCreateRequest { r.PrevKv = true; return r }
	return []seqStep{
		write("compact/write-w/f", 28, wPut("w/f", "f4")),
		write("compact/at-24", 28, func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
			return kv.Compact(ctx, &pb.CompactionRequest{Revision: 24})
		}),
		{name: "compact/watch-below", do: watchCompacted(watchPrefix("w/", 10))},
		{name: "compact/watch-just-below", do: watchCompacted(&pb.WatchCreateRequest{Key: []byte("w/f"), StartRevision: 23, PrevKv: true})},
		replay("compact/watch-at-compaction-point", withPrevKV(watchPrefix("w/", 24)), true),
		replay("compact/watch-after-compaction-point", withPrevKV(watchPrefix("w/", 25)), true),
	}
}

// watchCompacted creates a watcher below the compaction point on a primed member and waits
// for it to be canceled.
func watchCompacted(req *pb.WatchCreateRequest) func(ctx context.Context, e *env, m int) ([]proto.Message, error) {
	return func(ctx context.Context, e *env, m int) ([]proto.Message, error) {
		var out []proto.Message
		if _, err := e.prime(ctx, m); err != nil {
			return out, err
		}
		w, err := e.openWatch(ctx, m, &out)
		if err != nil {
			return out, err
		}
		c, err := w.create(proto.Clone(req).(*pb.WatchCreateRequest))
		if err != nil || !watchCreated(c) {
			return out, err
		}
		_, err = w.recvUntil(func(r *pb.WatchResponse) bool { return r.Canceled })
		return out, err
	}
}
