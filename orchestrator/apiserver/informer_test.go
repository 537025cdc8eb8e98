package apiserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/apiserver"
	"github.com/keeldb/keel/orchestrator/authz"
	"github.com/keeldb/keel/orchestrator/internal/poll"
)

// TestInformer runs client-go's SharedInformerFactory against the apiserver: its pod cache
// follows creates and deletes through typed (protobuf) requests, and stays correct across an
// apiserver outage during which the store changed and was compacted (the reflector's watch
// from its last resourceVersion gets 410 Expired and it relists).
func TestInformer(t *testing.T) {
	c := testcluster.Start(t, 3)
	s := apiserver.New(apiserver.Config{Client: c.Client(),
		Tokens: apiserver.TokenFile{"t": {Name: "admin", Groups: []string{authz.SystemPrivilegedGrp}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, BearerToken: "t"}
	cfg.ContentType, cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf", "application/json"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(cs, 0)
	lister := factory.Core().V1().Pods().Lister()
	stop := make(chan struct{})
	defer factory.Shutdown()
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	cached := func() string {
		ps, _ := lister.Pods("default").List(labels.Everything())
		var n []string
		for _, p := range ps {
			n = append(n, p.Name)
		}
		sort.Strings(n)
		return strings.Join(n, ",")
	}
	waitCache := func(want string) {
		t.Helper()
		poll.Eventually(t, 30*time.Second, func() error {
			if got := cached(); got != want {
				return fmt.Errorf("cache %q, want %q", got, want)
			}
			return nil
		})
	}
	pods := cs.CoreV1().Pods("default")
	for i := range 3 {
		if _, err := pods.Create(ctx, pod(fmt.Sprintf("p%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitCache("p0,p1,p2")
	if err := pods.Delete(ctx, "p1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCache("p0,p2")

	// An outage: the watch breaks, the store changes and is compacted past the informer's
	// resourceVersion, then the apiserver comes back.
	down.Store(true)
	srv.CloseClientConnections()
	gens := c.Client()
	for _, name := range []string{"p3", "p4"} {
		if err := createPod(ctx, s, name); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := gens.Delete(ctx, "/registry/pods/default/p0")
	if err != nil || resp.Deleted != 1 {
		t.Fatalf("delete p0 in the store: %v", err)
	}
	if _, err := gens.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	down.Store(false)
	waitCache("p2,p3,p4")
}

// createPod creates a pod through the apiserver's handler directly (the server is down for
// clients).
func createPod(ctx context.Context, s *apiserver.Server, name string) error {
	body := fmt.Sprintf(`{"metadata":{"name":%q},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`, name)
	req := httptest.NewRequestWithContext(ctx, "POST", "/api/v1/namespaces/default/pods", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		return fmt.Errorf("create %s: %d %s", name, rec.Code, rec.Body)
	}
	return nil
}
