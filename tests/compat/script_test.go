package compat_test

import (
	"context"
	"fmt"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// script is the deterministic KV sequence of TestKVCompat. Both clusters start empty, so the
// revisions noted in comments (and pinned with wantRev) are the same on both sides.
//
// Key layout: "foo", "foo2", "empty", "\xff\xff" (puts); "s/a".."s/d" (sort fixture with no
// ties under any sort target); "d/*" (deletes); "t/*", "n/*", "m/*" (txns).
func script() []step {
	var s []step
	s = append(s, putSteps()...)     // revisions 2..9
	s = append(s, sortFixture()...)  // revisions 10..19
	s = append(s, rangeSteps()...)   // reads at revision 19
	s = append(s, deleteSteps()...)  // revisions 20..26
	s = append(s, txnSteps()...)     // compares, branches, nesting, validation
	s = append(s, compactSteps()...) // compaction and reads around it
	return s
}

// Request helpers. Each returns a step that sends exactly the given request.

func putReq(name string, req *pb.PutRequest, wantRev int64) step {
	return step{name: name, wantRev: wantRev, do: func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
		return kv.Put(ctx, req)
	}}
}

func put(name, key, value string, wantRev int64) step {
	return putReq(name, &pb.PutRequest{Key: []byte(key), Value: []byte(value)}, wantRev)
}

func rng(name string, req *pb.RangeRequest) step {
	return step{name: name, do: func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
		return kv.Range(ctx, req)
	}}
}

// invalidSort is a Range that must fail with ErrGRPCInvalidSortOption. Debian's etcd 3.4 cannot
// be the reference for it (see rangeSteps), so the outcome is fixed from etcd >= 3.5.
func invalidSort(name string, req *pb.RangeRequest) step {
	s := rng(name, req)
	s.fixed = &outcome{code: codes.InvalidArgument, msg: "etcdserver: invalid sort option"}
	s.fixedWhy = "etcd 3.4 ignores a bad sort order and crashes on a bad sort target; etcd >= 3.5 rejects both"
	return s
}

// serializableRng first does a linearizable read on the same member, which waits until that
// member has applied every acknowledged write, so the serializable read that follows is not
// stale and its answer is deterministic.
func serializableRng(name string, req *pb.RangeRequest) step {
	req.Serializable = true
	return step{name: name, do: func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
		if _, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00"), CountOnly: true}); err != nil {
			return nil, fmt.Errorf("priming linearizable read: %w", err)
		}
		return kv.Range(ctx, req)
	}}
}

func del(name string, req *pb.DeleteRangeRequest, wantRev int64) step {
	return step{name: name, wantRev: wantRev, do: func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
		return kv.DeleteRange(ctx, req)
	}}
}

func txn(name string, req *pb.TxnRequest, wantRev int64) step {
	return step{name: name, wantRev: wantRev, do: func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
		return kv.Txn(ctx, req)
	}}
}

func compact(name string, req *pb.CompactionRequest, wantRev int64) step {
	return step{name: name, wantRev: wantRev, do: func(ctx context.Context, kv pb.KVClient) (proto.Message, error) {
		return kv.Compact(ctx, req)
	}}
}

