package mvcc

import (
	"encoding/binary"
	"fmt"
)

// revision identifies one change: main is the store revision of the write transaction that
// made it, sub orders the changes inside that transaction (0, 1, 2, ...).
type revision struct {
	main int64
	sub  int64
}

// less orders revisions by main, then sub.
func (r revision) less(o revision) bool {
	if r.main != o.main {
		return r.main < o.main
	}
	return r.sub < o.sub
}

const (
	// revKeyLen is the length of an encoded revision: 8-byte big-endian main, '_', 8-byte
	// big-endian sub. Big-endian keeps bbolt's byte order equal to revision order.
	revKeyLen = 17
	// tombstoneMark is appended to the revision key of a deletion.
	tombstoneMark = 't'
)

// revKey encodes r as a backend key; tomb appends the tombstone marker.
func revKey(r revision, tomb bool) []byte {
	n := revKeyLen
	if tomb {
		n++
	}
	b := make([]byte, n)
	binary.BigEndian.PutUint64(b[0:8], uint64(r.main))
	b[8] = '_'
	binary.BigEndian.PutUint64(b[9:17], uint64(r.sub))
	if tomb {
		b[17] = tombstoneMark
	}
	return b
}

// parseRevKey decodes a backend key written by revKey.
func parseRevKey(b []byte) (r revision, tomb bool, err error) {
	switch {
	case len(b) == revKeyLen:
	case len(b) == revKeyLen+1 && b[revKeyLen] == tombstoneMark:
		tomb = true
	default:
		return revision{}, false, fmt.Errorf("mvcc: malformed revision key %x", b)
	}
	if b[8] != '_' {
		return revision{}, false, fmt.Errorf("mvcc: malformed revision key %x", b)
	}
	r.main = int64(binary.BigEndian.Uint64(b[0:8]))
	r.sub = int64(binary.BigEndian.Uint64(b[9:17]))
	return r, tomb, nil
}
