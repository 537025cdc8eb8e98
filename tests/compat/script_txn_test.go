package compat_test

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
)

// Op and compare builders for txn steps.

func opPut(k, v string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}}
}

func opPutReq(r *pb.PutRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: r}}
}

func opRange(r *pb.RangeRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: r}}
}

func opGet(k string) *pb.RequestOp { return opRange(&pb.RangeRequest{Key: []byte(k)}) }

func opDel(r *pb.DeleteRangeRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: r}}
}

func opDelPrefix(prefix string) *pb.RequestOp {
	return opDel(&pb.DeleteRangeRequest{Key: []byte(prefix), RangeEnd: prefixEnd(prefix), PrevKv: true})
}

func opTxn(r *pb.TxnRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: r}}
}

func ops(n int, op *pb.RequestOp) []*pb.RequestOp {
	s := make([]*pb.RequestOp, n)
	for i := range s {
		s[i] = op
	}
	return s
}

func cmpVersion(k string, r pb.Compare_CompareResult, v int64) *pb.Compare {
	return &pb.Compare{Key: []byte(k), Target: pb.Compare_VERSION, Result: r, TargetUnion: &pb.Compare_Version{Version: v}}
}

func cmpCreate(k string, r pb.Compare_CompareResult, v int64) *pb.Compare {
	return &pb.Compare{Key: []byte(k), Target: pb.Compare_CREATE, Result: r, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: v}}
}

func cmpMod(k string, r pb.Compare_CompareResult, v int64) *pb.Compare {
	return &pb.Compare{Key: []byte(k), Target: pb.Compare_MOD, Result: r, TargetUnion: &pb.Compare_ModRevision{ModRevision: v}}
}

func cmpValue(k string, r pb.Compare_CompareResult, v string) *pb.Compare {
	return &pb.Compare{Key: []byte(k), Target: pb.Compare_VALUE, Result: r, TargetUnion: &pb.Compare_Value{Value: []byte(v)}}
}

func cmpLease(k string, r pb.Compare_CompareResult, v int64) *pb.Compare {
	return &pb.Compare{Key: []byte(k), Target: pb.Compare_LEASE, Result: r, TargetUnion: &pb.Compare_Lease{Lease: v}}
}

// cmpPrefix turns c into a range compare over the prefix c.Key.
func cmpPrefix(c *pb.Compare) *pb.Compare {
	c.RangeEnd = prefixEnd(string(c.Key))
	return c
}

const (
	eq = pb.Compare_EQUAL
	gt = pb.Compare_GREATER
	lt = pb.Compare_LESS
	ne = pb.Compare_NOT_EQUAL
)

// readTxn is a read-only txn whose branches are distinguishable, so a response shows which one
// ran. It never advances the revision.
func readTxn(cmps ...*pb.Compare) *pb.TxnRequest {
	return &pb.TxnRequest{
		Compare: cmps,
		Success: []*pb.RequestOp{opGet("s/b")},
		Failure: []*pb.RequestOp{opRange(&pb.RangeRequest{Key: []byte("s/a"), KeysOnly: true})},
	}
}

