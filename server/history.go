package server

import (
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/keeldb/keel/mvcc"
	"github.com/keeldb/keel/watch"
)

// storeHistory lets the watch hub read committed events back from the mvcc store.
type storeHistory struct{ s *mvcc.Store }

var _ watch.History = storeHistory{}

func (h storeHistory) Events(from, to int64, maxRevs int) ([]*mvccpb.Event, error) {
	evs, err := h.s.Events(from, to, maxRevs)
	if errors.Is(err, mvcc.ErrCompacted) {
		return nil, fmt.Errorf("%w: %w", watch.ErrCompacted, err)
	}
	return evs, err
}

func (h storeHistory) CompactRev() int64 { return h.s.CompactRev() }