// prefixEnd is clientv3's GetPrefixRangeEnd.
func prefixEnd(prefix string) []byte {
	end := []byte(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

func prefixRange(prefix string) *pb.RangeRequest {
	return &pb.RangeRequest{Key: []byte(prefix), RangeEnd: prefixEnd(prefix)}
}

func putsPrefixed(prefix string, n int) []*pb.RequestOp {
	ops := make([]*pb.RequestOp, n)
	for i := range ops {
		ops[i] = opPut(fmt.Sprintf("%s%03d", prefix, i), "v")
	}
	return ops
}

// putSteps: revisions 2..9 on "foo", "foo2", "empty", "\xff\xff".
func putSteps() []step {
	b := func(s string) []byte { return []byte(s) }
	return []step{
		rng("empty-store/range-missing", &pb.RangeRequest{Key: b("foo")}),
		rng("empty-store/range-all", &pb.RangeRequest{Key: b("\x00"), RangeEnd: b("\x00")}),
		put("put/first-write", "foo", "bar", 2),
		putReq("put/overwrite-prev-kv", &pb.PutRequest{Key: b("foo"), Value: b("baz"), PrevKv: true}, 3),
		putReq("put/prev-kv-new-key", &pb.PutRequest{Key: b("foo2"), Value: b("x"), PrevKv: true}, 4),
		putReq("put/ignore-value", &pb.PutRequest{Key: b("foo"), IgnoreValue: true, PrevKv: true}, 5),
		putReq("put/ignore-value-with-value", &pb.PutRequest{Key: b("foo"), Value: b("v"), IgnoreValue: true}, 0),
		putReq("put/ignore-value-missing-key", &pb.PutRequest{Key: b("nokey"), IgnoreValue: true}, 0),
		putReq("put/ignore-value-with-value-missing-key", &pb.PutRequest{Key: b("nokey"), Value: b("v"), IgnoreValue: true}, 0),
		putReq("put/ignore-lease", &pb.PutRequest{Key: b("foo"), Value: b("qux"), IgnoreLease: true, PrevKv: true}, 6),
		putReq("put/ignore-lease-with-lease", &pb.PutRequest{Key: b("foo"), Value: b("v"), Lease: 1, IgnoreLease: true}, 0),
		putReq("put/ignore-lease-missing-key", &pb.PutRequest{Key: b("nokey"), Value: b("v"), IgnoreLease: true}, 0),
		putReq("put/unknown-lease", &pb.PutRequest{Key: b("foo"), Value: b("v"), Lease: 0x7eadbeef}, 0),
		putReq("put/empty-key", &pb.PutRequest{Value: b("v")}, 0),
		put("put/empty-value", "empty", "", 7),
		put("put/all-ff-key", "\xff\xff", "ff", 8),
		putReq("put/request-too-large", &pb.PutRequest{Key: b("big"), Value: []byte(strings.Repeat("x", 2_000_000))}, 0),
		putReq("put/ignore-value-and-lease", &pb.PutRequest{Key: b("foo"), IgnoreValue: true, IgnoreLease: true, PrevKv: true}, 9),
		rng("put/read-back-foo", &pb.RangeRequest{Key: b("foo")}),
		rng("put/not-written-after-errors", &pb.RangeRequest{Key: b("nokey"), RangeEnd: b("nokez")}),
	}
}

// sortFixture writes s/a..s/d at revisions 10..19 so that no two keys tie on version, create
// revision, mod revision or value, and each target orders them differently:
//
//	key  value  version  create  mod
//	s/a  mango  3        11      19
//	s/b  apple  1        13      13
//	s/c  zebra  2        10      17
//	s/d  kiwi   4        12      18
func sortFixture() []step {
	writes := []struct{ k, v string }{
		{"s/c", "c1"}, {"s/a", "a1"}, {"s/d", "d1"}, {"s/b", "apple"}, {"s/d", "d2"},
		{"s/a", "a2"}, {"s/d", "d3"}, {"s/c", "zebra"}, {"s/d", "kiwi"}, {"s/a", "mango"},
	}
	var steps []step
	for i, w := range writes {
		rev := int64(10 + i)
		steps = append(steps, put(fmt.Sprintf("fixture/rev%d-%s", rev, w.k), w.k, w.v, rev))
	}
	return steps
}

// rangeSteps: reads only, at revision 19.
func rangeSteps() []step {
	b := func(s string) []byte { return []byte(s) }
	withLimit := func(r *pb.RangeRequest, n int64) *pb.RangeRequest { r.Limit = n; return r }
	steps := []step{
		rng("range/single", &pb.RangeRequest{Key: b("s/a")}),
		rng("range/missing", &pb.RangeRequest{Key: b("s/zz")}),
		rng("range/prefix", prefixRange("s/")),
		rng("range/from-key", &pb.RangeRequest{Key: b("s/b"), RangeEnd: b("\x00")}),
		rng("range/all-keys", &pb.RangeRequest{Key: b("\x00"), RangeEnd: b("\x00")}),
		rng("range/interval", &pb.RangeRequest{Key: b("s/b"), RangeEnd: b("s/d")}),
		rng("range/end-before-key", &pb.RangeRequest{Key: b("s/d"), RangeEnd: b("s/b")}),
		rng("range/end-equals-key", &pb.RangeRequest{Key: b("s/b"), RangeEnd: b("s/b")}),
		rng("range/prefix-of-all-ff-key", &pb.RangeRequest{Key: b("\xff\xff"), RangeEnd: prefixEnd("\xff\xff")}),
		rng("range/empty-value", &pb.RangeRequest{Key: b("empty")}),
		rng("range/limit-more", withLimit(prefixRange("s/"), 2)),
		rng("range/limit-exact", withLimit(prefixRange("s/"), 4)),
		rng("range/limit-above-count", withLimit(prefixRange("s/"), 10)),
		rng("range/limit-negative", withLimit(prefixRange("s/"), -1)),
		rng("range/keys-only", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), KeysOnly: true}),
		rng("range/count-only", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), CountOnly: true}),
		rng("range/count-only-limit", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), CountOnly: true, Limit: 1}),
		rng("range/keys-only-limit", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), KeysOnly: true, Limit: 3}),
		rng("range/rev-historical", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), Revision: 15}),
		rng("range/rev-before-creates", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), Revision: 10}),
		rng("range/rev-1", &pb.RangeRequest{Key: b("foo"), Revision: 1}),
		rng("range/rev-current", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), Revision: 19}),
		rng("range/rev-negative", &pb.RangeRequest{Key: b("s/a"), Revision: -1}),
		rng("range/rev-future", &pb.RangeRequest{Key: b("s/a"), Revision: 20}),
		rng("range/rev-historical-limit", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), Revision: 16, Limit: 2}),
		rng("range/min-mod", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), MinModRevision: 17}),
		rng("range/max-mod", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), MaxModRevision: 17}),
		rng("range/min-create", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), MinCreateRevision: 12}),
		rng("range/max-create", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), MaxCreateRevision: 11}),
		rng("range/mod-window", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), MinModRevision: 14, MaxModRevision: 18}),
		rng("range/filters-limit-more", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), MinModRevision: 14, Limit: 1}),
		rng("range/filters-count-only", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), MinCreateRevision: 12, CountOnly: true}),
		serializableRng("range/serializable", prefixRange("s/")),
		serializableRng("range/serializable-historical", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), Revision: 12}),
		rng("range/empty-key", &pb.RangeRequest{}),
		rng("range/empty-key-with-end", &pb.RangeRequest{RangeEnd: b("a")}),
		// etcd 3.4.23 ignores an unknown sort order and panics (nil sorter) on an unknown sort
		// target; etcd >= 3.5 rejects both in checkRangeRequest, which is what docs/ETCD-API.md
		// "KV" pins.
		invalidSort("range/invalid-sort-order", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), SortOrder: 7}),
		invalidSort("range/invalid-sort-target", &pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), SortOrder: pb.RangeRequest_ASCEND, SortTarget: 9}),
	}
	orders := []pb.RangeRequest_SortOrder{pb.RangeRequest_NONE, pb.RangeRequest_ASCEND, pb.RangeRequest_DESCEND}
	targets := []pb.RangeRequest_SortTarget{pb.RangeRequest_KEY, pb.RangeRequest_VERSION, pb.RangeRequest_CREATE, pb.RangeRequest_MOD, pb.RangeRequest_VALUE}
	for _, o := range orders {
		for _, tg := range targets {
			r := prefixRange("s/")
			r.SortOrder, r.SortTarget = o, tg
			steps = append(steps, rng(fmt.Sprintf("range/sort/%s-%s", o, tg), r))
			// Sorting must see the whole range before the limit cuts it.
			rl := prefixRange("s/")
			rl.SortOrder, rl.SortTarget, rl.Limit = o, tg, 2
			steps = append(steps, rng(fmt.Sprintf("range/sort-limit/%s-%s", o, tg), rl))
		}
	}
	return steps
}

