package agent

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
)

// Running statuses are written as the scheduler writes bindings: several pods per
// transaction, each put guarded by the mod_revision of the pod as the agent's cache holds
// it, so that no pod is read first. A pod that changed since (the guard fails), or a
// transaction that fails, is written on its own by the caller's read + compare-and-swap
// (GuaranteedUpdate), which checks the pod again. At 5,000 nodes the read + CAS per pod
// was the agent's cost and one store revision per pod.
const (
	// statusBatch is the largest number of pods per transaction (the store's --max-txn-ops
	// is 128 by default; each pod takes one compare and one put).
	statusBatch = 64
	// statusBatchBytes bounds a transaction's keys and values (the store's request limit
	// is 1.5 MiB).
	statusBatchBytes = 512 << 10
	// statusWriters is the number of transactions in flight.
	statusWriters = 8
)

// statusJob is one pod's Running status, to be written by a status writer; done receives
// whether it was written (false: the caller writes it on its own).
type statusJob struct {
	key  string // store key
	pod  *api.Pod
	next []byte // encoded pod with the status, without resourceVersion
	done chan bool
}

// statusBatcher writes statusJobs in batches.
type statusBatcher struct {
	cli  *clientv3.Client
	jobs chan statusJob
}

func newStatusBatcher(cli *clientv3.Client) *statusBatcher {
	return &statusBatcher{cli: cli, jobs: make(chan statusJob, statusWriters*statusBatch)}
}

// run runs the writers until ctx ends; jobs still queued then are answered false.
func (b *statusBatcher) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range statusWriters {
		wg.Go(func() { b.writer(ctx) })
	}
	wg.Wait()
}

func (b *statusBatcher) writer(ctx context.Context) {
	batch := make([]statusJob, 0, statusBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-b.jobs:
			batch = append(batch[:0], job)
			size := len(job.key) + len(job.next)
		fill:
			for len(batch) < statusBatch && size < statusBatchBytes {
				select {
				case j := <-b.jobs:
					batch = append(batch, j)
					size += len(j.key) + len(j.next)
				default:
					break fill
				}
			}
			b.write(ctx, batch)
		}
	}
}

// write commits the batch in one guarded transaction and answers each job.
func (b *statusBatcher) write(ctx context.Context, batch []statusJob) {
	cmps := make([]clientv3.Cmp, len(batch))
	ops := make([]clientv3.Op, len(batch))
	for i, j := range batch {
		rv, _ := strconv.ParseInt(j.pod.ResourceVersion, 10, 64)
		cmps[i] = clientv3.Compare(clientv3.ModRevision(j.key), "=", rv)
		ops[i] = clientv3.OpPut(j.key, string(j.next))
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	resp, err := b.cli.Txn(tctx).If(cmps...).Then(ops...).Commit()
	cancel()
	ok := err == nil && resp.Succeeded
	if !ok && len(batch) > 1 && err == nil {
		// Some pod changed since the cache saw it: write the others again in halves, so
		// that one changed pod does not send the whole batch to the slow path.
		h := len(batch) / 2
		b.write(ctx, batch[:h])
		b.write(ctx, batch[h:])
		return
	}
	for _, j := range batch {
		j.done <- ok
	}
}

// submit queues the pod's Running status and waits for the batch's outcome: true when it
// was written, false when the caller must write it on its own.
func (b *statusBatcher) submit(ctx context.Context, key string, p *api.Pod, next *api.Pod) bool {
	if p.ResourceVersion == "" {
		return false
	}
	rv := next.ResourceVersion
	next.ResourceVersion = ""
	data, err := json.Marshal(next)
	next.ResourceVersion = rv
	if err != nil {
		return false
	}
	job := statusJob{key: key, pod: p, next: data, done: make(chan bool, 1)}
	select {
	case b.jobs <- job:
	case <-ctx.Done():
		return false
	}
	select {
	case ok := <-job.done:
		return ok
	case <-ctx.Done():
		return false
	}
}

// withOwnStatus returns a shallow copy of the cached pod p whose status slices that
// runningStatus changes in place are its own, so that p (shared with the cache and other
// informers) is not changed: a cheaper copy than api.DeepCopy's JSON round trip, for an
// object that is only encoded afterwards.
func withOwnStatus(p *api.Pod) *api.Pod {
	next := *p
	next.Status.Conditions = slices.Clone(p.Status.Conditions)
	next.Status.PodIPs = slices.Clone(p.Status.PodIPs)
	next.Status.ContainerStatuses = slices.Clone(p.Status.ContainerStatuses)
	next.Status.InitContainerStatuses = slices.Clone(p.Status.InitContainerStatuses)
	return &next
}
