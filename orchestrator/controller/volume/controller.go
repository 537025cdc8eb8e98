package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// Config configures a Controller. The zero value means defaults.
type Config struct {
	// LocalPathRoot is the directory of local-path volumes on their node; default
	// DefaultLocalPathRoot.
	LocalPathRoot string
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Controller is the persistent volume controller. Its queue holds "pvc:<ns>/<name>" and
// "pv:<name>" keys.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	pvs    *registry.Store[api.PersistentVolume, *api.PersistentVolume]
	pvcs   *registry.Store[api.PersistentVolumeClaim, *api.PersistentVolumeClaim]
	scs    *registry.Store[api.StorageClass, *api.StorageClass]
	pvInf  *informer.Informer[api.PersistentVolume, *api.PersistentVolume]
	pvcInf *informer.Informer[api.PersistentVolumeClaim, *api.PersistentVolumeClaim]
	scInf  *informer.Informer[api.StorageClass, *api.StorageClass]
	podInf *informer.Informer[api.Pod, *api.Pod]
	queue  *workqueue.Queue[string]
}

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	if cfg.LocalPathRoot == "" {
		cfg.LocalPathRoot = DefaultLocalPathRoot
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rc := registry.Config{}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "persistentvolume-controller"),
		pvs: registry.New[api.PersistentVolume](cli, rc), pvcs: registry.New[api.PersistentVolumeClaim](cli, rc),
		scs: registry.New[api.StorageClass](cli, rc), queue: workqueue.New[string](workqueue.Config{})}
	ic := informer.Config{Logger: cfg.Logger}
	c.pvInf = informer.New(cli, c.pvs, ic)
	c.pvcInf = informer.New(cli, c.pvcs, ic)
	c.scInf = informer.New(cli, c.scs, ic)
	c.podInf = informer.New(cli, registry.New[api.Pod](cli, rc), ic)
	pv := func(v *api.PersistentVolume) {
		c.queue.Add("pv:" + v.Name)
		if r := v.Spec.ClaimRef; r != nil {
			c.queue.Add("pvc:" + r.Namespace + "/" + r.Name)
		}
	}
	c.pvInf.AddHandler(informer.Handler[*api.PersistentVolume]{OnAdd: pv, OnUpdate: func(_, v *api.PersistentVolume) { pv(v) }, OnDelete: pv})
	pvc := func(v *api.PersistentVolumeClaim) {
		c.queue.Add("pvc:" + api.KeyFunc(v))
		if v.Spec.VolumeName != "" {
			c.queue.Add("pv:" + v.Spec.VolumeName)
		}
	}
	c.pvcInf.AddHandler(informer.Handler[*api.PersistentVolumeClaim]{OnAdd: pvc, OnUpdate: func(_, v *api.PersistentVolumeClaim) { pvc(v) },
		OnDelete: func(v *api.PersistentVolumeClaim) {
			pvc(v)
			for _, p := range c.pvInf.Cache().List() {
				if r := p.Spec.ClaimRef; r != nil && r.Namespace == v.Namespace && r.Name == v.Name {
					c.queue.Add("pv:" + p.Name)
				}
			}
		}})
	pod := func(p *api.Pod) {
		if p.Spec.NodeName == "" {
			return
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				c.queue.Add("pvc:" + p.Namespace + "/" + v.PersistentVolumeClaim.ClaimName)
			}
		}
	}
	c.podInf.AddHandler(informer.Handler[*api.Pod]{OnAdd: pod, OnUpdate: func(_, p *api.Pod) { pod(p) }})
	c.scInf.AddHandler(informer.Handler[*api.StorageClass]{OnAdd: func(*api.StorageClass) {
		for _, v := range c.pvcInf.Cache().List() {
			if v.Spec.VolumeName == "" {
				c.queue.Add("pvc:" + api.KeyFunc(v))
			}
		}
	}})
	return c
}

// Run runs the controller until ctx ends, then returns nil.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return New(cli, cfg).Run(ctx)
}

// Run creates the default StorageClass local-path if absent, then runs the informers and
// workers until ctx ends, then returns nil. It may be called once.
func (c *Controller) Run(ctx context.Context) error {
	if _, err := c.scs.Get(ctx, "", api.DefaultStorageClassName); errors.Is(err, registry.ErrNotFound) {
		if _, err := c.scs.Create(ctx, api.DefaultLocalPathClass()); err != nil && !errors.Is(err, registry.ErrAlreadyExists) {
			c.log.Warn("create default storage class", "err", err)
		}
	}
	workqueue.RunWorkers(ctx, c.queue, 1, c.sync, func(key string, err error) {
		c.log.Debug("sync failed", "key", key, "err", err)
	}, c.pvInf, c.pvcInf, c.scInf, c.podInf)
	return nil
}

