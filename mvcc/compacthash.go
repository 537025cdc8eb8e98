package mvcc

import "slices"

// CompactHash is the HashKV of (CompactRevision, Revision] that the compactor computed as it
// began a compaction to Revision, before removing anything: a record of the history the
// compaction erased, which members compare (etcd's compaction-time hash check,
// --experimental-compact-hash-check-enabled). Two members' records of the same Revision are
// comparable only if CompactRevision is equal too (a member may fold two compactions into
// one pass).
type CompactHash struct {
	Hash            uint32
	Revision        int64
	CompactRevision int64
}

// keptCompactHashes is how many of the newest compactions' hashes a store keeps (etcd keeps 10).
const keptCompactHashes = 10

// CompactHashes returns the hashes recorded by the compactions this process ran, newest
// first, at most 10. A compaction resumed after a restart, or retried after a failed pass,
// records none: part of its history may already be gone. Restore forgets them all.
func (s *Store) CompactHashes() []CompactHash {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Clone(s.compactHashes)
	slices.Reverse(out)
	return out
}

// CompactHashAt returns the hash recorded by the compaction to rev, if this store kept one.
func (s *Store) CompactHashAt(rev int64) (CompactHash, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, h := range s.compactHashes {
		if h.Revision == rev {
			return h, true
		}
	}
	return CompactHash{}, false
}

// recordCompactHash hashes (p.prev, p.rev] for the pass about to start, if nothing in that
// range can have been removed yet (see CompactHashes), and keeps the result.
func (s *Store) recordCompactHash(p *compactPass) {
	s.mu.RLock()
	if !p.hash || s.checkPassLocked(p) != nil {
		s.mu.RUnlock()
		return
	}
	v := s.viewLocked(nil)
	s.mu.RUnlock()
	h, err := hashRange(v, p.prev, p.rev)
	v.close()
	if err != nil {
		s.log.Warn("compaction hash failed", "revision", p.rev, "error", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.compactGen != p.gen {
		return
	}
	s.compactHashes = append(s.compactHashes, CompactHash{Hash: h, Revision: p.rev, CompactRevision: p.prev})
	if n := len(s.compactHashes); n > keptCompactHashes {
		s.compactHashes = slices.Delete(s.compactHashes, 0, n-keptCompactHashes)
	}
}
