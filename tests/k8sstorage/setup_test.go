package k8sstorage

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/kubernetes"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/etcd3"
	etcdfeature "k8s.io/apiserver/pkg/storage/feature"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value"
	"k8s.io/utils/clock"

	"github.com/keeldb/keel/internal/testcluster"
)

// What follows mirrors the setup of k8s.io/apiserver/pkg/storage/etcd3/store_test.go at
// v0.37.2 (testSetup, checkStorageInvariants, compactStorage, increaseRVFunc,
// checkStorageCallsInvariants, storeWithPrefixTransformer), with one change: the client
// reaches an in-process Keel cluster (internal/testcluster: real raft, real gRPC) instead of an
// embedded etcd. The store's internals that upstream's wrappers reach into (s.transformer,
// s.watcher.transformer) are not exported, so the transformer given to etcd3.New here is a
// swappable one that the wrappers change in place.

var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)

	// streamsServed adds up every member's grpc_server_handled_total for RangeStream over the
	// run; TestMain prints it.
	streamsServed atomic.Uint64
)

const defaultTestPrefix = "test!"

func init() {
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	utilruntime.Must(example.AddToScheme(scheme))
	utilruntime.Must(examplev1.AddToScheme(scheme))
}

func TestMain(m *testing.M) {
	code := m.Run()
	fmt.Printf("k8sstorage: Keel served %d RangeStream calls\n", streamsServed.Load())
	os.Exit(code)
}

// env is one test's store over one Keel cluster.
type env struct {
	ctx         context.Context
	store       storage.Interface
	client      *kubernetes.Client
	kv          *storagetesting.KVRecorder
	lists       *storagetesting.KubernetesRecorder
	transformer *swapTransformer
	prefix      *storagetesting.PrefixTransformer
	cluster     *testcluster.Cluster
}

type setupOptions struct {
	members        int
	progress       time.Duration
	prefix         string
	resourcePrefix string
}

type setupOption func(*setupOptions)

func withMembers(n int) setupOption { return func(o *setupOptions) { o.members = n } }

// withProgressInterval sets Keel's watch progress-notify interval, as upstream sets etcd's
// WatchProgressNotifyInterval.
func withProgressInterval(d time.Duration) setupOption {
	return func(o *setupOptions) { o.progress = d }
}

func setup(t *testing.T, opts ...setupOption) *env {
	t.Helper()
	o := setupOptions{members: 1, resourcePrefix: "/pods/"}
	for _, opt := range opts {
		opt(&o)
	}
	c := testcluster.StartWith(t, o.members, testcluster.Options{WatchProgressInterval: o.progress})
	t.Cleanup(func() {
		// Registered after the cluster's own cleanup, so it runs before the members stop.
		n := rangeStreamsServed(t, c)
		streamsServed.Add(n)
	})
	cli, err := kubernetes.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	lists := storagetesting.NewKubernetesRecorder(cli.Kubernetes)
	kv := storagetesting.NewKVRecorder(cli.KV, lists)
	cli.KV = kv
	cli.Kubernetes = lists

	cdc := codec()
	prefix := storagetesting.NewPrefixTransformer([]byte(defaultTestPrefix), false)
	tr := &swapTransformer{cur: prefix}
	versioner := storage.APIObjectVersioner{}
	compactor := etcd3.NewCompactor(cli.Client, 0, clock.RealClock{}, nil)
	t.Cleanup(compactor.Stop)
	s, err := etcd3.New(cli, compactor, cdc,
		func() runtime.Object { return &example.Pod{} },
		func() runtime.Object { return &example.PodList{} },
		o.prefix, o.resourcePrefix, schema.GroupResource{Resource: "pods"}, tr,
		leaseConfig(),
		etcd3.NewDefaultDecoder(cdc, versioner), versioner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &env{ctx: context.Background(), store: s, client: cli, kv: kv, lists: lists,
		transformer: tr, prefix: prefix, cluster: c}
}

// codec is upstream's: the example API's v1 in the test scheme.
func codec() runtime.Codec { return apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion) }

// leaseConfig is upstream's newTestLeaseManagerConfig: leases reused for 1 s.
func leaseConfig() etcd3.LeaseManagerConfig {
	cfg := etcd3.NewDefaultLeaseManagerConfig()
	cfg.ReuseDurationSeconds = 1
	return cfg
}

// rangeStreamsServed is the number of RangeStream calls the cluster's members completed, from
// their grpc_server_handled_total counters.
func rangeStreamsServed(t *testing.T, c *testcluster.Cluster) uint64 {
	t.Helper()
	var n float64
	for _, m := range c.Members {
		if m.Registry == nil {
			continue
		}
		n += counter(t, m.Registry, "grpc_server_handled_total", "grpc_method", "RangeStream")
	}
	return uint64(n)
}

func counter(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// resetFeatureSupportChecker gives the test a fresh etcdfeature.DefaultFeatureSupportChecker, as
// upstream's resetFeatureSupportCheckerDuringTest does: a fallback in one test (RangeStream
// marked unsupported) must not carry over.
func resetFeatureSupportChecker(t *testing.T) {
	t.Helper()
	orig := etcdfeature.DefaultFeatureSupportChecker
	etcdfeature.DefaultFeatureSupportChecker = etcdfeature.NewDefaultFeatureSupportChecker()
	t.Cleanup(func() { etcdfeature.DefaultFeatureSupportChecker = orig })
}

// requireStreamSupported fails the test when the store fell back from RangeStream (it marks the
// feature unsupported when Keel answers Unimplemented).
func requireStreamSupported(t *testing.T) {
	t.Helper()
	if !etcdfeature.DefaultFeatureSupportChecker.Supports(storage.RangeStream) {
		t.Error("the store marked RangeStream unsupported: it fell back to paginated Range")
	}
}

// swapTransformer is the store's value.Transformer; the wrappers below replace what it
// delegates to, as upstream's replace s.transformer and s.watcher.transformer.
type swapTransformer struct {
	mu  sync.RWMutex
	cur value.Transformer
}

func (s *swapTransformer) get() value.Transformer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur
}

