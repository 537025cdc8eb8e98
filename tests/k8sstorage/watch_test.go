package k8sstorage

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/features"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
)

// TestWatch is k8s.io/apiserver/pkg/storage/etcd3/watcher_test.go's TestWatch at v0.37.2
// against Keel (ProgressNotify and WatchDispatchBookmarkEvents with a 1 s progress interval,
// as upstream sets etcd's), less WatchWithUnsafeDelete, which needs the store's unexported
// corruptObjectError. With the gate on,
// the watch-list subtests read their initial state through RangeStream (watcher.go sync).
func TestWatch(t *testing.T) {
	t.Run("Watch", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestWatch(e.ctx, t, e.store)
	})
	t.Run("ClusterScopedWatch", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestClusterScopedWatch(e.ctx, t, e.store)
	})
	t.Run("NamespaceScopedWatch", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestNamespaceScopedWatch(e.ctx, t, e.store)
	})
	t.Run("DeleteTriggerWatch", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestDeleteTriggerWatch(e.ctx, t, e.store)
	})
	t.Run("WatchFromZero", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestWatchFromZero(e.ctx, t, e.store, compactStorage(e.client.Client))
	})
	t.Run("WatchFromNonZero", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestWatchFromNonZero(e.ctx, t, e.store)
	})
	t.Run("DelayedWatchDelivery", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestDelayedWatchDelivery(e.ctx, t, e.store)
	})
	t.Run("WatchError", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestWatchError(e.ctx, t, e.withPrefixTransformer())
	})
	t.Run("WatchContextCancel", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestWatchContextCancel(e.ctx, t, e.store)
	})
	t.Run("WatcherTimeout", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestWatcherTimeout(e.ctx, t, e.store)
	})
	t.Run("WatchDeleteEventObjectHaveLatestRV", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestWatchDeleteEventObjectHaveLatestRV(e.ctx, t, e.store)
	})
	t.Run("WatchInitializationSignal", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunTestWatchInitializationSignal(e.ctx, t, e.store)
	})
	t.Run("ProgressNotify", func(t *testing.T) {
		e := setup(t, withProgressInterval(time.Second))
		storagetesting.RunOptionalTestProgressNotify(e.ctx, t, e.store, increaseRVFunc(e.client.Client))
	})
	t.Run("WatchDispatchBookmarkEvents", func(t *testing.T) {
		e := setup(t, withProgressInterval(time.Second))
		storagetesting.RunTestWatchDispatchBookmarkEvents(e.ctx, t, e.store, false)
	})
	t.Run("SendInitialEventsBackwardCompatibility", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunSendInitialEventsBackwardCompatibility(e.ctx, t, e.store)
	})
	for _, rangeStream := range []bool{false, true} {
		t.Run(fmt.Sprintf("RangeStream=%v", rangeStream), func(t *testing.T) {
			featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.EtcdRangeStream, rangeStream)
			resetFeatureSupportChecker(t)
			t.Run("WatchSemantics", func(t *testing.T) {
				e := setup(t)
				// Its subtests are parallel: they run after this function returns, before
				// the cleanups.
				t.Cleanup(func() { checkWatchStreams(t, e, rangeStream) })
				storagetesting.RunWatchSemantics(e.ctx, t, e.store)
			})
			t.Run("WatchSemanticsWithConcurrentDecode", func(t *testing.T) {
				featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.ConcurrentWatchObjectDecode, true)
				e := setup(t)
				// Its subtests are parallel: they run after this function returns, before
				// the cleanups.
				t.Cleanup(func() { checkWatchStreams(t, e, rangeStream) })
				storagetesting.RunWatchSemantics(e.ctx, t, e.store)
			})
			t.Run("WatchSemanticInitialEventsExtended", func(t *testing.T) {
				e := setup(t)
				t.Cleanup(func() { checkWatchStreams(t, e, rangeStream) })
				storagetesting.RunWatchSemanticInitialEventsExtended(e.ctx, t, e.store)
			})
			t.Run("WatchListMatchSingle", func(t *testing.T) {
				e := setup(t)
				storagetesting.RunWatchListMatchSingle(e.ctx, t, e.store)
			})
		})
	}
	t.Run("WatchErrorEventIsBlockingFurtherEvent", func(t *testing.T) {
		e := setup(t)
		storagetesting.RunWatchErrorIsBlockingFurtherEvents(e.ctx, t, e.withPrefixTransformer())
	})
}

// checkWatchStreams checks that the watch-list initial reads went through RangeStream with the
// gate on, and never with it off.
func checkWatchStreams(t *testing.T, e *env, rangeStream bool) {
	t.Helper()
	n := rangeStreamsServed(t, e.cluster)
	switch {
	case rangeStream && n == 0:
		t.Error("Keel served no RangeStream call for the watch-list initial events")
	case !rangeStream && n != 0:
		t.Errorf("Keel served %d RangeStream calls with the gate off", n)
	}
	if rangeStream {
		requireStreamSupported(t)
		t.Logf("RangeStream: %d RPCs served by Keel for the watch-list initial events", n)
	}
}
