package watchscale_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/keeldb/keel/internal/proccluster"
)

var (
	flagSeed = flag.Uint64("watchscale.seed", 0, "seed for the writers' key choice; 0 picks one from the clock")
	flagPuts = flag.Int("watchscale.puts", 0, "total puts by the writers; 0 means 2000 (600 with -short)")
	flagRate = flag.Int("watchscale.rate", 300, "total puts per second over all writers")
)

// Sizes of the acceptance item: 100 streams x 100 watchers on one member, 4 writers.
const (
	numStreams        = 100
	watchersPerStream = 100
	numWatchers       = numStreams * watchersPerStream
	numWriters        = 4
	numConns          = 10 // gRPC connections the streams are spread over
	numSubs           = 10 // sub-prefixes ws/0/ .. ws/9/
	keysPerSub        = 10 // keys ws/<sub>/0 .. ws/<sub>/9
	prefix            = "ws/"
)

func keyName(k int) string { return fmt.Sprintf("%s%d/%d", prefix, k/keysPerSub, k%keysPerSub) }

// prefixEnd returns the range end covering every key with prefix p (p's last byte + 1).
func prefixEnd(p string) []byte {
	end := []byte(p)
	end[len(end)-1]++
	return end
}

// watchRange gives watcher g (0..9999) its range: 2% watch the whole prefix, 28% one
// sub-prefix, 70% a single key, spread so every stream mixes all three.
func watchRange(g int) (key, end []byte) {
	switch m := g % 100; {
	case m < 2:
		return []byte(prefix), prefixEnd(prefix)
	case m < 30:
		p := fmt.Sprintf("%s%d/", prefix, (g/100+m)%numSubs)
		return []byte(p), prefixEnd(p)
	default:
		return []byte(keyName((g * 7) % (numSubs * keysPerSub))), nil
	}
}

// put is one writer request and its outcome.
type put struct {
	id  int
	key string
	rev int64         // the response header revision; 0 when the put failed
	ack time.Duration // from send to response
	err error
}

// 10,000 watchers over 100 streams on one member, 4 writers on the other members, kill -9
// and restart of the watched member mid-run: every watcher sees exactly its part of the
// history, in order, once.
func TestTenThousandWatchersAcrossKill(t *testing.T) {
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	puts := *flagPuts
	if puts == 0 {
		puts = 2000
		if testing.Short() {
			puts = 600
		}
	}
	t.Logf("watchscale: seed=%d puts=%d rate=%d/s watchers=%d streams=%d (rerun with -watchscale.seed=%d)",
		seed, puts, *flagRate, numWatchers, numStreams, seed)

	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t), Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Watch a follower, so the writers (on the two other members) keep a quorum and a leader
	// while it is down.
	watched := (leader + 1) % c.Size()
	var others []int
	for i := range c.Size() {
		if i != watched {
			others = append(others, i)
		}
	}
	t.Logf("watchscale: leader m%d, watched member m%d, writers on %v", leader, watched, others)
	writers := make([]*clientv3.Client, numWriters)
	for w := range writers {
		writers[w] = c.Client(t, others...)
	}
	histCli := c.Client(t, others[0])

	get, err := histCli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	startRev := get.Header.Revision + 1
	logRSS(t, c, watched, "before watchers")

	sh := &shared{sendNanos: make([]atomic.Int64, puts)}
	streams := openStreams(t, c.Endpoint(watched), sh, startRev)
	sctx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	var streamWG sync.WaitGroup
	for _, s := range streams {
		streamWG.Go(func() { s.run(sctx) })
	}
	created := time.Now()
	waitFor(t, ctx, 2*time.Minute, "all watchers created", createdAtLeast(sh, numWatchers))
	t.Logf("watchscale: %d watchers created in %v", numWatchers, time.Since(created).Round(time.Millisecond))
	logRSS(t, c, watched, "watchers created")

	// Writers: a paced load of puts on the members that are not watched.
	results := make([][]put, numWriters)
	var acked atomic.Int64
	var writeWG sync.WaitGroup
	perWriter := puts / numWriters
	interval := time.Duration(float64(time.Second) * numWriters / float64(*flagRate))
	writeStart := time.Now()
	for w := range numWriters {
		writeWG.Go(func() {
			results[w] = runWriter(ctx, writers[w], sh, w, perWriter, interval, seed, &acked)
		})
	}
	totalPuts := int64(perWriter * numWriters)

	waitFor(t, ctx, 2*time.Minute, "writes before the kill", ackedAtLeast(&acked, totalPuts*35/100))
	killAt := time.Now()
	probe := startProbe(sctx, c, watched, others[0], sh, killAt)
	c.Kill(watched)
	t.Logf("watchscale: killed m%d (kill -9) after %d acknowledged puts", watched, acked.Load())
	waitFor(t, ctx, 2*time.Minute, "writes while the member is down", ackedAtLeast(&acked, totalPuts*55/100))
	c.Restart(watched)
	if err := c.WaitMember(ctx, watched); err != nil {
		t.Fatal(err)
	}
	t.Logf("watchscale: restarted m%d after %d acknowledged puts", watched, acked.Load())
	// Every stream broke once, so every watcher is created a second time.
	waitFor(t, ctx, 2*time.Minute, "all watchers recreated", createdAtLeast(sh, 2*numWatchers))
	recoveredAt := time.Now()
	t.Logf("watchscale: all watchers resumed %v after the kill", recoveredAt.Sub(killAt).Round(time.Millisecond))
	writeWG.Wait()
	writeTime := time.Since(writeStart)
	t.Logf("watchscale: writers: %d puts in %v (%.0f/s)", acked.Load(), writeTime.Round(time.Millisecond),
		float64(acked.Load())/writeTime.Seconds())

	var all []put
	for _, r := range results {
		all = append(all, r...)
	}
	final, err := histCli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	hist := readHistory(t, ctx, histCli, startRev, final.Header.Revision)
	checkAcked(t, hist, all)

	// Streams finish on a progress response at the final revision: it follows every event
	// up to that revision on the stream.
	sh.target.Store(final.Header.Revision)
	streamsDone := make(chan struct{})
	go func() { streamWG.Wait(); close(streamsDone) }()
	select {
	case <-streamsDone:
	case <-time.After(2 * time.Minute):
		stopStreams()
		<-streamsDone
		t.Errorf("streams did not reach revision %d within 2m", final.Header.Revision)
	}
	logRSS(t, c, watched, "end")
	t.Log(probe.wait())

	for _, f := range sh.failures() {
		t.Error(f)
	}
	checkWatchers(t, streams, hist, startRev)
	reportLatency(t, streams, sh, all, killAt, recoveredAt)
}

