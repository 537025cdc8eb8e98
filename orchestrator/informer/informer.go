package informer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// Handler receives cache changes. Nil members are skipped. Handlers run on the informer's
// goroutine after the cache has changed, one event at a time: they must be quick (typically
// they enqueue a key) and must not modify the objects.
type Handler[P api.Object] struct {
	OnAdd    func(obj P)
	OnUpdate func(old, obj P)
	OnDelete func(obj P)
}

// Config configures an Informer. The zero value means defaults.
type Config struct {
	// Namespace restricts the informer to one namespace ("" = all).
	Namespace string
	// PageSize is the list page size; default 500.
	PageSize int64
	// MinBackoff and MaxBackoff bound the delay between failed list or watch attempts;
	// defaults 100 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Informer keeps a Cache of one resource in step with the store: it lists at a revision,
// watches from the next one, and relists when the watch falls behind a compaction.
type Informer[T any, P registry.ObjectPtr[T]] struct {
	cli   *clientv3.Client
	store *registry.Store[T, P]
	cfg   Config
	log   *slog.Logger
	cache *Cache[P]

	// mu guards the fields below.
	mu       sync.Mutex
	handlers []Handler[P]
	running  bool
	rev      int64 // last revision the cache reflects; 0 = must list
	synced   bool
	lists    int
	syncedCh chan struct{} // closed at the first successful list
}

// New returns an informer over store's resource. Add indexes and handlers, then call Run.
func New[T any, P registry.ObjectPtr[T]](cli *clientv3.Client, store *registry.Store[T, P], cfg Config) *Informer[T, P] {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 500
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("component", "informer", "resource", store.Resource().Name)
	return &Informer[T, P]{cli: cli, store: store, cfg: cfg, log: log, cache: newCache[P](), syncedCh: make(chan struct{})}
}

// AddIndex adds a secondary index to the cache. It must be called before Run.
func (inf *Informer[T, P]) AddIndex(name string, fn IndexFunc[P]) {
	inf.cache.mu.Lock()
	defer inf.cache.mu.Unlock()
	inf.cache.indexers[name] = fn
	inf.cache.indices[name] = map[string]map[string]P{}
}

// AddHandler registers h. Objects already cached are not replayed: add handlers before
// Run.
func (inf *Informer[T, P]) AddHandler(h Handler[P]) {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	inf.handlers = append(inf.handlers, h)
}

// Cache returns the informer's cache.
func (inf *Informer[T, P]) Cache() *Cache[P] { return inf.cache }

// HasSynced reports whether the first list has completed.
func (inf *Informer[T, P]) HasSynced() bool {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	return inf.synced
}

// WaitForSync blocks until the first list has completed or ctx ends.
func (inf *Informer[T, P]) WaitForSync(ctx context.Context) error {
	select {
	case <-inf.syncedCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Revision returns the store revision the cache reflects.
func (inf *Informer[T, P]) Revision() int64 {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	return inf.rev
}

// Lists returns how many full lists have completed (1 after the initial one; each relist
// after a compaction adds one).
func (inf *Informer[T, P]) Lists() int {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	return inf.lists
}

var errCompacted = errors.New("informer: watch revision compacted")

// Run lists and watches until ctx ends, then returns nil. Failed lists and watches are
// retried with exponential back-off. Run may be called again after it returns: it then
// resumes watching from the last revision seen (relisting if that was compacted). Calling
// Run while it runs returns an error.
func (inf *Informer[T, P]) Run(ctx context.Context) error {
	inf.mu.Lock()
	if inf.running {
		inf.mu.Unlock()
		return errors.New("informer: already running")
	}
	inf.running = true
	inf.mu.Unlock()
	defer func() {
		inf.mu.Lock()
		inf.running = false
		inf.mu.Unlock()
	}()
	backoff := inf.cfg.MinBackoff
	for ctx.Err() == nil {
		var err error
		if inf.Revision() == 0 {
			err = inf.list(ctx)
		} else {
			err = inf.watch(ctx)
			if errors.Is(err, errCompacted) {
				inf.log.Info("watch compacted, relisting", "revision", inf.Revision())
				inf.mu.Lock()
				inf.rev = 0
				inf.mu.Unlock()
				continue
			}
		}
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			backoff = inf.cfg.MinBackoff
			continue
		}
		inf.log.Debug("list or watch failed", "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(backoff*2, inf.cfg.MaxBackoff)
	}
	return nil
}

// list reads every page at one revision and replaces the cache with the result, emitting
// adds, updates and deletes for the differences.
func (inf *Informer[T, P]) list(ctx context.Context) error {
	opts := registry.ListOptions{Namespace: inf.cfg.Namespace, Limit: inf.cfg.PageSize}
	var items []P
	var rev int64
	for {
		page, err := inf.store.List(ctx, opts)
		if err != nil {
			return err // ErrExpired between pages: the next attempt starts over
		}
		items = append(items, page.Items...)
		rev = page.Revision
		if page.Continue == "" {
			break
		}
		opts.Continue = page.Continue
	}
	seen := make(map[string]bool, len(items))
	for _, obj := range items {
		seen[api.KeyFunc(obj)] = true
		inf.apply(obj)
	}
	for _, key := range inf.cache.keys() {
		if !seen[key] {
			if old, ok := inf.cache.remove(key); ok {
				inf.dispatch(func(h Handler[P]) {
					if h.OnDelete != nil {
						h.OnDelete(old)
					}
				})
			}
		}
	}
	inf.mu.Lock()
	inf.rev = rev
	inf.lists++
	first := !inf.synced
	inf.synced = true
	inf.mu.Unlock()
	if first {
		close(inf.syncedCh)
	}
	inf.log.Debug("listed", "revision", rev, "items", len(items))
	return nil
}

// apply puts obj in the cache and notifies handlers, unless the cached copy is the same
// resourceVersion.
func (inf *Informer[T, P]) apply(obj P) {
	if cur, ok := inf.cache.Get(api.KeyFunc(obj)); ok && cur.Meta().ResourceVersion == obj.Meta().ResourceVersion {
		return
	}
	old, existed := inf.cache.put(obj)
	inf.dispatch(func(h Handler[P]) {
		switch {
		case existed && h.OnUpdate != nil:
			h.OnUpdate(old, obj)
		case !existed && h.OnAdd != nil:
			h.OnAdd(obj)
		}
	})
}

func (inf *Informer[T, P]) dispatch(call func(h Handler[P])) {
	inf.mu.Lock()
	hs := inf.handlers
	inf.mu.Unlock()
	for _, h := range hs {
		call(h)
	}
}

// watch follows changes from the cached revision + 1 until the watch ends. It returns
// errCompacted when that revision has been compacted.
func (inf *Informer[T, P]) watch(ctx context.Context) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	prefix := inf.store.NamespacePrefix(inf.cfg.Namespace)
	ch := inf.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(inf.Revision()+1),
		clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	for resp := range ch {
		if resp.CompactRevision != 0 {
			return fmt.Errorf("%w: compacted at %d", errCompacted, resp.CompactRevision)
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("informer: watch %s: %w", prefix, err)
		}
		if resp.Canceled {
			return fmt.Errorf("informer: watch %s canceled", prefix)
		}
		if resp.IsProgressNotify() {
			inf.advance(resp.Header.Revision)
			continue
		}
		for _, ev := range resp.Events {
			if err := inf.event(ev); err != nil {
				return err
			}
			inf.advance(ev.Kv.ModRevision)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("informer: watch %s closed", prefix)
}

func (inf *Informer[T, P]) advance(rev int64) {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	if rev > inf.rev {
		inf.rev = rev
	}
}

func (inf *Informer[T, P]) event(ev *clientv3.Event) error {
	if ev.Type == mvccpb.PUT {
		obj, err := inf.decode(ev.Kv)
		if err != nil {
			inf.log.Warn("skipping undecodable object", "revision", ev.Kv.ModRevision, "err", err)
			return nil
		}
		inf.apply(obj)
		return nil
	}
	key := string(ev.Kv.Key)
	cacheKey := key[len(inf.store.Prefix()):]
	old, ok := inf.cache.remove(cacheKey)
	if !ok {
		return nil
	}
	if ev.PrevKv != nil {
		if prev, err := inf.store.Decode(ev.PrevKv); err == nil {
			old = prev
		}
	}
	inf.dispatch(func(h Handler[P]) {
		if h.OnDelete != nil {
			h.OnDelete(old)
		}
	})
	return nil
}

// decode decodes a changed object, or takes the object another informer of this process
// decoded from the same version (decodecache.go).
func (inf *Informer[T, P]) decode(kv *mvccpb.KeyValue) (P, error) {
	if inf.store.Transforms() {
		return inf.store.Decode(kv)
	}
	k := decodeKey{key: string(kv.Key), rev: kv.ModRevision}
	if v, ok := sharedDecodes.get(k, kv.Value); ok {
		if obj, ok := v.(P); ok {
			return obj, nil
		}
	}
	obj, err := inf.store.Decode(kv)
	if err != nil {
		return obj, err
	}
	if first, ok := sharedDecodes.put(k, kv.Value, obj).(P); ok {
		return first, nil
	}
	return obj, nil
}
