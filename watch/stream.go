package watch

import (
	"errors"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Response is one message for a stream: events, or a created, canceled or progress notice.
type Response struct {
	// WatchID is the watcher, or -1 for a stream-wide progress response.
	WatchID int64
	// Rev is the header revision: the notified revision when the response was made (0 on a
	// compaction cancel, as in etcd).
	Rev int64
	// Events are ordered by revision; all events of one revision are in one Response.
	Events       []*mvccpb.Event
	Created      bool
	Canceled     bool
	CompactRev   int64
	CancelReason string
	// Fragment asks the sender to split this response if it is too large (the watcher was
	// created with fragment).
	Fragment bool
}

// Request creates a watcher.
type Request struct {
	Key, End []byte
	// StartRev is the first revision to deliver; 0 means after the current revision.
	StartRev       int64
	PrevKV         bool
	NoPut          bool
	NoDelete       bool
	ProgressNotify bool
	Fragment       bool
	// ID is the client-chosen watch ID; 0 lets the stream choose.
	ID int64
}

// Errors returned by Stream.Watch.
var (
	// ErrIDInUse is returned for a client-chosen ID already used on the stream.
	ErrIDInUse = errors.New("watch: watch ID already in use")
	// ErrEmptyRange is returned when End is not after Key.
	ErrEmptyRange = errors.New("watch: watcher range is empty")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("watch: stream closed")
)

type watcher struct {
	s                 *Stream
	id                int64
	key, end          []byte
	start             int64
	next              int64 // guarded by Hub.mu
	prevKV            bool
	noPut, noDelete   bool
	progressNotify    bool
	fragment          bool
	sentSinceProgress bool // guarded by Hub.mu
}

// filter returns the events w wants, without PrevKv unless asked.
func (w *watcher) filter(evs []*mvccpb.Event) []*mvccpb.Event {
	var out []*mvccpb.Event
	for _, e := range evs {
		if !inRange(e.Kv.Key, w.key, w.end) {
			continue
		}
		if (e.Type == mvccpb.PUT && w.noPut) || (e.Type == mvccpb.DELETE && w.noDelete) {
			continue
		}
		if !w.prevKV && e.PrevKv != nil {
			e = &mvccpb.Event{Type: e.Type, Kv: e.Kv}
		}
		out = append(out, e)
	}
	return out
}

// Stream is one client stream of watchers with an ordered outbox. Safe for concurrent use.
type Stream struct {
	h     *Hub
	limit int

	mu sync.Mutex
	// guarded by mu
	watchers map[int64]*watcher
	nextID   int64
	queue    []Response
	events   int // event responses in queue
	closed   bool
	ready    chan struct{} // closed and replaced when queue becomes non-empty
}

// NewStream opens a stream on h.
func (h *Hub) NewStream() *Stream {
	return &Stream{h: h, limit: h.cfg.OutboxLimit, watchers: map[int64]*watcher{}, ready: make(chan struct{})}
}

// Watch creates a watcher and queues its created response (with the current revision)
// ahead of any of its events. With StartRev 0 it starts after the current revision.
func (s *Stream) Watch(r Request) (int64, error) {
	if len(r.Key) == 0 {
		r.Key = []byte{0}
	}
	if len(r.End) > 0 && !(len(r.End) == 1 && r.End[0] == 0) && string(r.End) <= string(r.Key) {
		return -1, ErrEmptyRange
	}
	w := &watcher{s: s, key: r.Key, end: r.End, prevKV: r.PrevKV, noPut: r.NoPut, noDelete: r.NoDelete,
		progressNotify: r.ProgressNotify, fragment: r.Fragment}
	// The hub lock orders this created response before any event Notify may queue for w.
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return -1, ErrClosed
	}
	id := r.ID
	if id == 0 {
		for s.watchers[s.nextID] != nil {
			s.nextID++
		}
		id = s.nextID
		s.nextID++
	} else if s.watchers[id] != nil {
		s.mu.Unlock()
		return -1, ErrIDInUse
	}
	w.id = id
	w.start = r.StartRev
	if w.start == 0 {
		w.start = s.h.rev + 1
	}
	w.next = w.start
	s.watchers[id] = w
	s.pushLocked(Response{WatchID: id, Rev: s.h.rev, Created: true}, false)
	s.mu.Unlock()
	if w.next <= s.h.rev {
		s.h.unsynced[w] = struct{}{}
		s.h.kickLocked()
	} else {
		s.h.synced.add(w)
	}
	return id, nil
}

// Cancel removes watcher id and queues its canceled response. Unknown IDs return false and
// queue nothing.
func (s *Stream) Cancel(id int64) bool {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.watchers[id]
	if w == nil {
		return false
	}
	delete(s.watchers, id)
	s.h.synced.remove(w)
	delete(s.h.unsynced, w)
	s.pushLocked(Response{WatchID: id, Rev: s.h.rev, Canceled: true}, false)
	return true
}

// RequestProgress queues a stream-wide progress response (WatchID -1) at the current
// revision, but only if every watcher of the stream is synced and none starts in the future;
// otherwise nothing is sent (etcd's rule).
func (s *Stream) RequestProgress() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.watchers) == 0 {
		return
	}
	for _, w := range s.watchers {
		if !s.h.synced.contains(w) || w.start > s.h.rev+1 {
			return
		}
	}
	s.pushLocked(Response{WatchID: -1, Rev: s.h.rev}, false)
}

// Next returns the queued responses (in order), waiting until there is one or done closes.
func (s *Stream) Next(done <-chan struct{}) ([]Response, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			out := s.queue
			s.queue, s.events = nil, 0
			s.mu.Unlock()
			return out, nil
		}
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		ready := s.ready
		s.mu.Unlock()
		select {
		case <-ready:
		case <-done:
			return nil, ErrClosed
		}
	}
}

// Close removes every watcher of the stream.
func (s *Stream) Close() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.watchers {
		s.h.synced.remove(w)
		delete(s.h.unsynced, w)
	}
	s.watchers = map[int64]*watcher{}
	s.closed = true
	close(s.ready)
	s.ready = make(chan struct{})
}

// offer queues an event response unless the outbox is full. Requires Hub.mu held.
func (s *Stream) offer(r Response) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true // dropped with the stream
	}
	if s.events >= s.limit {
		return false
	}
	if w := s.watchers[r.WatchID]; w != nil {
		r.Fragment = w.fragment
	}
	s.pushLocked(r, true)
	return true
}

// offerControl queues a control response regardless of the outbox limit. Requires Hub.mu held.
func (s *Stream) offerControl(r Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.pushLocked(r, false)
	}
}

// dropCompacted removes w and queues its compaction cancel. Requires Hub.mu held.
//
// The response has header revision 0, as etcd's (its watcherGroup.chooseAll sends
// WatchResponse{WatchID, CompactRevision} without a revision); tests/compat pins this.
func (s *Stream) dropCompacted(w *watcher, compact int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchers[w.id] != w {
		return
	}
	delete(s.watchers, w.id)
	s.pushLocked(Response{WatchID: w.id, Canceled: true, CompactRev: compact}, false)
}

// requires s.mu held
func (s *Stream) pushLocked(r Response, isEvent bool) {
	s.queue = append(s.queue, r)
	if isEvent {
		s.events++
	}
	if len(s.queue) == 1 {
		close(s.ready)
		s.ready = make(chan struct{})
	}
}

// Reject queues a response for a watch that was not created (bad range, negative start
// revision), in order with the stream's other responses.
func (s *Stream) Reject(r Response) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if r.Rev == 0 {
		r.Rev = s.h.rev
	}
	s.offerControl(r)
}
