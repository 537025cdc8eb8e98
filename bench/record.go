package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errKey groups errors by operation and class.
type errKey struct{ op, class string }

// recorder collects one worker's latencies, errors and counters. It is not safe for
// concurrent use; the runner merges recorders once the workers have stopped.
type recorder struct {
	ops      map[string]*Histogram
	errs     map[errKey]uint64
	counters map[string]int64
}

func newRecorder() *recorder {
	return &recorder{ops: map[string]*Histogram{}, errs: map[errKey]uint64{}, counters: map[string]int64{}}
}

func (r *recorder) hist(op string) *Histogram {
	h := r.ops[op]
	if h == nil {
		h = &Histogram{}
		r.ops[op] = h
	}
	return h
}

func (r *recorder) merge(o *recorder) {
	for op, h := range o.ops {
		r.hist(op).Merge(h)
	}
	for k, n := range o.errs {
		r.errs[k] += n
	}
	for k, n := range o.counters {
		r.counters[k] += n
	}
}

// ClassifyError names an error for the report: the gRPC code followed by the etcd error
// string (e.g. "Unavailable: etcdserver: leader changed"), or the context error.
func ClassifyError(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "DeadlineExceeded: context deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "Canceled: context canceled"
	}
	// clientv3 turns server errors into rpctypes.EtcdError, which has Code but no GRPCStatus.
	var coded interface {
		error
		Code() codes.Code
	}
	if errors.As(err, &coded) {
		return coded.Code().String() + ": " + short(coded.Error())
	}
	if s, ok := status.FromError(err); ok {
		return s.Code().String() + ": " + short(s.Message())
	}
	return fmt.Sprintf("Other: %s", short(err.Error()))
}

// short keeps an error message to one bounded line so that classes stay few.
func short(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	if len(msg) > 80 {
		msg = msg[:77] + "..."
	}
	return msg
}
