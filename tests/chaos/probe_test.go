package chaos_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/kvhist"
)

const (
	// probeKey is written and read only by the stale-read probe; it is under the prefix, so
	// its writes are in the watch history and its operations in the checked history.
	probeKey = prefix + "probe"
	// probeReads is how many reads the probe sends to the paused leader at once.
	probeReads = 8
)

// probeResult is what one stale-read probe saw.
type probeResult struct {
	oldLeader, newLeader int
	reads, stale         int
}

// staleReadProbe pauses the leader (SIGSTOP), waits for the others to elect a new leader,
// writes a new value of probeKey through them, sends linearizable reads of probeKey to the
// paused old leader, resumes it (SIGCONT) and counts the reads that returned the old value.
// Every probe operation is recorded in the scenario's history.
func (s *scenario) staleReadProbe() probeResult {
	s.t.Helper()
	leader, fs := s.leader()
	others := s.c.Client(s.t, fs...)
	old := s.c.Client(s.t, leader)
	writer := numClients // probe client IDs follow the workload's
	seq := len(s.faults)
	put := func(val string) {
		s.t.Helper()
		deadline := time.Now().Add(waitTimeout)
		for {
			_, _, err := s.do(others, writer, kvhist.Input{Kind: kvhist.Put, Key: probeKey, Value: val})
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("probe put %s: %v", val, err)
			}
		}
	}
	before, after := fmt.Sprintf("probe-%d-before", seq), fmt.Sprintf("probe-%d-after", seq)
	put(before)
	// The leader has applied "before" once a linearizable read on it returns it.
	if out, _, err := s.do(old, writer, kvhist.Input{Kind: kvhist.Get, Key: probeKey}); err != nil || out.Value != before {
		s.t.Fatalf("read on the leader m%d before pausing it: %q, %v", leader, out.Value, err)
	}

	s.c.Pause(leader)
	s.fault("SIGSTOP leader m%d", leader)
	newLeader, err := s.c.WaitLeader(s.ctx())
	if err != nil {
		s.t.Fatal(err)
	}
	put(after)

	var (
		wg, started sync.WaitGroup
		mu          sync.Mutex
		res         = probeResult{oldLeader: leader, newLeader: newLeader}
	)
	for k := range probeReads {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			out, _, err := s.do(old, writer+1+k, kvhist.Input{Kind: kvhist.Get, Key: probeKey})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				res.reads++
				if out.Value != after {
					res.stale++
				}
			}
		}()
	}
	started.Wait()
	s.c.Resume(leader)
	s.fault("SIGCONT m%d after m%d took over; %d linearizable reads sent to it", leader, newLeader, probeReads)
	wg.Wait()
	s.healthy()
	s.t.Logf("chaos: probe: %d of %d reads on the resumed m%d answered, %d stale", res.reads, probeReads, leader, res.stale)
	return res
}

// do performs and records one probe operation, bounded by opTimeout as the workload's are.
func (s *scenario) do(cli *clientv3.Client, clientID int, in kvhist.Input) (kvhist.Output, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return kvhist.Do(ctx, cli, clientID, in, s.rec)
}

// probeOps returns the recorded operations on probeKey.
func probeOps(ops []porcupine.Operation) []porcupine.Operation {
	var out []porcupine.Operation
	for _, op := range ops {
		if op.Input.(kvhist.Input).Key == probeKey {
			out = append(out, op)
		}
	}
	return out
}
