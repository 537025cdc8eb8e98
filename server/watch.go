package server

import (
	"context"
	"errors"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/keeldb/keel/internal/failpoint"
	"github.com/keeldb/keel/watch"
)

type watchServer struct {
	pb.UnimplementedWatchServer
	s *Server
}

// Watch serves one client stream: a receive loop creating and canceling watchers, and this
// goroutine sending the stream's ordered outbox.
func (ws *watchServer) Watch(stream grpc.BidiStreamingServer[pb.WatchRequest, pb.WatchResponse]) error {
	s := ws.s
	st := s.hub.NewStream()
	defer st.Close()
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	recvErr := make(chan error, 1)
	go func() {
		recvErr <- ws.recvLoop(stream, st)
		cancel()
	}()
	if requiresLeader(stream.Context()) {
		go ws.monitorLeader(ctx, cancel, recvErr)
	}
	for {
		resps, err := st.Next(ctx.Done())
		if err != nil {
			select {
			case err := <-recvErr:
				return streamEndError(err)
			default:
				return rpctypes.ErrGRPCNoLeader
			}
		}
		for _, r := range resps {
			if s.cfg.UnsafeDropWatchEvents && len(r.Events) > 0 && s.eventResponses.Add(1)%unsafeDropEvery == 0 {
				if r.Events = r.Events[1:]; len(r.Events) == 0 {
					continue
				}
			}
			for _, out := range s.toWatchResponses(r) {
				failpoint.Inject(failpoint.BeforeSendWatchResponse)
				if err := stream.Send(out); err != nil {
					return err
				}
			}
		}
	}
}

// streamEndError is what the handler returns when the client's side ended.
func streamEndError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	if errors.Is(err, errNoLeaderStream) {
		return rpctypes.ErrGRPCNoLeader
	}
	return err
}

var errNoLeaderStream = errors.New("no leader")

// monitorLeader ends a hasleader stream after three election timeouts without a leader.
func (ws *watchServer) monitorLeader(ctx context.Context, cancel context.CancelFunc, errc chan<- error) {
	t := time.NewTicker(ws.s.cfg.ElectionTimeout)
	defer t.Stop()
	misses := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ws.s.node.Leader() != 0 {
			misses = 0
			continue
		}
		if misses++; misses >= 3 {
			select {
			case errc <- errNoLeaderStream:
			default:
			}
			cancel()
			return
		}
	}
}

func (ws *watchServer) recvLoop(stream grpc.BidiStreamingServer[pb.WatchRequest, pb.WatchResponse], st *watch.Stream) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		switch r := req.RequestUnion.(type) {
		case *pb.WatchRequest_CreateRequest:
			// The watcher's view (its "now", compaction, replay) includes every write this
			// member has acknowledged.
			if err := ws.s.readBarrier(stream.Context(), true); err != nil {
				return err
			}
			if err := ws.s.checkRead(stream.Context(), r.CreateRequest.Key, r.CreateRequest.RangeEnd); err != nil {
				// etcd answers a watch the caller may not read with a created-and-canceled
				// response naming the status.
				st.Reject(watch.Response{WatchID: r.CreateRequest.WatchId, Created: true, Canceled: true,
					CancelReason: err.Error()})
				continue
			}
			ws.create(st, r.CreateRequest)
		case *pb.WatchRequest_CancelRequest:
			st.Cancel(r.CancelRequest.WatchId)
		case *pb.WatchRequest_ProgressRequest:
			st.RequestProgress()
		}
	}
}

func (ws *watchServer) create(st *watch.Stream, c *pb.WatchCreateRequest) {
	if c.StartRevision < 0 {
		// cancel_reason is the bare message (ErrCompacted's), not the status text of
		// ErrGRPCCompacted.Error(), which starts with "rpc error: code = OutOfRange".
		st.Reject(watch.Response{WatchID: -1, Created: true, Canceled: true,
			CancelReason: rpctypes.ErrCompacted.Error()})
		return
	}
	req := watch.Request{Key: c.Key, End: c.RangeEnd, StartRev: c.StartRevision, PrevKV: c.PrevKv,
		ProgressNotify: c.ProgressNotify, Fragment: c.Fragment, ID: c.WatchId}
	for _, f := range c.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			req.NoPut = true
		case pb.WatchCreateRequest_NODELETE:
			req.NoDelete = true
		}
	}
	if _, err := st.Watch(req); err != nil {
		reason := err.Error()
		if errors.Is(err, watch.ErrEmptyRange) {
			reason = "mvcc: watcher range is empty"
		} else if errors.Is(err, watch.ErrIDInUse) {
			reason = "mvcc: duplicate watch ID provided on the WatchStream"
		}
		st.Reject(watch.Response{WatchID: -1, Created: true, Canceled: true, CancelReason: reason})
	}
}

// toWatchResponses converts a hub response, splitting it into fragments when the watcher
// asked for them and the response is larger than the request limit.
func (s *Server) toWatchResponses(r watch.Response) []*pb.WatchResponse {
	h := s.header()
	h.Revision = r.Rev
	out := &pb.WatchResponse{Header: h, WatchId: r.WatchID, Created: r.Created, Canceled: r.Canceled,
		CompactRevision: r.CompactRev, CancelReason: r.CancelReason, Events: r.Events}
	limit := s.cfg.MaxRequestBytes + grpcOverheadBytes
	if !r.Fragment || len(r.Events) < 2 || proto.Size(out) <= limit {
		return []*pb.WatchResponse{out}
	}
	var frags []*pb.WatchResponse
	var cur []*mvccpb.Event
	size := 0
	for _, e := range r.Events {
		es := proto.Size(e)
		if len(cur) > 0 && size+es > limit {
			frags = append(frags, &pb.WatchResponse{Header: h, WatchId: r.WatchID, Events: cur, Fragment: true})
			cur, size = nil, 0
		}
		cur = append(cur, e)
		size += es
	}
	frags = append(frags, &pb.WatchResponse{Header: h, WatchId: r.WatchID, Events: cur})
	return frags
}
