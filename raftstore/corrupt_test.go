package raftstore

import (
	"errors"
	"slices"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func TestInitialMismatches(t *testing.T) {
	local := MemberHash{ID: 1, Hash: 0xaa, Revision: 10, CompactRevision: 4}
	tests := []struct {
		name  string
		peers []MemberHash
		want  []uint64
	}{
		{"no peers answered", nil, nil},
		{"all equal", []MemberHash{{ID: 2, Hash: 0xaa, Revision: 10, CompactRevision: 4}, {ID: 3, Hash: 0xaa, Revision: 10, CompactRevision: 4}}, nil},
		{"one differs", []MemberHash{{ID: 2, Hash: 0xaa, Revision: 10, CompactRevision: 4}, {ID: 3, Hash: 0xbb, Revision: 10, CompactRevision: 4}}, []uint64{3}},
		{"all differ", []MemberHash{{ID: 2, Hash: 0xbb, Revision: 10, CompactRevision: 4}, {ID: 3, Hash: 0xbb, Revision: 10, CompactRevision: 4}}, []uint64{2, 3}},
		{"other compaction revision says nothing", []MemberHash{{ID: 2, Hash: 0xbb, Revision: 10, CompactRevision: 6}}, nil},
		{"other revision says nothing", []MemberHash{{ID: 2, Hash: 0xbb, Revision: 11, CompactRevision: 4}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := initialMismatches(local, tt.peers); !slices.Equal(got, tt.want) {
				t.Errorf("initialMismatches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCorruptMembers(t *testing.T) {
	h := func(id uint64, hash uint32) MemberHash {
		return MemberHash{ID: id, Hash: hash, Revision: 20, CompactRevision: 5}
	}
	tests := []struct {
		name   string
		voters int
		leader MemberHash
		peers  []MemberHash
		want   []uint64
	}{
		{"all equal", 3, h(1, 7), []MemberHash{h(2, 7), h(3, 7)}, nil},
		{"a follower differs", 3, h(1, 7), []MemberHash{h(2, 7), h(3, 8)}, []uint64{3}},
		{"the leader is the minority", 3, h(1, 9), []MemberHash{h(2, 7), h(3, 7)}, []uint64{1}},
		{"no quorum: the leader is the reference", 3, h(1, 7), []MemberHash{h(2, 8)}, []uint64{2}},
		{"three ways apart: the leader is the reference", 3, h(1, 7), []MemberHash{h(2, 8), h(3, 9)}, []uint64{2, 3}},
		{"five members, two agree against three", 5, h(1, 7), []MemberHash{h(2, 7), h(3, 8), h(4, 8), h(5, 8)}, []uint64{1, 2}},
		{"a follower behind is not compared", 3, h(1, 7),
			[]MemberHash{h(2, 7), {ID: 3, Hash: 8, Revision: 19, CompactRevision: 5}}, nil},
		{"a follower with another compaction is not compared", 3, h(1, 7),
			[]MemberHash{h(2, 7), {ID: 3, Hash: 8, Revision: 20, CompactRevision: 6}}, nil},
		{"single member", 1, h(1, 7), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := corruptMembers(tt.voters, tt.leader, tt.peers); !slices.Equal(got, tt.want) {
				t.Errorf("corruptMembers = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestIsFutureRev: the periodic check waits for a peer only on etcd's future-revision status.
func TestIsFutureRev(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{rpctypes.ErrGRPCFutureRev, true},
		{rpctypes.ErrGRPCCompacted, false},
		{errors.New("connection refused"), false},
		{nil, false},
	} {
		if got := isFutureRev(tt.err); got != tt.want {
			t.Errorf("isFutureRev(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
