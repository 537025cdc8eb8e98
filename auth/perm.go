package auth

import (
	"bytes"
	"slices"

	"go.etcd.io/etcd/api/v3/authpb"
)

// interval is the half-open key range [begin, end); a nil end means "to the end of the
// keyspace" (a from-key permission, range_end "\x00").
type interval struct{ begin, end []byte }

// intervalSet is a union of key ranges, kept sorted by begin with overlapping and adjacent
// ranges merged, so that a range is covered exactly when one member of the set covers it.
//
// Example: grants ["a","c"), ["b","d") and the single key "d" (the range ["d","d\x00"))
// merge into one interval ["a","d\x00"): a Range over ["a","d\x00") is permitted, one over
// ["a","e") is not.
type intervalSet []interval

// permInterval returns the range a permission covers, as etcd reads a permission: an empty
// range_end is the single key, "\x00" is every key from key on.
func permInterval(p *authpb.Permission) interval {
	switch {
	case len(p.RangeEnd) == 0:
		return interval{begin: p.Key, end: append(slices.Clip(p.Key), 0)}
	case isOpenEnded(p.RangeEnd):
		return interval{begin: p.Key}
	default:
		return interval{begin: p.Key, end: p.RangeEnd}
	}
}

func isOpenEnded(rangeEnd []byte) bool { return len(rangeEnd) == 1 && rangeEnd[0] == 0 }

// endLess reports a < b for interval ends, where nil is +infinity.
func endLess(a, b []byte) bool {
	switch {
	case a == nil:
		return false
	case b == nil:
		return true
	default:
		return bytes.Compare(a, b) < 0
	}
}

// newIntervalSet merges ivs (empty intervals are dropped).
func newIntervalSet(ivs []interval) intervalSet {
	ivs = slices.DeleteFunc(ivs, func(iv interval) bool {
		return iv.end != nil && bytes.Compare(iv.begin, iv.end) >= 0
	})
	slices.SortFunc(ivs, func(a, b interval) int { return bytes.Compare(a.begin, b.begin) })
	var out intervalSet
	for _, iv := range ivs {
		if n := len(out); n > 0 && (out[n-1].end == nil || bytes.Compare(iv.begin, out[n-1].end) <= 0) {
			if endLess(out[n-1].end, iv.end) {
				out[n-1].end = iv.end
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// containsKey reports whether key lies in the set.
func (s intervalSet) containsKey(key []byte) bool {
	// The last interval beginning at or before key is the only candidate.
	i, found := slices.BinarySearchFunc(s, key, func(iv interval, k []byte) int { return bytes.Compare(iv.begin, k) })
	if !found {
		i--
	}
	return i >= 0 && (s[i].end == nil || bytes.Compare(key, s[i].end) < 0)
}

// containsRange reports whether the request range [key, rangeEnd) lies in the set, with
// etcd's request encoding: an empty rangeEnd is the single key, "\x00" every key from key on.
// An empty request range (rangeEnd at or below key) is treated as the key alone.
func (s intervalSet) containsRange(key, rangeEnd []byte) bool {
	if len(rangeEnd) == 0 {
		return s.containsKey(key)
	}
	var end []byte
	if !isOpenEnded(rangeEnd) {
		if bytes.Compare(rangeEnd, key) <= 0 {
			return s.containsKey(key)
		}
		end = rangeEnd
	}
	i, found := slices.BinarySearchFunc(s, key, func(iv interval, k []byte) int { return bytes.Compare(iv.begin, k) })
	if !found {
		i--
	}
	if i < 0 {
		return false
	}
	return !endLess(s[i].end, end) && (s[i].end == nil || bytes.Compare(key, s[i].end) < 0)
}

// userPerms is a user's merged permissions over all its roles.
type userPerms struct {
	root        bool
	read, write intervalSet
}

// mergePerms builds the permissions of a user from its roles (missing roles are skipped).
func mergePerms(u *authpb.User, roles map[string]*authpb.Role) *userPerms {
	up := &userPerms{}
	var read, write []interval
	for _, name := range u.Roles {
		if name == RootRole {
			up.root = true
		}
		r := roles[name]
		if r == nil {
			continue
		}
		for _, p := range r.KeyPermission {
			iv := permInterval(p)
			switch p.PermType {
			case authpb.READ:
				read = append(read, iv)
			case authpb.WRITE:
				write = append(write, iv)
			case authpb.READWRITE:
				read, write = append(read, iv), append(write, iv)
			}
		}
	}
	up.read, up.write = newIntervalSet(read), newIntervalSet(write)
	return up
}

// isValidPermissionRange reports whether a granted range is well formed: a non-empty key and
// a range_end that is empty, "\x00", or above the key.
func isValidPermissionRange(key, rangeEnd []byte) bool {
	if len(key) == 0 {
		return false
	}
	if len(rangeEnd) == 0 || isOpenEnded(rangeEnd) {
		return true
	}
	return bytes.Compare(key, rangeEnd) < 0
}
