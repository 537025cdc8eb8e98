package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// defragValSize is the value size of the defrag workload's bulk keys: two 4 KiB bbolt pages
// each with the key and the page header, so the fill reaches its size in few keys.
const defragValSize = 7000

// defragWorkload fills the backend to DefragMB MiB with bulk keys (in txns of 100 puts),
// deletes every other one and compacts physically, leaving about half of every member's
// backend free, then measures the foreground "before" and "during" a defragmentation of
// every member in turn (Maintenance.Defragment, as `etcdctl defrag` does, each call returning
// when that member is done), for at least Window. Timing "defrag" is how long the calls took
// in all (with the Status calls around each); counters "db-mib-before" and "db-mib-after" are
// the members' backend sizes (Status.DbSize, summed) before and after each one's
// defragmentation. Failed foreground requests are the report's errors.
type defragWorkload struct {
	p    Params
	fg   foreground
	bulk string // prefix of the bulk keys
	n    int    // bulk keys
}

func newDefrag(p Params) Workload {
	if p.DefragMB <= 0 {
		p.DefragMB = 1024
	}
	p = housekeepingDefaults(p, "kb-defrag/")
	n := max(p.DefragMB<<20/8192, 2) // two 4 KiB pages a key
	return &defragWorkload{p: p, fg: newForeground(p), bulk: p.Prefix + "bulk/", n: n}
}

func (w *defragWorkload) Setup(ctx context.Context, s *Session) error {
	if err := w.fg.setup(ctx, s); err != nil {
		return err
	}
	val := strings.Repeat("b", defragValSize)
	if err := loadTxns(ctx, s, w.n, setupTxnOps, func(i int) clientv3.Op {
		return clientv3.OpPut(key(w.bulk, i, w.p.KeySize), val)
	}); err != nil {
		return err
	}
	// Every other key: the freed pages are spread over the whole file.
	if err := loadTxns(ctx, s, w.n/2, setupTxnOps, func(i int) clientv3.Op {
		return clientv3.OpDelete(key(w.bulk, 2*i+1, w.p.KeySize))
	}); err != nil {
		return err
	}
	cli := s.Client(0)
	resp, err := cli.Get(ctx, w.fg.key(0))
	if err != nil {
		return fmt.Errorf("current revision: %w", err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		return fmt.Errorf("compact to revision %d: %w", resp.Header.Revision, err)
	}
	return nil
}

func (w *defragWorkload) Do(ctx context.Context, wk *Worker) { w.fg.do(ctx, wk) }

func (w *defragWorkload) Drive(ctx context.Context, s *Session) error {
	if err := warmUpAndMeasureBefore(ctx, s, w.p.Window); err != nil {
		return err
	}
	cli := s.Client(0)
	s.StartPhase("during")
	start := time.Now()
	var before, after int64
	for _, ep := range s.Config.Endpoints {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			return fmt.Errorf("status of %s: %w", ep, err)
		}
		before += st.DbSize
		if _, err := cli.Defragment(ctx, ep); err != nil {
			return fmt.Errorf("defragment %s: %w", ep, err)
		}
		if st, err = cli.Status(ctx, ep); err != nil {
			return fmt.Errorf("status of %s: %w", ep, err)
		}
		after += st.DbSize
	}
	s.Timing("defrag", time.Since(start))
	s.Count("db-mib-before", before>>20)
	s.Count("db-mib-after", after>>20)
	return hold(ctx, s, start, w.p.Window)
}
