package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
)

// Service allocations (docs/ORCHESTRATOR.md "Services"). A Service's cluster IP and node
// ports are each one key, /registry/ipallocations/<ip> and /registry/nodeportallocations/<port>,
// holding the owner; Kubernetes' IPAddress objects have the same shape. They are created in
// the transaction that creates the Service, guarded by "key absent", and deleted in the one
// that deletes it, so two Services never get one address, whatever the number of writers,
// and a crash between allocating and storing cannot leak. The ranges are stored once, at
// /registry/ranges/serviceips and /registry/ranges/servicenodeports, by the first writer
// (or by EnsureServiceRanges at the controller-manager's start), and every writer uses the
// stored ones.

// maxAllocAttempts bounds the retries of a Service create whose allocation lost a race.
const maxAllocAttempts = 64

// allocOwner is the value of an allocation key.
type allocOwner struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// rangeAllocation is the value of a range key (the shape of Kubernetes' RangeAllocation,
// without its bitmap: the allocations are keys).
type rangeAllocation struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Range      string `json:"range"`
}

// serviceAllocator allocates and releases Services' cluster IPs and node ports in the
// store's create and delete transactions. It is safe for concurrent use.
type serviceAllocator struct {
	cli            *clientv3.Client
	prefix         string // "/registry"
	ipCfg, portCfg string

	// mu guards the ranges, loaded from the store once (they never change once stored).
	mu     sync.Mutex
	loaded bool
	ips    ipRange
	ports  portRange
}

func newServiceAllocator(cli *clientv3.Client, cfg Config) *serviceAllocator {
	return &serviceAllocator{cli: cli, prefix: cfg.Prefix, ipCfg: cfg.ServiceClusterIPRange, portCfg: cfg.ServiceNodePortRange}
}

func (a *serviceAllocator) ipKey(ip string) string { return a.prefix + "/ipallocations/" + ip }

func (a *serviceAllocator) portKey(port int32) string {
	return a.prefix + "/nodeportallocations/" + strconv.Itoa(int(port))
}

// storedRange returns the range stored at key, first storing want when there is none.
func storedRange(ctx context.Context, cli *clientv3.Client, key, want string) (string, error) {
	b, _ := json.Marshal(rangeAllocation{Kind: "RangeAllocation", APIVersion: "v1", Range: want})
	resp, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b))).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return "", fmt.Errorf("registry: range %s: %w", key, err)
	}
	if resp.Succeeded {
		return want, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	var ra rangeAllocation
	if len(kvs) == 0 || json.Unmarshal(kvs[0].Value, &ra) != nil {
		return "", fmt.Errorf("registry: range %s: unreadable", key)
	}
	return ra.Range, nil
}

// ranges returns the stored ranges, storing the configured ones when none are.
func (a *serviceAllocator) ranges(ctx context.Context) (ipRange, portRange, error) {
	a.mu.Lock()
	if a.loaded {
		defer a.mu.Unlock()
		return a.ips, a.ports, nil
	}
	a.mu.Unlock()
	ipStr, err := storedRange(ctx, a.cli, a.prefix+"/ranges/serviceips", a.ipCfg)
	if err != nil {
		return ipRange{}, portRange{}, err
	}
	portStr, err := storedRange(ctx, a.cli, a.prefix+"/ranges/servicenodeports", a.portCfg)
	if err != nil {
		return ipRange{}, portRange{}, err
	}
	ips, err := parseIPRange(ipStr)
	if err != nil {
		return ipRange{}, portRange{}, err
	}
	ports, err := parsePortRange(portStr)
	if err != nil {
		return ipRange{}, portRange{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ips, a.ports, a.loaded = ips, ports, true
	return ips, ports, nil
}

// EnsureServiceRanges stores cfg's Service ranges when none are stored yet, and fails when
// the stored ones differ (the ranges cannot change once Services were allocated from them).
func EnsureServiceRanges(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	cfg.setDefaults()
	if _, err := parseIPRange(cfg.ServiceClusterIPRange); err != nil {
		return err
	}
	if _, err := parsePortRange(cfg.ServiceNodePortRange); err != nil {
		return err
	}
	for _, r := range []struct{ key, want, what string }{
		{cfg.Prefix + "/ranges/serviceips", cfg.ServiceClusterIPRange, "service cluster IP range"},
		{cfg.Prefix + "/ranges/servicenodeports", cfg.ServiceNodePortRange, "service node port range"},
	} {
		got, err := storedRange(ctx, cli, r.key, r.want)
		if err != nil {
			return err
		}
		if got != r.want {
			return fmt.Errorf("registry: the %s %s differs from the stored %s, which cannot change", r.what, r.want, got)
		}
	}
	return nil
}

// takenKeys returns the last path element of every key under prefix.
func (a *serviceAllocator) takenKeys(ctx context.Context, prefix string) (map[string]bool, error) {
	resp, err := a.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("registry: list %s: %w", prefix, err)
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), prefix)] = true
	}
	return out, nil
}

