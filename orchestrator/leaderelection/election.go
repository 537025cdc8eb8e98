package leaderelection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Config configures an Elector. Zero durations mean DefaultConfig's.
type Config struct {
	// Name of the election (the component), e.g. "kube-scheduler". Required.
	Name string
	// Namespace of the election; default "kube-system".
	Namespace string
	// Identity of this candidate; default "<hostname>_<pid>".
	Identity string
	// Prefix of every key; default "/registry".
	Prefix string
	// LeaseDuration is the TTL of the store lease holding the candidate's key (rounded up to
	// whole seconds): how long a crashed leader blocks its successors. Default 5 s.
	LeaseDuration time.Duration
	// RenewDeadline: a leader that has had no renewal acknowledged for this long steps down.
	// Must be shorter than LeaseDuration. Default two thirds of LeaseDuration.
	RenewDeadline time.Duration
	// RetryPeriod is the wait after a failed attempt to campaign; default 1 s.
	RetryPeriod time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// DefaultConfig returns the fast profile for the election name: lease 5 s, renew deadline
// 3 s, retry 1 s.
func DefaultConfig(name string) Config {
	return Config{Name: name, LeaseDuration: 5 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: time.Second}
}

// KubernetesConfig returns client-go's recommended defaults: lease 15 s, renew deadline
// 10 s, retry 2 s.
func KubernetesConfig(name string) Config {
	return Config{Name: name, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}
}

// Validate reports every problem of a defaulted configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("leaderelection: name is required"))
	}
	if c.LeaseDuration < time.Second {
		errs = append(errs, fmt.Errorf("leaderelection: lease duration %v is below 1s", c.LeaseDuration))
	}
	if c.RenewDeadline <= 0 || c.RenewDeadline >= c.LeaseDuration {
		errs = append(errs, fmt.Errorf("leaderelection: renew deadline %v must be positive and below the lease duration %v", c.RenewDeadline, c.LeaseDuration))
	}
	if c.RetryPeriod <= 0 {
		errs = append(errs, errors.New("leaderelection: retry period must be positive"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	d := DefaultConfig(c.Name)
	if c.Namespace == "" {
		c.Namespace = "kube-system"
	}
	if c.Identity == "" {
		host, _ := os.Hostname()
		c.Identity = host + "_" + strconv.Itoa(os.Getpid())
	}
	if c.Prefix == "" {
		c.Prefix = "/registry"
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = d.LeaseDuration
	}
	if c.RenewDeadline == 0 {
		c.RenewDeadline = c.LeaseDuration * 2 / 3
	}
	if c.RetryPeriod == 0 {
		c.RetryPeriod = d.RetryPeriod
	}
	return c
}

// Callbacks are called by Run. OnStartedLeading is required.
type Callbacks struct {
	// OnStartedLeading runs on Run's goroutine each time this candidate becomes leader;
	// ctx is cancelled when leadership is lost. Leadership is released only after it
	// returns, so it must return promptly once ctx ends; returning earlier also releases
	// leadership, and Run campaigns again after RetryPeriod.
	OnStartedLeading func(ctx context.Context)
	// OnStoppedLeading, if set, is called after OnStartedLeading has returned.
	OnStoppedLeading func()
}

// Elector campaigns for one election. Create it with New and call Run.
type Elector struct {
	cli    *clientv3.Client
	cfg    Config
	cb     Callbacks
	prefix string
	log    *slog.Logger

	// mu guards the fields below.
	mu        sync.Mutex
	leading   bool
	leaderKey string
	leaderRev int64
}

// New returns an Elector; it fails when the configuration (after defaults) is invalid.
func New(cli *clientv3.Client, cfg Config, cb Callbacks) (*Elector, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cb.OnStartedLeading == nil {
		return nil, errors.New("leaderelection: OnStartedLeading is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("component", "leaderelection", "election", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity)
	prefix := cfg.Prefix + "/leaderelection/" + cfg.Namespace + "/" + cfg.Name
	return &Elector{cli: cli, cfg: cfg, cb: cb, prefix: prefix, log: log}, nil
}

// Identity returns this candidate's identity.
func (e *Elector) Identity() string { return e.cfg.Identity }

// IsLeader reports whether this candidate currently leads.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Fence returns a comparison that holds in the store only while this candidate's
// leadership key exists, and false when it does not lead. Put it in a transaction's If to
// make a leader-only write.
func (e *Elector) Fence() (clientv3.Cmp, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.leading {
		return clientv3.Cmp{}, false
	}
	return clientv3.Compare(clientv3.CreateRevision(e.leaderKey), "=", e.leaderRev), true
}

// Leader returns the identity of the current leader, or "" when there is none.
func (e *Elector) Leader(ctx context.Context) (string, error) {
	resp, err := e.cli.Get(ctx, e.prefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("leaderelection: get leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// Run campaigns, leads and campaigns again after losing leadership, until ctx ends; then
// it releases leadership (after OnStartedLeading has returned) and returns nil.
func (e *Elector) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := e.term(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			e.log.Warn("election attempt failed", "err", err)
		}
		t := time.NewTimer(e.cfg.RetryPeriod)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// term runs one lease: campaign, lead until leadership is lost, release.
func (e *Elector) term(ctx context.Context) error {
	ttl := int64((e.cfg.LeaseDuration + time.Second - 1) / time.Second)
	lease, err := e.cli.Grant(ctx, ttl)
	if err != nil {
		return fmt.Errorf("leaderelection: grant lease: %w", err)
	}
	kaCtx, stopKA := context.WithCancel(context.Background())
	defer func() {
		stopKA()
		rctx, cancel := context.WithTimeout(context.Background(), e.cfg.RetryPeriod+time.Second)
		_, _ = e.cli.Revoke(rctx, lease.ID)
		cancel()
	}()
	acks, err := e.cli.KeepAlive(kaCtx, lease.ID)
	if err != nil {
		return fmt.Errorf("leaderelection: keep lease alive: %w", err)
	}
	termCtx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer lost(nil) // runs before wg.Wait
	wg.Go(func() { e.watchRenewals(termCtx, acks, lost) })

	sess, err := concurrency.NewSession(e.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(kaCtx))
	if err != nil {
		return fmt.Errorf("leaderelection: session: %w", err)
	}
	el := concurrency.NewElection(sess, e.prefix)
	if err := el.Campaign(termCtx, e.cfg.Identity); err != nil {
		if cause := context.Cause(termCtx); cause != nil && ctx.Err() == nil {
			return cause
		}
		return fmt.Errorf("leaderelection: campaign: %w", err)
	}
	wg.Go(func() { e.watchKey(termCtx, el.Key(), lost) })
	e.lead(termCtx, el.Key(), el.Rev())
	if cause := context.Cause(termCtx); cause != nil && ctx.Err() == nil {
		return cause
	}
	return nil
}

var (
	errRenewDeadline = errors.New("leaderelection: no lease renewal within the renew deadline")
	errLeaseLost     = errors.New("leaderelection: lease keep-alive ended")
	errKeyGone       = errors.New("leaderelection: leadership key deleted")
)

// watchRenewals ends the term (lost) when the keep-alive channel closes or no renewal is
// acknowledged within RenewDeadline.
func (e *Elector) watchRenewals(ctx context.Context, acks <-chan *clientv3.LeaseKeepAliveResponse, lost context.CancelCauseFunc) {
	t := time.NewTimer(e.cfg.RenewDeadline)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-acks:
			if !ok {
				lost(errLeaseLost)
				return
			}
			t.Reset(e.cfg.RenewDeadline)
		case <-t.C:
			lost(errRenewDeadline)
			return
		}
	}
}

// watchKey ends the term when the leadership key is deleted.
func (e *Elector) watchKey(ctx context.Context, key string, lost context.CancelCauseFunc) {
	resp, err := e.cli.Get(ctx, key)
	if err != nil {
		if ctx.Err() == nil {
			lost(fmt.Errorf("leaderelection: read leadership key: %w", err))
		}
		return
	}
	if len(resp.Kvs) == 0 {
		lost(errKeyGone)
		return
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range e.cli.Watch(wctx, key, clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			break
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				lost(errKeyGone)
				return
			}
		}
	}
	if ctx.Err() == nil {
		lost(errors.New("leaderelection: watch of the leadership key ended"))
	}
}

// lead runs OnStartedLeading until it returns; ctx ends when leadership is lost.
func (e *Elector) lead(ctx context.Context, key string, rev int64) {
	e.mu.Lock()
	e.leading, e.leaderKey, e.leaderRev = true, key, rev
	e.mu.Unlock()
	e.log.Info("started leading", "revision", rev)
	e.cb.OnStartedLeading(ctx)
	e.mu.Lock()
	e.leading = false
	e.mu.Unlock()
	e.log.Info("stopped leading", "reason", context.Cause(ctx))
	if e.cb.OnStoppedLeading != nil {
		e.cb.OnStoppedLeading()
	}
}
