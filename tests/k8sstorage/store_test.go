package k8sstorage

import (
	"errors"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/storage"

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

// expectStreamed checks, once the test and its subtests are done (upstream's list tests run
// parallel subtests, which start after the test function returns), that its lists went
// through RangeStream: Keel served RangeStream calls, the store never marked the feature
// unsupported, and, where the test leaves the client's KVRecorder alone (clientCounted), the
// store made GetStream calls.
func expectStreamed(t *testing.T, e *env, clientCounted bool) {
	t.Helper()
	t.Cleanup(func() {
		requireStreamSupported(t)
		served := rangeStreamsServed(t, e.cluster)
		if served == 0 {
			t.Error("Keel served no RangeStream call")
		}
		if !clientCounted {
			t.Logf("RangeStream: %d RPCs served by Keel", served)
			return
		}
		streams := e.kv.GetStreamReadsAndReset()
		if streams == 0 {
			t.Error("the store made no GetStream call: lists were not served by RangeStream")
		}
		t.Logf("RangeStream: %d GetStream calls by the store, %d RPCs served by Keel", streams, served)
	})
}

func TestList(t *testing.T) {
	for _, members := range []int{1, 3} {
		t.Run(fmt.Sprintf("members=%d", members), func(t *testing.T) {
			streamOn(t)
			e := setup(t, withMembers(members))
			expectStreamed(t, e, true)
			storagetesting.RunTestList(e.ctx, t, e.store, compactStorage(e.client.Client), false, e.lists)
		})
	}
}

func TestConsistentList(t *testing.T) {
	streamOn(t)
	e := setup(t)
	expectStreamed(t, e, true)
	storagetesting.RunTestConsistentList(e.ctx, t, e.store, increaseRVFunc(e.client.Client), false, true, false)
}

func TestListPaging(t *testing.T) {
	streamOn(t)
	e := setup(t)
	expectStreamed(t, e, true)
	storagetesting.RunTestListPaging(e.ctx, t, e.store)
}

func TestGetListNonRecursive(t *testing.T) {
	// A non-recursive list reads one object with a plain Range (shouldStream): no stream expected.
	streamOn(t)
	e := setup(t)
	t.Cleanup(func() { requireStreamSupported(t) })
	storagetesting.RunTestGetListNonRecursive(e.ctx, t, increaseRVFunc(e.client.Client), e.store)
}

func TestGetListRecursivePrefix(t *testing.T) {
	streamOn(t)
	e := setup(t)
	expectStreamed(t, e, true)
	storagetesting.RunTestGetListRecursivePrefix(e.ctx, t, e.store)
}

func TestKeySchema(t *testing.T) {
	streamOn(t)
	e := setup(t)
	t.Cleanup(func() { requireStreamSupported(t) })
	storagetesting.RunTestKeySchema(e.ctx, t, e.store)
}

// expectPaginated checks, once the test is done, that a list test whose lists are filtered
// pages (a label or field selector with a limit) was served by paginated Range, as etcd3's
// shouldStream decides ("etcd is unaware of selector matches, so a filtered page can't carry a
// proper limit"), and that the store did not fall back from RangeStream.
func expectPaginated(t *testing.T, e *env) {
	t.Helper()
	t.Cleanup(func() {
		requireStreamSupported(t)
		if n := rangeStreamsServed(t, e.cluster); n != 0 {
			t.Errorf("Keel served %d RangeStream calls for filtered pages, want 0 (etcd3 pages those with Range)", n)
		}
	})
}

// TestGetListWithoutErrorAggregation is upstream's, with AllowUnsafeMalformedObjectDeletion
// off: a list aborts on the first object that fails to transform. Upstream passes its
// unexported corruptObjectError; with the gate off the store treats every transform error
// alike, so a plain error stands in. (RunTestGetListWithErrorAggregation tells that type from
// others, so it is left out.)
func TestGetListWithoutErrorAggregation(t *testing.T) {
	streamOn(t)
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, false)
	e := setup(t)
	expectStreamed(t, e, true)
	storagetesting.RunTestGetListWithoutErrorAggregation(e.ctx, t, e.withTransformerOverride(), errors.New("bits flipped"))
}

// The call-count tests: checkStorageCallsInvariants counts Range and GetStream calls together
// (each validation resets the recorder), so the stream count comes from the server side.