// allocate sets svc's cluster IP and node ports (the requested ones, or free ones picked
// at random) and returns the compares and puts that claim them in the create transaction.
// A requested address out of range or already allocated is refused with the apiserver's
// field error.
func (a *serviceAllocator) allocate(ctx context.Context, svc *api.Service) ([]clientv3.Cmp, []clientv3.Op, error) {
	s := &svc.Spec
	if !s.NeedsClusterIP() && !s.NeedsNodePorts() {
		return nil, nil, nil
	}
	ips, ports, err := a.ranges(ctx)
	if err != nil {
		return nil, nil, err
	}
	owner, _ := json.Marshal(allocOwner{Namespace: svc.Namespace, Name: svc.Name, UID: svc.UID})
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	claim := func(key string) {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", 0))
		ops = append(ops, clientv3.OpPut(key, string(owner)))
	}
	var errs api.ErrorList
	if s.NeedsClusterIP() {
		ip, fe, err := a.clusterIP(ctx, ips, s.ClusterIP)
		if err != nil {
			return nil, nil, err
		}
		if fe != nil {
			errs = append(errs, fe)
		} else {
			s.ClusterIP, s.ClusterIPs = ip, []string{ip}
			claim(a.ipKey(ip))
		}
	}
	if s.NeedsNodePorts() {
		fes, err := a.nodePorts(ctx, ports, s)
		if err != nil {
			return nil, nil, err
		}
		errs = append(errs, fes...)
		for _, sp := range s.Ports {
			claim(a.portKey(sp.NodePort))
		}
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	return cmps, ops, nil
}

// clusterIP returns the requested address when it is free and in range, else a free one.
func (a *serviceAllocator) clusterIP(ctx context.Context, r ipRange, requested string) (string, *api.FieldError, error) {
	taken, err := a.takenKeys(ctx, a.ipKey(""))
	if err != nil {
		return "", nil, err
	}
	path := "spec.clusterIPs"
	if requested != "" {
		addr, _ := netip.ParseAddr(requested) // validated
		if _, ok := r.offset(addr); !ok {
			return "", &api.FieldError{Field: path, Type: api.ErrorInvalid, Value: []string{requested},
				Detail: fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", requested, requested, r)}, nil
		}
		if taken[requested] {
			return "", &api.FieldError{Field: path, Type: api.ErrorInvalid, Value: []string{requested},
				Detail: fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", requested)}, nil
		}
		return requested, nil, nil
	}
	o, ok := pickFree(r.size(), rand.IntN(r.size()), func(i int) bool { return taken[r.nth(i).String()] })
	if !ok {
		return "", &api.FieldError{Field: path, Type: api.ErrorInvalid, Value: []string{""},
			Detail: "failed to allocate a serviceIP: range is full"}, nil
	}
	return r.nth(o).String(), nil, nil
}

// nodePorts checks the requested node ports of s and fills the others with free ones.
func (a *serviceAllocator) nodePorts(ctx context.Context, r portRange, s *api.ServiceSpec) (api.ErrorList, error) {
	taken, err := a.takenKeys(ctx, a.prefix+"/nodeportallocations/")
	if err != nil {
		return nil, err
	}
	var errs api.ErrorList
	for i := range s.Ports {
		np := s.Ports[i].NodePort
		if np == 0 {
			continue
		}
		path := "spec.ports[" + strconv.Itoa(i) + "].nodePort"
		switch key := strconv.Itoa(int(np)); {
		case !r.contains(int(np)):
			errs = append(errs, &api.FieldError{Field: path, Type: api.ErrorInvalid, Value: np,
				Detail: "provided port is not in the valid range. The range of valid ports is " + r.String()})
		case taken[key]:
			errs = append(errs, &api.FieldError{Field: path, Type: api.ErrorInvalid, Value: np, Detail: "provided port is already allocated"})
		default:
			taken[key] = true
		}
	}
	for i := range s.Ports {
		if s.Ports[i].NodePort != 0 {
			continue
		}
		o, ok := pickFree(r.size, rand.IntN(r.size), func(o int) bool { return taken[strconv.Itoa(r.base+o)] })
		if !ok {
			errs = append(errs, &api.FieldError{Field: "spec.ports[" + strconv.Itoa(i) + "].nodePort", Type: api.ErrorInvalid,
				Value: 0, Detail: "failed to allocate a nodePort: range is full"})
			continue
		}
		s.Ports[i].NodePort = int32(r.base + o)
		taken[strconv.Itoa(r.base+o)] = true
	}
	return errs, nil
}

// release returns the deletes of svc's allocation keys, for its delete transaction.
func (a *serviceAllocator) release(svc *api.Service) []clientv3.Op {
	var ops []clientv3.Op
	if svc.Spec.NeedsClusterIP() && svc.Spec.ClusterIP != "" {
		ops = append(ops, clientv3.OpDelete(a.ipKey(svc.Spec.ClusterIP)))
	}
	if svc.Spec.NeedsNodePorts() {
		for _, sp := range svc.Spec.Ports {
			if sp.NodePort != 0 {
				ops = append(ops, clientv3.OpDelete(a.portKey(sp.NodePort)))
			}
		}
	}
	return ops
}

// keepAllocated carries cur's allocated cluster IP and node ports into next where next
// leaves them unset (as kubectl apply of a manifest without them), and refuses an update
// that would change them: they are allocated at creation and released at deletion only.
func keepAllocated(cur, next *api.Service) error {
	c, n := &cur.Spec, &next.Spec
	if n.ClusterIP == "" && n.NeedsClusterIP() {
		n.ClusterIP, n.ClusterIPs = c.ClusterIP, slices.Clone(c.ClusterIPs)
	}
	if n.NeedsNodePorts() {
		for i := range n.Ports {
			np := &n.Ports[i]
			for _, cp := range c.Ports {
				if np.NodePort == 0 && cp.Port == np.Port && cp.Protocol == np.Protocol {
					np.NodePort = cp.NodePort
				}
			}
		}
	}
	var errs api.ErrorList
	if n.ClusterIP != c.ClusterIP || n.NeedsClusterIP() != c.NeedsClusterIP() {
		errs = append(errs, &api.FieldError{Field: "spec.clusterIPs[0]", Type: api.ErrorInvalid, Value: n.ClusterIP,
			Detail: "may not change once set (delete and re-create the Service)"})
	}
	if !slices.Equal(nodePortsOf(c), nodePortsOf(n)) {
		errs = append(errs, &api.FieldError{Field: "spec.ports", Type: api.ErrorForbidden,
			Detail: "node ports are allocated at creation and may not be added, changed or removed by an update (delete and re-create the Service)"})
	}
	return errs.Err()
}

func nodePortsOf(s *api.ServiceSpec) []int32 {
	var out []int32
	if !s.NeedsNodePorts() {
		return nil
	}
	for _, sp := range s.Ports {
		out = append(out, sp.NodePort)
	}
	slices.Sort(out)
	return out
}