// deleteSteps: revisions 20..26.
func deleteSteps() []step {
	b := func(s string) []byte { return []byte(s) }
	return []step{
		del("delete/missing-key", &pb.DeleteRangeRequest{Key: b("nokey"), PrevKv: true}, 19),
		del("delete/missing-range", &pb.DeleteRangeRequest{Key: b("x/"), RangeEnd: prefixEnd("x/")}, 19),
		txn("delete/setup-d", &pb.TxnRequest{Success: []*pb.RequestOp{
			opPut("d/1", "1"), opPut("d/2", "2"), opPut("d/3", "3"), opPut("d/4", "4"), opPut("d/5", "5"),
		}}, 20),
		del("delete/single", &pb.DeleteRangeRequest{Key: b("d/1")}, 21),
		del("delete/single-prev-kv", &pb.DeleteRangeRequest{Key: b("d/2"), PrevKv: true}, 22),
		del("delete/range-prev-kv", &pb.DeleteRangeRequest{Key: b("d/3"), RangeEnd: b("d/5"), PrevKv: true}, 23),
		del("delete/prefix", &pb.DeleteRangeRequest{Key: b("d/"), RangeEnd: prefixEnd("d/")}, 24),
		del("delete/prefix-nothing-left", &pb.DeleteRangeRequest{Key: b("d/"), RangeEnd: prefixEnd("d/"), PrevKv: true}, 24),
		del("delete/empty-key", &pb.DeleteRangeRequest{RangeEnd: b("z")}, 0),
		del("delete/from-key-prev-kv", &pb.DeleteRangeRequest{Key: b("zz"), RangeEnd: b("\x00"), PrevKv: true}, 25),
		del("delete/end-before-key", &pb.DeleteRangeRequest{Key: b("s/d"), RangeEnd: b("s/a")}, 25),
		rng("delete/history-before-deletes", &pb.RangeRequest{Key: b("d/"), RangeEnd: prefixEnd("d/"), Revision: 20}),
		rng("delete/history-mid-deletes", &pb.RangeRequest{Key: b("d/"), RangeEnd: prefixEnd("d/"), Revision: 22}),
		rng("delete/gone", &pb.RangeRequest{Key: b("d/"), RangeEnd: prefixEnd("d/")}),
		putReq("delete/recreate-prev-kv", &pb.PutRequest{Key: b("d/1"), Value: b("again"), PrevKv: true}, 26),
		rng("delete/recreated-versions", &pb.RangeRequest{Key: b("d/1")}),
	}
}
