package raftstore

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	keelpb "github.com/keeldb/keel/api/proto"
)

// A lease record is copied as is between Keel's leases bucket and etcd's lease bucket
// (etcdBuckets), so its encoding must stay etcd's leasepb.Lease: ID = 1, TTL = 2,
// RemainingTTL = 3, all int64 varints, under the ID as 8 big-endian bytes.
func TestLeaseRecordIsEtcdsLeasepbLease(t *testing.T) {
	var want []byte
	for i, v := range []int64{0x1234567890, 3600, 42} {
		want = protowire.AppendTag(want, protowire.Number(i+1), protowire.VarintType)
		want = protowire.AppendVarint(want, uint64(v))
	}
	got := mustMarshal(&keelpb.LeaseRecord{Id: 0x1234567890, Ttl: 3600, RemainingTtl: 42})
	if !bytes.Equal(got, want) {
		t.Fatalf("LeaseRecord encodes as %x, etcd's leasepb.Lease as %x", got, want)
	}
	if k := beAppend(nil, 0x1234567890); !bytes.Equal(k, []byte{0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x90}) {
		t.Fatalf("lease key %x, want the ID as 8 big-endian bytes", k)
	}
	if etcdBuckets["lease"] != string(bucketLeases) {
		t.Fatalf("etcdBuckets = %v", etcdBuckets)
	}
}
