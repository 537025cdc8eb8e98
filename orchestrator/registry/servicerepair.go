package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
)

// RepairResult counts what a RepairServiceAllocations pass changed.
type RepairResult struct {
	// Released counts allocation keys whose Service no longer holds the address (a Service
	// key removed behind the registry's back, e.g. with etcdctl), now deleted.
	Released int
	// Restored counts allocation keys a Service was missing (one removed behind the
	// registry's back), now written again.
	Restored int
	// Conflicts lists addresses two Services hold at once, which repair cannot decide.
	Conflicts []string
}

// RepairServiceAllocations is one pass of kube-apiserver's cluster IP and node port repair
// controllers over the store: it reads the Services and the allocation keys at one
// revision, deletes the allocations no Service holds and writes the ones missing, each
// in a transaction that applies only if neither the allocation nor the Service changed
// since. Creates and deletes through the registry keep both in step (services.go), so
// this only mends writes that bypassed it.
func RepairServiceAllocations(ctx context.Context, cli *clientv3.Client, cfg Config) (RepairResult, error) {
	cfg.setDefaults()
	var res RepairResult
	svcs := New[api.Service](cli, cfg)
	list, err := svcs.List(ctx, ListOptions{})
	if err != nil {
		return res, err
	}
	a := newServiceAllocator(cli, cfg)
	held := map[string]*api.Service{} // allocation key → holder
	modRev := map[*api.Service]int64{}
	byName := map[string]int64{} // namespace/name → mod_revision as listed
	for _, svc := range list.Items {
		modRev[svc], _ = strconv.ParseInt(svc.ResourceVersion, 10, 64)
		byName[svc.Namespace+"/"+svc.Name] = modRev[svc]
		for _, op := range a.release(svc) {
			key := string(op.KeyBytes())
			if other, dup := held[key]; dup {
				res.Conflicts = append(res.Conflicts, fmt.Sprintf("%s held by %s/%s and %s/%s", key, other.Namespace, other.Name, svc.Namespace, svc.Name))
				continue
			}
			held[key] = svc
		}
	}
	present := map[string]bool{}
	for _, prefix := range []string{a.ipKey(""), a.prefix + "/nodeportallocations/"} {
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(list.Revision))
		if err != nil {
			return res, fmt.Errorf("registry: repair: list %s: %w", prefix, err)
		}
		for _, kv := range resp.Kvs {
			key := string(kv.Key)
			present[key] = true
			var owner allocOwner
			_ = json.Unmarshal(kv.Value, &owner)
			if svc := held[key]; svc != nil && svc.UID == owner.UID {
				continue
			}
			// Leaked, or stale owner: release it unless the key or its holder changed.
			cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)}
			if svc := held[key]; svc != nil {
				// A Service holds it under another owner record: rewrite the owner instead.
				b, _ := json.Marshal(allocOwner{Namespace: svc.Namespace, Name: svc.Name, UID: svc.UID})
				if _, err := cli.Txn(ctx).If(cmps...).Then(clientv3.OpPut(key, string(b))).Commit(); err != nil {
					return res, fmt.Errorf("registry: repair %s: %w", key, err)
				}
				continue
			}
			if owner.Namespace != "" {
				// The named Service is absent, or holds other addresses: as seen, unchanged.
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(svcs.Key(owner.Namespace, owner.Name)), "=", byName[owner.Namespace+"/"+owner.Name]))
			}
			resp, err := cli.Txn(ctx).If(cmps...).Then(clientv3.OpDelete(key)).Commit()
			if err != nil {
				return res, fmt.Errorf("registry: repair %s: %w", key, err)
			}
			if resp.Succeeded {
				res.Released++
			}
		}
	}
	for key, svc := range held {
		if present[key] || !strings.HasPrefix(key, a.prefix+"/") {
			continue
		}
		b, _ := json.Marshal(allocOwner{Namespace: svc.Namespace, Name: svc.Name, UID: svc.UID})
		resp, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", 0),
			clientv3.Compare(clientv3.ModRevision(svcs.keyOf(svc)), "=", modRev[svc])).
			Then(clientv3.OpPut(key, string(b))).Commit()
		if err != nil {
			return res, fmt.Errorf("registry: repair %s: %w", key, err)
		}
		if resp.Succeeded {
			res.Restored++
		}
	}
	return res, nil
}