// txnSteps starts at revision 26 and ends at 35. State at 26: foo="qux" (version 5, create 2,
// mod 9, no lease), s/b="apple" (version 1, create 13, mod 13), d/1 (create 26).
func txnSteps() []step {
	var steps []step
	// Every target × result, with a comparand below, equal to and above s/b's actual value.
	type comparands struct {
		target           string
		low, equal, high func(pb.Compare_CompareResult) *pb.Compare
	}
	for _, c := range []comparands{
		{"VERSION", rcmp(cmpVersion, "s/b", 0), rcmp(cmpVersion, "s/b", 1), rcmp(cmpVersion, "s/b", 2)},
		{"CREATE", rcmp(cmpCreate, "s/b", 12), rcmp(cmpCreate, "s/b", 13), rcmp(cmpCreate, "s/b", 14)},
		{"MOD", rcmp(cmpMod, "s/b", 12), rcmp(cmpMod, "s/b", 13), rcmp(cmpMod, "s/b", 14)},
		{"VALUE", rcmp(cmpValue, "s/b", "aaa"), rcmp(cmpValue, "s/b", "apple"), rcmp(cmpValue, "s/b", "b")},
	} {
		for _, r := range []pb.Compare_CompareResult{eq, gt, lt, ne} {
			steps = append(steps,
				txn(fmt.Sprintf("txn/cmp/%s-%s-low", c.target, r), readTxn(c.low(r)), 26),
				txn(fmt.Sprintf("txn/cmp/%s-%s-equal", c.target, r), readTxn(c.equal(r)), 26),
				txn(fmt.Sprintf("txn/cmp/%s-%s-high", c.target, r), readTxn(c.high(r)), 26),
			)
		}
	}
	mismatched := &pb.Compare{Key: []byte("s/b"), Target: pb.Compare_VERSION, Result: gt, TargetUnion: &pb.Compare_Value{Value: []byte("x")}}
	steps = append(steps,
		txn("txn/cmp/LEASE-EQUAL-0", readTxn(cmpLease("foo", eq, 0)), 26),
		txn("txn/cmp/LEASE-GREATER-0", readTxn(cmpLease("foo", gt, 0)), 26),
		txn("txn/cmp/LEASE-LESS-1", readTxn(cmpLease("foo", lt, 1)), 26),
		txn("txn/cmp/LEASE-NOT_EQUAL-0", readTxn(cmpLease("foo", ne, 0)), 26),
		txn("txn/cmp/missing-CREATE-EQUAL-0", readTxn(cmpCreate("nokey", eq, 0)), 26),
		txn("txn/cmp/missing-MOD-EQUAL-0", readTxn(cmpMod("nokey", eq, 0)), 26),
		txn("txn/cmp/missing-VERSION-EQUAL-0", readTxn(cmpVersion("nokey", eq, 0)), 26),
		txn("txn/cmp/missing-LEASE-EQUAL-0", readTxn(cmpLease("nokey", eq, 0)), 26),
		txn("txn/cmp/missing-VALUE-EQUAL-empty", readTxn(cmpValue("nokey", eq, "")), 26),
		txn("txn/cmp/missing-VALUE-NOT_EQUAL", readTxn(cmpValue("nokey", ne, "x")), 26),
		txn("txn/cmp/empty-value-EQUAL-empty", readTxn(cmpValue("empty", eq, "")), 26),
		txn("txn/cmp/target-union-mismatch", readTxn(mismatched), 26),
		txn("txn/cmp/range-VERSION-GREATER-0", readTxn(cmpPrefix(cmpVersion("s/", gt, 0))), 26),
		txn("txn/cmp/range-VERSION-GREATER-1", readTxn(cmpPrefix(cmpVersion("s/", gt, 1))), 26),
		txn("txn/cmp/range-MOD-LESS-20", readTxn(cmpPrefix(cmpMod("s/", lt, 20))), 26),
		txn("txn/cmp/range-VALUE-NOT_EQUAL", readTxn(cmpPrefix(cmpValue("s/", ne, "apple"))), 26),
		txn("txn/cmp/range-from-key", readTxn(&pb.Compare{Key: []byte("s/c"), RangeEnd: []byte("\x00"), Target: pb.Compare_CREATE, Result: lt, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 13}}), 26),
		txn("txn/cmp/empty-range-CREATE-EQUAL-0", readTxn(cmpPrefix(cmpCreate("zz/", eq, 0))), 26),
		txn("txn/cmp/empty-range-VALUE", readTxn(cmpPrefix(cmpValue("zz/", eq, ""))), 26),
		txn("txn/cmp/all-hold", readTxn(cmpVersion("foo", eq, 5), cmpMod("s/b", eq, 13), cmpValue("foo", eq, "qux")), 26),
		txn("txn/cmp/one-fails", readTxn(cmpVersion("foo", eq, 5), cmpMod("s/b", eq, 12), cmpValue("foo", eq, "qux")), 26),
	)
	return append(steps, txnWriteSteps()...)
}

// rcmp curries a compare builder over the result.
func rcmp[V any](f func(string, pb.Compare_CompareResult, V) *pb.Compare, k string, v V) func(pb.Compare_CompareResult) *pb.Compare {
	return func(r pb.Compare_CompareResult) *pb.Compare { return f(k, r, v) }
}