func (c *Controller) sync(ctx context.Context, key string) error {
	if name, ok := strings.CutPrefix(key, "pv:"); ok {
		return c.syncVolume(ctx, name)
	}
	return c.syncClaim(ctx, strings.TrimPrefix(key, "pvc:"))
}

// syncVolume sets a volume's phase from its claim, and deletes a released Delete volume.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, ok := c.pvInf.Cache().Get(name)
	if !ok {
		return nil
	}
	var claim *api.PersistentVolumeClaim
	if r := pv.Spec.ClaimRef; r != nil {
		// Read the store, not the cache: a claim just created must not release its volume.
		cl, err := c.pvcs.Get(ctx, r.Namespace, r.Name)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		claim = cl
	}
	phase, del := VolumeStatus(pv, claim)
	if del {
		if _, err := c.pvs.Delete(ctx, "", name, registry.DeleteOptions{}); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("delete volume %s: %w", name, err)
		}
		c.log.Info("deleted released volume", "volume", name)
		return nil
	}
	if pv.Status.Phase == phase {
		return nil
	}
	next := api.DeepCopy(pv)
	next.Status.Phase = phase
	if _, err := c.pvs.UpdateStatus(ctx, next); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("update volume %s: %w", name, err)
	}
	return nil
}

// syncClaim binds an unbound claim to a matching volume, provisioning one for a
// local-path class once its node is known, and keeps a bound claim's status.
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	claim, ok := c.pvcInf.Cache().Get(key)
	if !ok || claim.DeletionTimestamp != nil {
		return nil
	}
	if claim.Spec.VolumeName != "" {
		pv, ok := c.pvInf.Cache().Get(claim.Spec.VolumeName)
		if !ok {
			return nil
		}
		return c.bindVolume(ctx, claim, pv)
	}
	classes := c.scInf.Cache().List()
	class := ClassOf(claim, classes)
	pv := MatchVolume(claim, class, c.pvInf.Cache().List())
	if pv == nil {
		var sc *api.StorageClass
		for _, s := range classes {
			if s.Name == class {
				sc = s
			}
		}
		if sc == nil || sc.Provisioner != api.LocalPathProvisioner {
			return nil // waits for a volume to be created
		}
		node := ProvisionNode(claim, c.podInf.Cache().List())
		if node == "" {
			return nil // waits for its first consumer to be scheduled
		}
		created, err := c.pvs.Create(ctx, NewLocalVolume(claim, sc, node, c.cfg.LocalPathRoot))
		if errors.Is(err, registry.ErrAlreadyExists) {
			created, err = c.pvs.Get(ctx, "", "pvc-"+claim.UID)
		}
		if err != nil {
			return fmt.Errorf("provision volume for %s: %w", key, err)
		}
		c.log.Info("provisioned volume", "claim", key, "volume", created.Name, "node", node)
		pv = created
	}
	return c.bindVolume(ctx, claim, pv)
}

// bindVolume points pv and claim at each other and marks both Bound.
func (c *Controller) bindVolume(ctx context.Context, claim *api.PersistentVolumeClaim, pv *api.PersistentVolume) error {
	if r := pv.Spec.ClaimRef; r == nil || r.UID != claim.UID {
		if r != nil && r.UID != "" {
			return nil // another claim's
		}
		next := api.DeepCopy(pv)
		next.Spec.ClaimRef = &api.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
			Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID}
		var err error
		if pv, err = c.pvs.Update(ctx, next); err != nil {
			return fmt.Errorf("bind volume %s: %w", next.Name, err)
		}
	}
	if pv.Status.Phase != api.VolumeBound {
		next := api.DeepCopy(pv)
		next.Status.Phase = api.VolumeBound
		var err error
		if pv, err = c.pvs.UpdateStatus(ctx, next); err != nil {
			return fmt.Errorf("bind volume %s: %w", next.Name, err)
		}
	}
	if claim.Spec.VolumeName != pv.Name {
		next := api.DeepCopy(claim)
		next.Spec.VolumeName = pv.Name
		var err error
		if claim, err = c.pvcs.Update(ctx, next); err != nil {
			return fmt.Errorf("bind claim %s: %w", api.KeyFunc(next), err)
		}
	}
	if claim.Status.Phase != api.VolumeBound {
		next := api.DeepCopy(claim)
		next.Status = api.PersistentVolumeClaimStatus{Phase: api.VolumeBound,
			AccessModes: pv.Spec.AccessModes, Capacity: pv.Spec.Capacity}
		if _, err := c.pvcs.UpdateStatus(ctx, next); err != nil {
			return fmt.Errorf("bind claim %s: %w", api.KeyFunc(next), err)
		}
		c.log.Info("bound claim", "claim", api.KeyFunc(claim), "volume", pv.Name)
	}
	return nil
}
