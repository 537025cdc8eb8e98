package watchscale_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc"
)

// watcherState is one watcher's range and everything it has received, across sessions. It is
// owned by its stream's receive goroutine while a session runs and by the stream's run
// goroutine between sessions; the test goroutine reads it only after run has returned.
type watcherState struct {
	key, end []byte
	// revs and hashes are the received events in arrival order: mod revision and
	// eventHash(key, value).
	revs   []int64
	hashes []uint64
	// last is the revision of the last received event, or start-1 before the first one.
	last int64
	// bad records events that were not plain PUTs of a key inside the range.
	bad []string
}

// sample is one received event for the latency report: the put's ID and how long after its
// send the event arrived.
type sample struct {
	id  int32
	lat time.Duration
}

// shared is the state the streams share with the test goroutine.
type shared struct {
	// sendNanos[id] is the UnixNano at which put id was sent (stored before sending).
	sendNanos []atomic.Int64
	// created counts created responses over all streams and sessions.
	created atomic.Int64
	// target is the final revision of the history once known (0 before): a stream finishes
	// when a progress response at or above it arrives.
	target atomic.Int64
	// maxRecv is the highest event revision any watcher has received.
	maxRecv atomic.Int64

	mu sync.Mutex
	// errs guarded by mu: protocol violations (unexpected cancels, bad responses).
	errs []string
}

func (sh *shared) fail(format string, args ...any) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.errs) < 50 {
		sh.errs = append(sh.errs, fmt.Sprintf(format, args...))
	}
}

func (sh *shared) failures() []string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return append([]string(nil), sh.errs...)
}

// stream is one gRPC watch stream carrying len(ws) watchers with watch IDs 1..len(ws). Across
// sessions (a new gRPC stream after every break) it recreates each watcher from its last
// received revision + 1.
type stream struct {
	idx    int
	client pb.WatchClient
	sh     *shared
	ws     []*watcherState

	// Owned by run and its receive goroutine (one at a time, handed over via recvDone).
	samples  []sample
	sessions int
	lastErr  error
	// finished is set once a progress response reached the target; read it after run returns.
	finished bool
}

// errFinished ends a session once the stream has seen a progress response at the target.
var errFinished = errors.New("watchscale: stream reached the target revision")

// run opens sessions until the stream reaches the target revision or ctx ends.
func (s *stream) run(ctx context.Context) {
	for ctx.Err() == nil {
		s.sessions++
		err := s.session(ctx)
		if errors.Is(err, errFinished) {
			s.finished = true
			return
		}
		s.lastErr = err
		// A short pause between failed sessions, so that a member that refuses streams is not
		// hammered; reaching the member again is awaited by WaitForReady in session.
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// session runs one gRPC watch stream: creates every watcher from its last revision + 1, then
// receives until the stream breaks or finishes. Requests are sent only from this goroutine.
func (s *stream) session(ctx context.Context) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wc, err := s.client.Watch(sctx, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("open watch stream: %w", err)
	}
	starts := make([]int64, len(s.ws))
	for j, w := range s.ws {
		starts[j] = w.last + 1
	}
	recvDone := make(chan error, 1)
	go func() { recvDone <- s.recv(wc) }()
	for j, w := range s.ws {
		req := &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
			Key: w.key, RangeEnd: w.end, StartRevision: starts[j], WatchId: int64(j + 1),
		}}}
		if err := wc.Send(req); err != nil {
			cancel()
			<-recvDone
			return fmt.Errorf("send create: %w", err)
		}
	}
	// Progress requests are answered only while every watcher of the stream is synced, so
	// they are repeated until one reports the target revision.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-recvDone:
			return err
		case <-tick.C:
			if s.sh.target.Load() == 0 {
				continue
			}
			req := &pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}
			if err := wc.Send(req); err != nil {
				cancel()
				return errors.Join(fmt.Errorf("send progress: %w", err), <-recvDone)
			}
		}
	}
}

// recv handles responses until the stream breaks or reaches the target.
func (s *stream) recv(wc pb.Watch_WatchClient) error {
	for {
		resp, err := wc.Recv()
		if err != nil {
			return err
		}
		now := time.Now()
		switch {
		case resp.Created && resp.Canceled:
			s.sh.fail("stream %d: create of watch %d refused: %q", s.idx, resp.WatchId, resp.CancelReason)
		case resp.Created:
			s.sh.created.Add(1)
		case resp.Canceled:
			s.sh.fail("stream %d: watch %d canceled: compact_revision=%d reason=%q",
				s.idx, resp.WatchId, resp.CompactRevision, resp.CancelReason)
		case resp.WatchId == -1 && len(resp.Events) == 0:
			if t := s.sh.target.Load(); t > 0 && resp.Header.GetRevision() >= t {
				return errFinished
			}
		default:
			s.events(resp, now)
		}
	}
}

func (s *stream) events(resp *pb.WatchResponse, now time.Time) {
	j := int(resp.WatchId) - 1
	if j < 0 || j >= len(s.ws) {
		s.sh.fail("stream %d: %d events for unknown watch ID %d", s.idx, len(resp.Events), resp.WatchId)
		return
	}
	w := s.ws[j]
	if n := len(resp.Events); n > 0 {
		rev := resp.Events[n-1].Kv.ModRevision
		for r := s.sh.maxRecv.Load(); rev > r && !s.sh.maxRecv.CompareAndSwap(r, rev); r = s.sh.maxRecv.Load() {
		}
	}
	for _, e := range resp.Events {
		kv := e.Kv
		if e.Type != mvccpb.PUT || !inRange(kv.Key, w.key, w.end) {
			if len(w.bad) < 5 {
				w.bad = append(w.bad, fmt.Sprintf("%v %q rev %d", e.Type, kv.Key, kv.ModRevision))
			}
		}
		w.revs = append(w.revs, kv.ModRevision)
		w.hashes = append(w.hashes, eventHash(kv.Key, kv.Value))
		w.last = kv.ModRevision
		if id, err := strconv.Atoi(string(kv.Value)); err == nil && id >= 0 && id < len(s.sh.sendNanos) {
			if sent := s.sh.sendNanos[id].Load(); sent != 0 {
				s.samples = append(s.samples, sample{id: int32(id), lat: time.Duration(now.UnixNano() - sent)})
			}
		}
	}
}

// eventHash identifies a put's key and value: FNV-1a over key, a zero byte and value, inline
// to keep the receive path free of allocations.
func eventHash(key, value []byte) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, b := range key {
		h = (h ^ uint64(b)) * prime
	}
	h *= prime // the zero separator: h ^ 0 == h
	for _, b := range value {
		h = (h ^ uint64(b)) * prime
	}
	return h
}

// inRange reports whether key is in the watch range [key, end) with etcd's conventions (end
// empty: the single key).
func inRange(key, start, end []byte) bool {
	if len(end) == 0 {
		return string(key) == string(start)
	}
	return string(key) >= string(start) && string(key) < string(end)
}