func TestListContinuation(t *testing.T) {
	streamOn(t)
	e := setup(t)
	expectStreamed(t, e, false)
	storagetesting.RunTestListContinuation(e.ctx, t, e.store, checkStorageCallsInvariants(e.prefix, e.kv))
}

func TestListPaginationRareObject(t *testing.T) {
	streamOn(t)
	e := setup(t)
	expectPaginated(t, e)
	storagetesting.RunTestListPaginationRareObject(e.ctx, t, e.store, checkStorageCallsInvariants(e.prefix, e.kv))
}

func TestListContinuationWithFilter(t *testing.T) {
	streamOn(t)
	e := setup(t)
	expectPaginated(t, e)
	storagetesting.RunTestListContinuationWithFilter(e.ctx, t, e.store, checkStorageCallsInvariants(e.prefix, e.kv))
}

func TestNamespaceScopedList(t *testing.T) {
	streamOn(t)
	e := setup(t)
	expectStreamed(t, e, true)
	storagetesting.RunTestNamespaceScopedList(e.ctx, t, e.store)
}

func TestListInconsistentContinuation(t *testing.T) {
	streamOn(t)
	e := setup(t)
	expectStreamed(t, e, true)
	storagetesting.RunTestListInconsistentContinuation(e.ctx, t, e.store, compactStorage(e.client.Client))
}

func TestListResourceVersionMatch(t *testing.T) {
	streamOn(t)
	e := setup(t)
	expectPaginated(t, e)
	storagetesting.RunTestListResourceVersionMatch(e.ctx, t, e.withPrefixTransformer())
}

// TestGetListStreamMultiChunk is upstream's test of the same name: a list of 25 pods spans
// several RangeStream messages (Keel's first chunk holds 10 keys, as etcd's), consistent, exact
// at a revision, and not older than a revision.
func TestGetListStreamMultiChunk(t *testing.T) {
	streamOn(t)
	e := setup(t)
	expectStreamed(t, e, false)
	const podCount = 25
	for i := range podCount {
		pod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("pod-%02d", i)}}
		if err := e.store.Create(e.ctx, fmt.Sprintf("/pods/ns/pod-%02d", i), pod, &example.Pod{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	streamedList := func(t *testing.T, rv string, rvMatch metav1.ResourceVersionMatch) *example.PodList {
		t.Helper()
		out := &example.PodList{}
		opts := storage.ListOptions{ResourceVersion: rv, ResourceVersionMatch: rvMatch, Predicate: storage.Everything, Recursive: true}
		if err := e.store.GetList(e.ctx, "/pods/", opts, out); err != nil {
			t.Fatalf("GetList failed: %v", err)
		}
		if streams := e.kv.GetStreamReadsAndReset(); streams == 0 {
			t.Error("expected the list to be served by RangeStream")
		}
		if out.Continue != "" || out.RemainingItemCount != nil {
			t.Errorf("streamed list must not paginate, got continue %q, remainingItemCount %v", out.Continue, out.RemainingItemCount)
		}
		return out
	}
	snapshot := streamedList(t, "", "")
	if len(snapshot.Items) != podCount {
		t.Errorf("consistent list returned %d items, want %d", len(snapshot.Items), podCount)
	}
	extraPod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pod-extra"}}
	if err := e.store.Create(e.ctx, "/pods/ns/pod-extra", extraPod, &example.Pod{}, 0); err != nil {
		t.Fatal(err)
	}
	// A pinned stream returns the snapshot at the exact revision, not later writes.
	exact := streamedList(t, snapshot.ResourceVersion, metav1.ResourceVersionMatchExact)
	if len(exact.Items) != podCount {
		t.Errorf("exact list returned %d items, want %d", len(exact.Items), podCount)
	}
	if exact.ResourceVersion != snapshot.ResourceVersion {
		t.Errorf("exact list returned resourceVersion %s, want %s", exact.ResourceVersion, snapshot.ResourceVersion)
	}
	// An unpinned stream at a minimum revision serves the latest data.
	notOlder := streamedList(t, snapshot.ResourceVersion, "")
	if len(notOlder.Items) != podCount+1 {
		t.Errorf("notOlderThan list returned %d items, want %d", len(notOlder.Items), podCount+1)
	}
}
