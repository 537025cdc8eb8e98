package k8sstorage

import (
	"fmt"
	"testing"

	"k8s.io/apiserver/pkg/features"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
)

// The list tests of k8s.io/apiserver/pkg/storage/etcd3/store_test.go at v0.37.2, with the
// EtcdRangeStream gate on, against Keel. Each asserts that the lists went through RangeStream:
// the client's KVRecorder counted GetStream calls, Keel's members counted RangeStream RPCs
// (grpc_server_handled_total), and the store never marked RangeStream unsupported.

// streamOn turns the EtcdRangeStream gate on for the test, with a fresh feature support
// checker. ListFromCacheSnapshot is left off: it makes the store read and watch the compaction
// key, which upstream's call counts (checkStorageCallsInvariants) do not expect either.
func streamOn(t *testing.T) {
	t.Helper()
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.EtcdRangeStream, true)
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.ListFromCacheSnapshot, false)
	resetFeatureSupportChecker(t)
}

// requireStreamed checks, at the end of a list test, that lists went through RangeStream on
// both sides of the wire.
func requireStreamed(t *testing.T, e *env, clientStreams uint64) {
	t.Helper()
	requireStreamSupported(t)
	if clientStreams == 0 {
		t.Error("the store made no GetStream call: lists were not served by RangeStream")
	}
	served := rangeStreamsServed(t, e.cluster)
	if served == 0 {
		t.Error("Keel served no RangeStream call")
	}
	t.Logf("RangeStream: %d GetStream calls by the store, %d RPCs served by Keel", clientStreams, served)
}

func TestList(t *testing.T) {
	for _, members := range []int{1, 3} {
		t.Run(fmt.Sprintf("members=%d", members), func(t *testing.T) {
			streamOn(t)
			e := setup(t, withMembers(members))
			storagetesting.RunTestList(e.ctx, t, e.store, compactStorage(e.client.Client), false, e.lists)
			requireStreamed(t, e, e.kv.GetStreamReadsAndReset())
		})
	}
}

func TestConsistentList(t *testing.T) {
	streamOn(t)
	e := setup(t)
	storagetesting.RunTestConsistentList(e.ctx, t, e.store, increaseRVFunc(e.client.Client), false, true, false)
	requireStreamed(t, e, e.kv.GetStreamReadsAndReset())
}

func TestListPaging(t *testing.T) {
	streamOn(t)
	e := setup(t)
	storagetesting.RunTestListPaging(e.ctx, t, e.store)
	requireStreamed(t, e, e.kv.GetStreamReadsAndReset())
}

func TestGetListNonRecursive(t *testing.T) {
	// A non-recursive list reads one object with a plain Range (shouldStream): no stream expected.
	streamOn(t)
	e := setup(t)
	storagetesting.RunTestGetListNonRecursive(e.ctx, t, increaseRVFunc(e.client.Client), e.store)
	requireStreamSupported(t)
}

func TestGetListRecursivePrefix(t *testing.T) {
	streamOn(t)
	e := setup(t)
	storagetesting.RunTestGetListRecursivePrefix(e.ctx, t, e.store)
	requireStreamed(t, e, e.kv.GetStreamReadsAndReset())
}

func TestKeySchema(t *testing.T) {
	streamOn(t)
	e := setup(t)
	storagetesting.RunTestKeySchema(e.ctx, t, e.store)
	requireStreamSupported(t)
}

// requirePaginated checks that a list test whose lists are filtered pages (a label or field
// selector with a limit) was served by paginated Range, as etcd3's shouldStream decides ("etcd
// is unaware of selector matches, so a filtered page can't carry a proper limit"), and that the
// store did not fall back from RangeStream.
func requirePaginated(t *testing.T, e *env) {
	t.Helper()
	requireStreamSupported(t)
	if n := rangeStreamsServed(t, e.cluster); n != 0 {
		t.Errorf("Keel served %d RangeStream calls for filtered pages, want 0 (etcd3 pages those with Range)", n)
	}
}

// The call-count tests: checkStorageCallsInvariants counts Range and GetStream calls together
// (each validation resets the recorder), so the stream count comes from the server side.

func TestListContinuation(t *testing.T) {
	streamOn(t)
	e := setup(t)
	storagetesting.RunTestListContinuation(e.ctx, t, e.store, checkStorageCallsInvariants(e.prefix, e.kv))
	requireStreamed(t, e, rangeStreamsServed(t, e.cluster))
}

func TestListPaginationRareObject(t *testing.T) {
	streamOn(t)
	e := setup(t)
	storagetesting.RunTestListPaginationRareObject(e.ctx, t, e.store, checkStorageCallsInvariants(e.prefix, e.kv))
	requirePaginated(t, e)
}

func TestListContinuationWithFilter(t *testing.T) {
	streamOn(t)
	e := setup(t)
	storagetesting.RunTestListContinuationWithFilter(e.ctx, t, e.store, checkStorageCallsInvariants(e.prefix, e.kv))
	requirePaginated(t, e)
}

func TestNamespaceScopedList(t *testing.T) {
	streamOn(t)
	e := setup(t)
	storagetesting.RunTestNamespaceScopedList(e.ctx, t, e.store)
	requireStreamed(t, e, e.kv.GetStreamReadsAndReset())
}

func TestListInconsistentContinuation(t *testing.T) {
	streamOn(t)
	e := setup(t)
	storagetesting.RunTestListInconsistentContinuation(e.ctx, t, e.store, compactStorage(e.client.Client))
	requireStreamed(t, e, e.kv.GetStreamReadsAndReset())
}

func TestListResourceVersionMatch(t *testing.T) {
	streamOn(t)
	e := setup(t)
	storagetesting.RunTestListResourceVersionMatch(e.ctx, t, e.withPrefixTransformer())
	requirePaginated(t, e)
}
