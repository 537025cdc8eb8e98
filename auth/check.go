package auth

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// The checks below follow etcd's authStore: with auth disabled everything is permitted; a
// caller without a user (revision 0) gets ErrUserEmpty; one whose revision is below the
// store's gets ErrAuthOldRevision (its permissions may have changed since; the server
// retries with a fresh Info, a client re-authenticates); a user with the root role may do
// everything; anyone else needs a role granting the permission over the whole range.

type permType int

const (
	permRead permType = iota
	permWrite
)

// CheckAdmin returns nil if info may call root-only RPCs: auth disabled, or a user with the
// root role. ErrUserEmpty without a user, ErrUserNotFound for an unknown one, else
// ErrPermissionDenied.
func (s *Store) CheckAdmin(info Info) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.adminPermittedLocked(info)
}

// requires s.mu held (read or write)
func (s *Store) adminPermittedLocked(info Info) error {
	if !s.enabled {
		return nil
	}
	if info.User == "" {
		return ErrUserEmpty
	}
	p := s.perms[info.User]
	if p == nil {
		return ErrUserNotFound
	}
	if !p.root {
		return ErrPermissionDenied
	}
	return nil
}

// requires s.mu held (read)
func (s *Store) opPermittedLocked(info Info, key, rangeEnd []byte, t permType) error {
	if !s.enabled {
		return nil
	}
	if info.Revision == 0 {
		return ErrUserEmpty
	}
	if info.Revision < s.rev {
		return ErrAuthOldRevision
	}
	p := s.perms[info.User]
	if p == nil {
		return ErrPermissionDenied
	}
	if p.root {
		return nil
	}
	set := p.read
	if t == permWrite {
		set = p.write
	}
	if set.containsRange(key, rangeEnd) {
		return nil
	}
	return ErrPermissionDenied
}

// CheckRange checks READ over [key, rangeEnd) (etcd's range encoding).
func (s *Store) CheckRange(info Info, key, rangeEnd []byte) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.opPermittedLocked(info, key, rangeEnd, permRead)
}

// CheckPut checks a Put: WRITE on the key, and READ on it when prev_kv is asked for.
func (s *Store) CheckPut(info Info, r *pb.PutRequest) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.putPermittedLocked(info, r)
}

// requires s.mu held
func (s *Store) putPermittedLocked(info Info, r *pb.PutRequest) error {
	if err := s.opPermittedLocked(info, r.Key, nil, permWrite); err != nil {
		return err
	}
	if r.PrevKv {
		return s.opPermittedLocked(info, r.Key, nil, permRead)
	}
	return nil
}

// CheckDeleteRange checks WRITE over the range, and READ when prev_kv is asked for.
func (s *Store) CheckDeleteRange(info Info, r *pb.DeleteRangeRequest) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.deletePermittedLocked(info, r)
}

// requires s.mu held
func (s *Store) deletePermittedLocked(info Info, r *pb.DeleteRangeRequest) error {
	if r.PrevKv {
		if err := s.opPermittedLocked(info, r.Key, r.RangeEnd, permRead); err != nil {
			return err
		}
	}
	return s.opPermittedLocked(info, r.Key, r.RangeEnd, permWrite)
}

// CheckTxn checks READ on every compared range and every op of both branches as its kind
// needs (nested txns included, which etcd 3.5 leaves unchecked).
func (s *Store) CheckTxn(info Info, r *pb.TxnRequest) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.txnPermittedLocked(info, r)
}

// requires s.mu held
func (s *Store) txnPermittedLocked(info Info, r *pb.TxnRequest) error {
	for _, c := range r.Compare {
		if err := s.opPermittedLocked(info, c.Key, c.RangeEnd, permRead); err != nil {
			return err
		}
	}
	for _, branch := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range branch {
			var err error
			switch {
			case op.GetRequestRange() != nil:
				rr := op.GetRequestRange()
				err = s.opPermittedLocked(info, rr.Key, rr.RangeEnd, permRead)
			case op.GetRequestPut() != nil:
				err = s.putPermittedLocked(info, op.GetRequestPut())
			case op.GetRequestDeleteRange() != nil:
				err = s.deletePermittedLocked(info, op.GetRequestDeleteRange())
			case op.GetRequestTxn() != nil:
				err = s.txnPermittedLocked(info, op.GetRequestTxn())
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckKeys checks WRITE on every key (the keys attached to a lease being revoked, or the
// lease a Put attaches its key to); a root user skips the walk.
func (s *Store) CheckKeys(info Info, keys []string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.adminPermittedLocked(info) == nil {
		return nil
	}
	for _, k := range keys {
		if err := s.opPermittedLocked(info, []byte(k), nil, permWrite); err != nil {
			return err
		}
	}
	return nil
}