func (s *swapTransformer) set(t value.Transformer) value.Transformer {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur
	s.cur = t
	return old
}

func (s *swapTransformer) TransformFromStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, bool, error) {
	return s.get().TransformFromStorage(ctx, data, dataCtx)
}

func (s *swapTransformer) TransformToStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, error) {
	return s.get().TransformToStorage(ctx, data, dataCtx)
}

// storeWithPrefixTransformer is upstream's wrapper of the same name.
type storeWithPrefixTransformer struct {
	storage.Interface
	tr     *swapTransformer
	prefix *storagetesting.PrefixTransformer
}

func (e *env) withPrefixTransformer() *storeWithPrefixTransformer {
	return &storeWithPrefixTransformer{Interface: e.store, tr: e.transformer, prefix: e.prefix}
}

func (s *storeWithPrefixTransformer) UpdatePrefixTransformer(modifier storagetesting.PrefixTransformerModifier) func() {
	copied := *s.prefix
	old := s.tr.set(modifier(&copied))
	return func() { s.tr.set(old) }
}

// checkStorageInvariants is upstream's: the stored value is the prefixed object without
// resourceVersion or selfLink.
func checkStorageInvariants(etcdClient *clientv3.Client, codec runtime.Codec) storagetesting.KeyValidation {
	return func(ctx context.Context, t *testing.T, key string) {
		getResp, err := etcdClient.KV.Get(ctx, key)
		if err != nil {
			t.Fatalf("etcdClient.KV.Get failed: %v", err)
		}
		if len(getResp.Kvs) == 0 {
			t.Fatalf("expecting non empty result on key: %s", key)
		}
		decoded, err := runtime.Decode(codec, getResp.Kvs[0].Value[len(defaultTestPrefix):])
		if err != nil {
			t.Fatalf("expecting successful decode of object from %v\n%v", err, string(getResp.Kvs[0].Value))
		}
		obj := decoded.(*example.Pod)
		if obj.ResourceVersion != "" {
			t.Errorf("stored object should have empty resource version")
		}
		if obj.SelfLink != "" {
			t.Errorf("stored output should have empty selfLink")
		}
	}
}

// compactStorage is upstream's, less the wait for ListFromCacheSnapshot (these tests leave the
// store's compaction watch alone: see TestList).
func compactStorage(client *clientv3.Client) storagetesting.Compaction {
	return func(ctx context.Context, t *testing.T, resourceVersion string) {
		versioner := storage.APIObjectVersioner{}
		rv, err := versioner.ParseResourceVersion(resourceVersion)
		if err != nil {
			t.Fatal(err)
		}
		var currentVersion int64
		currentVersion, _, _, err = etcd3.Compact(ctx, client, currentVersion, int64(rv))
		if err != nil {
			_, _, _, err = etcd3.Compact(ctx, client, currentVersion, int64(rv))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func increaseRVFunc(client *clientv3.Client) storagetesting.IncreaseRVFunc {
	return func(ctx context.Context, t *testing.T) int64 {
		resp, err := client.KV.Put(ctx, "increaseRV", "ok")
		if err != nil {
			t.Fatalf("Could not update increaseRV: %v", err)
		}
		return resp.Header.Revision
	}
}

// maxLimit is etcd3's (store.go): the page size the paginated path doubles up to.
const maxLimit = 10000

// checkStorageCallsInvariants is upstream's: the objects decoded and the reads (Range or
// RangeStream) a paginated list makes.
func checkStorageCallsInvariants(transformer *storagetesting.PrefixTransformer, recorder *storagetesting.KVRecorder) storagetesting.CallsValidation {
	return func(t *testing.T, pageSize, estimatedProcessedObjects uint64) {
		if reads := transformer.GetReadsAndReset(); reads != estimatedProcessedObjects {
			t.Errorf("unexpected reads: %d, expected: %d", reads, estimatedProcessedObjects)
		}
		estimatedGetCalls := uint64(1)
		if pageSize != 0 {
			currLimit := pageSize
			for sum := uint64(1); sum < estimatedProcessedObjects; {
				currLimit *= 2
				if currLimit > maxLimit {
					currLimit = maxLimit
				}
				sum += currLimit
				estimatedGetCalls++
			}
		}
		if reads := recorder.GetReadsAndReset() + recorder.GetStreamReadsAndReset(); reads != estimatedGetCalls {
			t.Fatalf("unexpected reads: %d, want: %d", reads, estimatedGetCalls)
		}
	}
}

// storeWithTransformerOverride is upstream's wrapper of the same name.
type storeWithTransformerOverride struct {
	storage.Interface
	tr *swapTransformer
}

func (e *env) withTransformerOverride() *storeWithTransformerOverride {
	return &storeWithTransformerOverride{Interface: e.store, tr: e.transformer}
}

func (s *storeWithTransformerOverride) UpdateTransformer(modifier storagetesting.TransformerModifier) func() {
	orig := s.tr.get()
	s.tr.set(modifier(orig))
	return func() { s.tr.set(orig) }
}