// txnWriteSteps: branches with writes, nesting and validation, revisions 27..35.
func txnWriteSteps() []step {
	b := func(s string) []byte { return []byte(s) }
	nTxn := func(ops ...*pb.RequestOp) *pb.RequestOp { return opTxn(&pb.TxnRequest{Success: ops}) }
	return []step{
		txn("txn/success-writes", &pb.TxnRequest{
			Compare: []*pb.Compare{cmpValue("foo", eq, "qux")},
			Success: []*pb.RequestOp{
				opPutReq(&pb.PutRequest{Key: b("foo"), Value: b("t1"), PrevKv: true}),
				opPut("t/x", "1"),
				opDel(&pb.DeleteRangeRequest{Key: b("d/1"), PrevKv: true}),
				opGet("foo"),
			},
			Failure: []*pb.RequestOp{opPut("t/never", "1")},
		}, 27),
		txn("txn/failure-writes", &pb.TxnRequest{
			Compare: []*pb.Compare{cmpValue("foo", eq, "nope")},
			Success: []*pb.RequestOp{opPut("t/never", "1")},
			Failure: []*pb.RequestOp{opPut("foo", "t2"), opGet("foo"), opRange(prefixRange("t/"))},
		}, 28),
		txn("txn/failure-read-only", &pb.TxnRequest{
			Compare: []*pb.Compare{cmpVersion("foo", eq, 1)},
			Success: []*pb.RequestOp{opPut("t/never", "1")},
			Failure: []*pb.RequestOp{opGet("foo")},
		}, 28),
		txn("txn/empty", &pb.TxnRequest{}, 28),
		txn("txn/compares-only-false", &pb.TxnRequest{Compare: []*pb.Compare{cmpVersion("foo", eq, 1)}}, 28),
		txn("txn/read-only-options", &pb.TxnRequest{Success: []*pb.RequestOp{
			opRange(&pb.RangeRequest{Key: b("foo"), Revision: 27}),
			opRange(&pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), CountOnly: true}),
			opRange(&pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), Limit: 1, SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_VERSION}),
			opRange(&pb.RangeRequest{Key: b("s/"), RangeEnd: prefixEnd("s/"), KeysOnly: true, MinModRevision: 17}),
		}}, 28),
		txn("txn/nested", &pb.TxnRequest{
			Compare: []*pb.Compare{cmpMod("foo", eq, 28)},
			Success: []*pb.RequestOp{
				opPut("n/a", "1"),
				opTxn(&pb.TxnRequest{
					Compare: []*pb.Compare{cmpCreate("n/a", eq, 0)}, // evaluated before the outer put
					Success: []*pb.RequestOp{opPut("n/b", "2"), opRange(prefixRange("n/"))},
					Failure: []*pb.RequestOp{opPut("n/c", "3")},
				}),
				opRange(prefixRange("n/")),
			},
		}, 29),
		txn("txn/nested-failure-branch", &pb.TxnRequest{
			Compare: []*pb.Compare{cmpVersion("foo", gt, 0)},
			Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{
				Compare: []*pb.Compare{cmpCreate("n/a", eq, 0)},
				Success: []*pb.RequestOp{opPut("n/x", "never")},
				Failure: []*pb.RequestOp{opPut("n/c", "3"), opGet("n/c")},
			})},
		}, 30),
		txn("txn/nested-read-only", &pb.TxnRequest{Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{
			Compare: []*pb.Compare{cmpValue("n/a", eq, "1")},
			Success: []*pb.RequestOp{opRange(prefixRange("n/"))},
			Failure: []*pb.RequestOp{opGet("foo")},
		})}}, 30),
		txn("txn/nested-deep", &pb.TxnRequest{Success: []*pb.RequestOp{
			opPut("m/2", "outer"),
			nTxn(nTxn(opPut("m/1", "deep"), opRange(prefixRange("m/")))),
		}}, 31),
		txn("txn/nested-empty", &pb.TxnRequest{Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{})}}, 31),
		txn("txn/overlapping-deletes", &pb.TxnRequest{Success: []*pb.RequestOp{
			opDelPrefix("t/"), opDel(&pb.DeleteRangeRequest{Key: b("t/x"), PrevKv: true}),
		}}, 32),
		txn("txn/nested-branches-overlap", &pb.TxnRequest{Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{
			Compare: []*pb.Compare{cmpMod("n/a", gt, 0)},
			Success: []*pb.RequestOp{opPut("n/q", "s")},
			Failure: []*pb.RequestOp{opPut("n/q", "f")},
		})}}, 33),
		txn("txn/put-then-range-same-key", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("t/y", "1"), opGet("t/y")}}, 34),
		txn("txn/dup-put", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("t/a", "1"), opPut("t/a", "2")}}, 0),
		txn("txn/dup-put-failure-branch", &pb.TxnRequest{
			Compare: []*pb.Compare{cmpVersion("foo", eq, 1)},
			Failure: []*pb.RequestOp{opPut("t/a", "1"), opPut("t/a", "2")},
		}, 0),
		txn("txn/dup-put-in-deleted-range", &pb.TxnRequest{Success: []*pb.RequestOp{opDelPrefix("t/"), opPut("t/b", "1")}}, 0),
		txn("txn/dup-delete-after-put", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("t/b", "1"), opDelPrefix("t/")}}, 0),
		txn("txn/dup-nested-put", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("n/a", "1"), nTxn(opPut("n/a", "2"))}}, 0),
		txn("txn/dup-nested-put-in-outer-delete", &pb.TxnRequest{Success: []*pb.RequestOp{opDelPrefix("n/"), nTxn(opPut("n/z", "1"))}}, 0),
		txn("txn/too-many-success-ops", &pb.TxnRequest{Success: putsPrefixed("many/", 129)}, 0),
		txn("txn/too-many-failure-ops", &pb.TxnRequest{Failure: ops(129, opGet("foo"))}, 0),
		txn("txn/too-many-compares", &pb.TxnRequest{Compare: func() []*pb.Compare {
			c := make([]*pb.Compare, 129)
			for i := range c {
				c[i] = cmpVersion("foo", gt, 0)
			}
			return c
		}()}, 0),
		txn("txn/nested-ops-over-limit", &pb.TxnRequest{Success: append(ops(100, opGet("foo")), nTxn(ops(28, opGet("foo"))...))}, 0),
		txn("txn/nested-ops-at-limit", &pb.TxnRequest{Success: append(ops(100, opGet("foo")), nTxn(ops(27, opGet("foo"))...))}, 34),
		txn("txn/max-ops-128", &pb.TxnRequest{Success: putsPrefixed("many/", 128)}, 35),
		txn("txn/compare-empty-key", &pb.TxnRequest{Compare: []*pb.Compare{cmpVersion("", eq, 0)}}, 0),
		txn("txn/empty-request-op", &pb.TxnRequest{Success: []*pb.RequestOp{{}}}, 0),
		txn("txn/put-empty-key", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("", "v")}}, 0),
		txn("txn/range-empty-key", &pb.TxnRequest{Success: []*pb.RequestOp{opGet("")}}, 0),
		txn("txn/put-unknown-lease", &pb.TxnRequest{Success: []*pb.RequestOp{
			opPut("t/l1", "v"), opPutReq(&pb.PutRequest{Key: b("t/l2"), Value: b("v"), Lease: 0x7eadbeef}),
		}}, 0),
		txn("txn/ignore-value-missing-key", &pb.TxnRequest{Success: []*pb.RequestOp{
			opPutReq(&pb.PutRequest{Key: b("t/missing"), IgnoreValue: true}),
		}}, 0),
		txn("txn/range-future-rev", &pb.TxnRequest{Success: []*pb.RequestOp{
			opGet("foo"), opRange(&pb.RangeRequest{Key: b("foo"), Revision: 1000}),
		}}, 0),
		writeTxnBadRange("txn/put-then-range-future-rev", "t/f", &pb.RangeRequest{Key: b("foo"), Revision: 1000}, errFutureRev),
		rng("txn/nothing-applied-by-failed-txns", &pb.RangeRequest{Key: b("\x00"), RangeEnd: b("\x00"), KeysOnly: true, MinModRevision: 36}),
	}
}

