package raftstore

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// pipelineHangGuard bounds each wait of the pipeline tests; a hang guard, not a timing check.
const pipelineHangGuard = 20 * time.Second

// startNetTransport serves raft's network transport over a PeerMux on a loopback port.
func startNetTransport(t *testing.T) (raft.Transport, raft.ServerAddress) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewPeerMux(ln, nil, nil)
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	trans := NewNetworkTransport(m, nil, 0)
	t.Cleanup(func() {
		// CloseStreams closes the pooled outgoing connections, so the peers' connection
		// handlers end too.
		trans.(*raft.NetworkTransport).CloseStreams()
		_ = trans.(raft.WithClose).Close()
		_ = m.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return trans, raft.ServerAddress(ln.Addr().String())
}

// TestPipelineRejectionDoesNotBlockSender replays, on raft's real network transport, the
// sequence that stalls hashicorp/raft's replication to a follower (see guardedTransport):
// the follower rejects one pipelined AppendEntries, the consumer of the pipeline's responses
// stops there as raft's pipelineDecode does, and the sender goes on sending. Without the
// relay the third send blocks forever (the transport's decoder waits to hand over the second
// response, which nobody reads); with it, the pipeline is closed once the rejection is
// forwarded, so a send fails (ErrPipelineShutdown, or a write error on the released
// connection) and raft would fall back to plain AppendEntries.
func TestPipelineRejectionDoesNotBlockSender(t *testing.T) {
	follower, addr := startNetTransport(t)
	leader, _ := startNetTransport(t)

	// The follower rejects its first AppendEntries and accepts the others.
	stopFollower := make(chan struct{})
	followerDone := make(chan struct{})
	go func() {
		defer close(followerDone)
		for n := 0; ; n++ {
			select {
			case rpc := <-follower.Consumer():
				req, ok := rpc.Command.(*raft.AppendEntriesRequest)
				if !ok {
					rpc.Respond(nil, errors.New("unexpected rpc"))
					continue
				}
				rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term, Success: n > 0}, nil)
			case <-stopFollower:
				return
			}
		}
	}()
	defer func() { close(stopFollower); <-followerDone }()

	g := newGuardedTransport(leader)
	p, err := g.AppendEntriesPipeline("follower", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()

	// The consumer stops at the first response that is not a success, as pipelineDecode does.
	rejected := make(chan bool, 1)
	go func() {
		f := <-p.Consumer()
		rejected <- !f.Response().Success
	}()

	// The sender sends requests with entries until a send fails, as pipelineSend does.
	const sends = 10
	sendErr := make(chan error, 1)
	go func() {
		for i := range uint64(sends) {
			req := &raft.AppendEntriesRequest{Term: 1, PrevLogEntry: i, PrevLogTerm: 1, LeaderCommitIndex: i,
				Entries: []*raft.Log{{Index: i + 1, Term: 1, Type: raft.LogCommand, Data: []byte("x")}}}
			if _, err := p.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()

	select {
	case r := <-rejected:
		if !r {
			t.Fatal("the first response is a success, want the follower's rejection")
		}
	case <-time.After(pipelineHangGuard):
		t.Fatal("no response reached the pipeline's consumer")
	}
	select {
	case err := <-sendErr:
		if err == nil {
			t.Fatalf("all %d sends succeeded after the rejection, want one to fail once the pipeline is closed", sends)
		}
		t.Logf("a send after the rejection failed: %v", err)
	case <-time.After(pipelineHangGuard):
		// Unblock the sender so the test ends; the failure is the block itself.
		_ = p.Close()
		<-sendErr
		t.Fatal("a send after the rejection blocked: the pipeline was not closed once its consumer stopped")
	}
}

// flakyLogStore fails one StoreLogs call in every failEvery while failing is set, which makes
// raft's appendEntries handler reject the request (Success false), as a follower does whose
// disk write fails.
type flakyLogStore struct {
	*raft.InmemStore
	failEvery int64
	failing   atomic.Bool
	calls     atomic.Int64
	failed    atomic.Int64
}

func (s *flakyLogStore) StoreLogs(logs []*raft.Log) error {
	if s.failing.Load() && s.calls.Add(1)%s.failEvery == 0 {
		s.failed.Add(1)
		return errors.New("injected log store failure")
	}
	return s.InmemStore.StoreLogs(logs)
}

func (s *flakyLogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// nopFSM applies nothing; the test watches raft's log indexes.
type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnapshot{}, nil }
func (nopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type nopSnapshot struct{}

func (nopSnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (nopSnapshot) Release()                             {}

// TestReplicationSurvivesPipelinedRejections runs three hashicorp/raft members on Keel's peer
// transport (PeerMux, raft's network transport, guardedTransport) under write load and makes
// one follower's log store fail now and then, so that follower rejects pipelined
// AppendEntries many times. Each rejection is a chance for raft's pipeline replication to
// deadlock (see guardedTransport); the test fails if the follower has not caught up with the
// leader's log once the load stops.
func TestReplicationSurvivesPipelinedRejections(t *testing.T) {
	const members, rejections = 3, 40
	rafts := make([]*raft.Raft, members)
	stores := make([]*flakyLogStore, members)
	guards := make([]*guardedTransport, members)
	var conf raft.Configuration
	transports := make([]raft.Transport, members)
	for i := range members {
		trans, addr := startNetTransport(t)
		transports[i] = trans
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(fmt.Sprint(i)), Address: addr})
	}
	for i := range members {
		rc := raft.DefaultConfig()
		rc.LocalID = conf.Servers[i].ID
		rc.Logger = newHCLog(slog.New(slog.DiscardHandler))
		// Keel's defaults (Config.ElectionTimeout, DefaultCommitTimeout): a leader change
		// would restart replication and hide a stall.
		rc.HeartbeatTimeout, rc.ElectionTimeout = time.Second, time.Second
		rc.CommitTimeout = DefaultCommitTimeout
		stores[i] = &flakyLogStore{InmemStore: raft.NewInmemStore(), failEvery: 10}
		guards[i] = newGuardedTransport(transports[i])
		stable := raft.NewInmemStore()
		if err := raft.BootstrapCluster(rc, stores[i], stable, raft.NewInmemSnapshotStore(), guards[i], conf); err != nil {
			t.Fatal(err)
		}
		r, err := raft.NewRaft(rc, nopFSM{}, stores[i], stable, raft.NewInmemSnapshotStore(), guards[i])
		if err != nil {
			t.Fatal(err)
		}
		rafts[i] = r
	}
	defer func() {
		for i, r := range rafts {
			f := r.Shutdown()
			guards[i].closePipelines()
			if err := f.Error(); err != nil {
				t.Errorf("shutdown %d: %v", i, err)
			}
		}
	}()

	leader := -1
	deadline := time.Now().Add(pipelineHangGuard)
	for leader < 0 {
		for i, r := range rafts {
			if r.State() == raft.Leader {
				leader = i
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader elected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	flaky := (leader + 1) % members

	// Write load from a few clients, so the leader's replication always has entries to send.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := rafts[leader].Apply([]byte("x"), pipelineHangGuard).Error(); errors.Is(err, raft.ErrNotLeader) {
					return
				}
			}
		}()
	}
	stores[flaky].failing.Store(true)
	deadline = time.Now().Add(pipelineHangGuard)
	for stores[flaky].failed.Load() < rejections && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stores[flaky].failing.Store(false)
	close(stop)
	wg.Wait()
	got := stores[flaky].failed.Load()
	if rafts[leader].State() != raft.Leader {
		t.Fatal("the leader lost its leadership during the load; replication to the follower was restarted")
	}
	if got < rejections {
		t.Fatalf("the follower's log store failed %d times, want %d: the follower stopped receiving entries", got, rejections)
	}

	// Once the load stops, the follower must reach the leader's last index.
	want := rafts[leader].LastIndex()
	deadline = time.Now().Add(pipelineHangGuard)
	for rafts[flaky].LastIndex() < want {
		if time.Now().After(deadline) {
			t.Fatalf("after %d rejected appends the follower's log stayed at index %d, the leader's is at %d",
				got, rafts[flaky].LastIndex(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