// openStreams dials numConns connections to endpoint and returns numStreams streams over them
// with watchersPerStream watchers each, starting at startRev. The connections are closed by
// t.Cleanup.
func openStreams(t *testing.T, endpoint string, sh *shared, startRev int64) []*stream {
	t.Helper()
	target := "passthrough:///" + endpoint[len("http://"):]
	clients := make([]pb.WatchClient, numConns)
	for i := range clients {
		// A short reconnect backoff, so streams resume soon after the member is back.
		conn, err := grpc.NewClient(target,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, MaxDelay: 500 * time.Millisecond},
				MinConnectTimeout: 2 * time.Second,
			}),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		clients[i] = pb.NewWatchClient(conn)
	}
	streams := make([]*stream, numStreams)
	for i := range streams {
		s := &stream{idx: i, client: clients[i%numConns], sh: sh}
		for j := range watchersPerStream {
			key, end := watchRange(i*watchersPerStream + j)
			s.ws = append(s.ws, &watcherState{key: key, end: end, last: startRev - 1})
		}
		streams[i] = s
	}
	return streams
}

// runWriter sends n puts of ids w*n .. w*n+n-1, one every interval, to random keys.
func runWriter(ctx context.Context, cli *clientv3.Client, sh *shared, w, n int, interval time.Duration, seed uint64, acked *atomic.Int64) []put {
	rng := rand.New(rand.NewPCG(seed, uint64(w)))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	out := make([]put, 0, n)
	for i := range n {
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
		p := put{id: w*n + i, key: keyName(rng.IntN(numSubs * keysPerSub))}
		sent := time.Now()
		sh.sendNanos[p.id].Store(sent.UnixNano())
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := cli.Put(pctx, p.key, strconv.Itoa(p.id))
		cancel()
		p.ack = time.Since(sent)
		if err != nil {
			p.err = err
		} else {
			p.rev = resp.Header.Revision
			acked.Add(1)
		}
		out = append(out, p)
	}
	return out
}

// probe samples, every 500 ms from the kill until the watchers have received the final
// revision, the store revision of the watched member and of a reference member and the highest
// revision any watcher has received: it shows whether a delivery lag is the member catching up
// (watched behind ref) or the watch path (received behind watched).
type probe struct {
	done  chan struct{}
	lines []string // written by the probe goroutine; read after done is closed
}

func startProbe(ctx context.Context, c *proccluster.Cluster, watched, ref int, sh *shared, since time.Time) *probe {
	p := &probe{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rev := func(i int) string {
				st, err := c.Status(ctx, i)
				if err != nil {
					return "down"
				}
				return strconv.FormatInt(st.GetHeader().GetRevision(), 10)
			}
			recv := sh.maxRecv.Load()
			p.lines = append(p.lines, fmt.Sprintf("%+6.1fs watched=%-5s ref=%-5s received=%d",
				time.Since(since).Seconds(), rev(watched), rev(ref), recv))
			if target := sh.target.Load(); target > 0 && recv >= target {
				return
			}
		}
	}()
	return p
}

// wait returns the samples once the probe has ended.
func (p *probe) wait() string {
	<-p.done
	return "watchscale: revisions after the kill (watched member, reference member, highest received by a watcher):\n  " +
		strings.Join(p.lines, "\n  ")
}

func createdAtLeast(sh *shared, n int64) func() string {
	return func() string {
		if got := sh.created.Load(); got < n {
			return fmt.Sprintf("%d of %d created responses", got, n)
		}
		return ""
	}
}

func ackedAtLeast(acked *atomic.Int64, n int64) func() string {
	return func() string {
		if got := acked.Load(); got < n {
			return fmt.Sprintf("%d of %d puts acknowledged", got, n)
		}
		return ""
	}
}

// waitFor polls cond (which returns "" when satisfied, or what it is still waiting for) until
// it holds, failing the test after d with the last state.
func waitFor(t *testing.T, ctx context.Context, d time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		state := cond()
		if state == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %v: %s", what, d, state)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v: %s", what, ctx.Err(), state)
		case <-tick.C:
		}
	}
}