var (
	errFutureRev = outcome{code: codes.OutOfRange, msg: "etcdserver: mvcc: required revision is a future revision"}
	errCompacted = outcome{code: codes.OutOfRange, msg: "etcdserver: mvcc: required revision has been compacted"}
)

// writeTxnBadRange is a txn that puts key and then reads with r, whose revision is future or
// compacted: the whole txn must fail with want and apply nothing (docs/ETCD-API.md "KV", Txn).
// etcd 3.4 cannot be the reference: only the member that got the request fails it, the others
// strip the range and apply the put (etcd-io/etcd#18667), leaving the members inconsistent. So
// the step runs against Keel only, and the compared reads that follow check that nothing was
// applied.
func writeTxnBadRange(name, key string, r *pb.RangeRequest, want outcome) step {
	s := txn(name, &pb.TxnRequest{Success: []*pb.RequestOp{opPut(key, "v"), opRange(r)}}, 0)
	s.fixed = &want
	s.fixedWhy = "etcd 3.4 applies the put on the members that did not serve the request (etcd-io/etcd#18667)"
	return s
}

// compactSteps compact at 12, 20 and the current revision (35), reading around each point.
func compactSteps() []step {
	b := func(s string) []byte { return []byte(s) }
	sPrefixAt := func(rev int64) *pb.RangeRequest {
		r := prefixRange("s/")
		r.Revision = rev
		return r
	}
	return []step{
		compact("compact/future", &pb.CompactionRequest{Revision: 1000}, 0),
		compact("compact/future-by-one", &pb.CompactionRequest{Revision: 36}, 0),
		compact("compact/at-12", &pb.CompactionRequest{Revision: 12}, 35),
		rng("compact/range-below", sPrefixAt(11)),
		rng("compact/range-at", sPrefixAt(12)),
		rng("compact/range-above", sPrefixAt(15)),
		serializableRng("compact/range-below-serializable", sPrefixAt(11)),
		rng("compact/range-latest", prefixRange("s/")),
		compact("compact/same-again", &pb.CompactionRequest{Revision: 12}, 0),
		compact("compact/lower", &pb.CompactionRequest{Revision: 5}, 0),
		txn("compact/txn-range-below", &pb.TxnRequest{Success: []*pb.RequestOp{opGet("foo"), opRange(sPrefixAt(11))}}, 0),
		writeTxnBadRange("compact/txn-put-then-range-below", "c/x", sPrefixAt(11), errCompacted),
		rng("compact/nothing-applied-by-failed-txn", prefixRange("c/")),
		txn("compact/txn-range-at", &pb.TxnRequest{Success: []*pb.RequestOp{opRange(sPrefixAt(12))}}, 35),
		compact("compact/physical-20", &pb.CompactionRequest{Revision: 20, Physical: true}, 35),
		rng("compact/range-below-physical", sPrefixAt(19)),
		rng("compact/range-at-physical", &pb.RangeRequest{Key: b("\x00"), RangeEnd: b("\x00"), Revision: 20}),
		rng("compact/deleted-history", &pb.RangeRequest{Key: b("d/"), RangeEnd: prefixEnd("d/"), Revision: 22}),
		compact("compact/current", &pb.CompactionRequest{Revision: 35}, 35),
		rng("compact/range-at-current", &pb.RangeRequest{Key: b("n/"), RangeEnd: prefixEnd("n/"), Revision: 35}),
		rng("compact/range-below-current", &pb.RangeRequest{Key: b("n/"), RangeEnd: prefixEnd("n/"), Revision: 34}),
		put("compact/put-after", "c/after", "1", 36),
		putReq("compact/put-overwrite-prev-kv", &pb.PutRequest{Key: b("foo"), Value: b("final"), PrevKv: true}, 37),
		rng("compact/history-after", &pb.RangeRequest{Key: b("foo"), Revision: 36}),
		del("compact/delete-everything", &pb.DeleteRangeRequest{Key: b("\x00"), RangeEnd: b("\x00"), PrevKv: true}, 38),
		rng("compact/all-after-wipe", &pb.RangeRequest{Key: b("\x00"), RangeEnd: b("\x00")}),
		rng("compact/count-before-wipe", &pb.RangeRequest{Key: b("\x00"), RangeEnd: b("\x00"), Revision: 37, CountOnly: true}),
		compact("compact/to-latest", &pb.CompactionRequest{Revision: 38}, 38),
		rng("compact/range-at-latest-empty", &pb.RangeRequest{Key: b("\x00"), RangeEnd: b("\x00"), Revision: 38}),
	}
}
