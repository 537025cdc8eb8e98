package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// Runtimes.
const (
	RuntimeSim     = "sim"
	RuntimeProcess = "process"
)

// Process runtime defaults: the fast restart back-off (1 s doubling to 30 s), and
// Kubernetes' (10 s doubling to 5 min) for a Kubernetes-like profile.
const (
	DefaultKubeletPort    = 10250
	DefaultBackoffBase    = time.Second
	DefaultBackoffMax     = 30 * time.Second
	KubernetesBackoffBase = 10 * time.Second
	KubernetesBackoffMax  = 5 * time.Minute
	DefaultMaxGracePeriod = 2 * time.Minute
)

// ProcessConfig configures the "process" runtime. The zero value means defaults.
type ProcessConfig struct {
	// Address is the node's InternalIP; the agent serves its HTTP port (container logs) on
	// it. Default 127.0.0.1.
	Address string
	// PodCIDR is the IPv4 range pod IPs are allocated from, recorded in the Node's
	// spec.podCIDR. Default DefaultPodCIDR(node name).
	PodCIDR string
	// RootDir holds the pods' logs and state; default ./data/agent-<node>.
	RootDir string
	// Port is the agent's HTTP port on Address; default 10250. Negative: any free port (the
	// one chosen is recorded in node.status.daemonEndpoints).
	Port int
	// StopPodsOnExit makes Run stop every pod's processes when it returns; by default they
	// keep running and the next agent adopts them.
	StopPodsOnExit bool
	// ShimCommand starts a container's shim; default ["/proc/self/exe", ShimArg], that is
	// this binary, which must then dispatch ShimArg to RunShim (see MaybeRunShim).
	ShimCommand []string
	// BackoffBase and BackoffMax bound the restart back-off; defaults 1 s and 30 s. The
	// back-off is reset after a container has run 2×BackoffMax.
	BackoffBase, BackoffMax time.Duration
	// MaxGracePeriod caps terminationGracePeriodSeconds; default 2 min.
	MaxGracePeriod time.Duration
	// PollInterval is how often a running container's shim is checked; default 100 ms.
	PollInterval time.Duration
	// PodMaxPids limits the processes of each pod (kubelet's --pod-max-pids) through the
	// pids cgroup controller; 0 or negative: unlimited.
	PodMaxPids int64
}

func (c *ProcessConfig) setDefaults(node string) {
	if c.Address == "" {
		c.Address = "127.0.0.1"
	}
	if c.PodCIDR == "" {
		c.PodCIDR = DefaultPodCIDR(node)
	}
	if c.RootDir == "" {
		c.RootDir = filepath.Join("data", "agent-"+node)
	}
	if c.Port == 0 {
		c.Port = DefaultKubeletPort
	}
	if len(c.ShimCommand) == 0 {
		c.ShimCommand = []string{"/proc/self/exe", ShimArg}
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.MaxGracePeriod <= 0 {
		c.MaxGracePeriod = DefaultMaxGracePeriod
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
}

// DefaultPodCIDR returns the pod range the process runtime derives from a node name:
// 127.<10..250>.<x>.0/24 from an FNV-1a hash of the name (all of 127/8 is loopback on Linux).
func DefaultPodCIDR(node string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(node))
	v := h.Sum32()
	return fmt.Sprintf("127.%d.%d.0/24", 10+v%241, (v>>8)&255)
}

// procRuntime runs the pods of one node as local processes.
type procRuntime struct {
	a      *Agent
	cfg    ProcessConfig
	node   string
	log    *slog.Logger
	prefix netip.Prefix
	ln     net.Listener
	port   int
	ready  chan struct{} // closed once adoption is done and pods may be synced
	wg     sync.WaitGroup

	cgOnce sync.Once
	cg     cgroupHost // detected on the first container with limits

	// mu guards the fields below.
	mu      sync.Mutex
	closed  bool
	runners map[string]*podRunner // pod key → runner
	ips     map[netip.Addr]string // allocated IP → pod UID
	ipOf    map[string]netip.Addr // pod UID → IP
	lastIP  netip.Addr
}

func newProcRuntime(a *Agent) *procRuntime {
	cfg := a.cfg.Process
	cfg.setDefaults(a.cfg.NodeName)
	if abs, err := filepath.Abs(cfg.RootDir); err == nil {
		cfg.RootDir = abs
	}
	return &procRuntime{a: a, cfg: cfg, node: a.cfg.NodeName, log: a.log.With("runtime", RuntimeProcess),
		ready: make(chan struct{}), runners: map[string]*podRunner{}, ips: map[netip.Addr]string{}, ipOf: map[string]netip.Addr{}}
}

// prepare validates the configuration, creates the root directory and opens the HTTP
// listener, before the node is registered (its port goes into the Node).
func (rt *procRuntime) prepare() error {
	if rt.a.cfg.Nodes != 1 {
		return errors.New("agent: the process runtime runs exactly one node")
	}
	pfx, err := netip.ParsePrefix(rt.cfg.PodCIDR)
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 30 {
		return fmt.Errorf("agent: pod CIDR %q: want an IPv4 prefix of at most /30", rt.cfg.PodCIDR)
	}
	rt.prefix = pfx.Masked()
	if net.ParseIP(rt.cfg.Address) == nil {
		return fmt.Errorf("agent: address %q is not an IP", rt.cfg.Address)
	}
	if err := os.MkdirAll(filepath.Join(rt.cfg.RootDir, "pods"), 0o755); err != nil {
		return fmt.Errorf("agent: root dir: %w", err)
	}
	port := rt.cfg.Port
	if port < 0 {
		port = 0
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(rt.cfg.Address, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	rt.ln = ln
	rt.port = ln.Addr().(*net.TCPAddr).Port
	return nil
}

// run adopts what the previous agent left, serves HTTP, and when ctx ends stops the
// runners (and with StopPodsOnExit the pods' processes) and the server.
func (rt *procRuntime) run(ctx context.Context) {
	srv := &http.Server{Handler: rt.handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(rt.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			rt.log.Error("http server failed", "err", err)
		}
	}()
	if err := rt.a.pods.WaitForSync(ctx); err == nil {
		rt.adopt()
		close(rt.ready)
		rt.log.Info("process runtime ready", "node", rt.node, "address", rt.cfg.Address, "port", rt.port,
			"pod_cidr", rt.prefix.String(), "root_dir", rt.cfg.RootDir)
	}
	<-ctx.Done()
	rt.mu.Lock()
	rt.closed = true
	rt.mu.Unlock()
	rt.wg.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	<-served
}

// podDir returns the state directory of pod ns/name with uid.
func (rt *procRuntime) podDir(ns, name, uid string) string {
	return filepath.Join(rt.cfg.RootDir, "pods", ns+"_"+name+"_"+uid)
}

// podRecord is <pod dir>/pod.json.
type podRecord struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	IP        string `json:"ip"`
}

// adopt kills the processes of pod directories whose pod is gone or bound elsewhere, and
// reserves the IPs of the pods that remain.
func (rt *procRuntime) adopt() {
	dirs, _ := filepath.Glob(filepath.Join(rt.cfg.RootDir, "pods", "*"))
	for _, d := range dirs {
		var rec podRecord
		if err := readJSON(filepath.Join(d, "pod.json"), &rec); err != nil {
			rt.log.Warn("removing unreadable pod dir", "dir", d, "err", err)
			killDir(d)
			_ = os.RemoveAll(d)
			continue
		}
		p, ok := rt.a.pods.Cache().Get(rec.Namespace + "/" + rec.Name)
		if !ok || p.UID != rec.UID || p.Spec.NodeName != rt.node {
			rt.log.Info("killing processes of a pod no longer here", "pod", rec.Namespace+"/"+rec.Name, "uid", rec.UID)
			killDir(d)
			_ = os.RemoveAll(d)
			continue
		}
		if ip, err := netip.ParseAddr(rec.IP); err == nil {
			rt.reserve(rec.UID, ip)
		}
	}
	for _, p := range rt.a.pods.Cache().List() {
		if p.Spec.NodeName != rt.node || p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
			continue
		}
		if ip, err := netip.ParseAddr(p.Status.PodIP); err == nil {
			rt.reserve(p.UID, ip)
		}
	}
}

// killDir kills every process recorded under a pod directory and waits briefly for them.
func killDir(dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.pid"))
	var recs []shimPids
	for _, f := range files {
		var p shimPids
		if readJSON(f, &p) == nil && killRecorded(p, syscall.SIGKILL) {
			recs = append(recs, p)
		}
	}
	waitGone(recs, 5*time.Second)
}

// waitGone waits up to d for the recorded processes to exit.
func waitGone(recs []shimPids, d time.Duration) {
	deadline := time.Now().Add(d)
	for _, p := range recs {
		for (alive(p.Pid, p.PidStart) || alive(p.Shim, p.ShimStart)) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// reserve records ip as uid's if it is a free host address of the pod CIDR.
func (rt *procRuntime) reserve(uid string, ip netip.Addr) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.reserveLocked(uid, ip)
}

// reserveLocked requires rt.mu held.
func (rt *procRuntime) reserveLocked(uid string, ip netip.Addr) bool {
	if cur, ok := rt.ipOf[uid]; ok {
		return cur == ip
	}
	if !rt.usable(ip) {
		return false
	}
	if owner, ok := rt.ips[ip]; ok && owner != uid {
		return false
	}
	rt.ips[ip], rt.ipOf[uid] = uid, ip
	return true
}

// usable reports whether ip is a host address of the pod CIDR other than the network
// address, .1 (kept for a gateway, by convention) and the broadcast address.
func (rt *procRuntime) usable(ip netip.Addr) bool {
	if !rt.prefix.Contains(ip) {
		return false
	}
	b := ip.As4()
	n := rt.prefix.Addr().As4()
	off := uint32(b[0]-n[0])<<24 | uint32(b[1]-n[1])<<16 | uint32(b[2]-n[2])<<8 | uint32(b[3]-n[3])
	size := uint32(1) << (32 - rt.prefix.Bits())
	return off >= 2 && off < size-1
}

// allocateLocked returns uid's IP, preferring want, else the next free address after the
// last one handed out. Requires rt.mu held.
func (rt *procRuntime) allocateLocked(uid string, want netip.Addr) (netip.Addr, error) {
	if ip, ok := rt.ipOf[uid]; ok {
		return ip, nil
	}
	if want.IsValid() && rt.reserveLocked(uid, want) {
		return want, nil
	}
	ip := rt.lastIP
	if !ip.IsValid() || !rt.prefix.Contains(ip) {
		ip = rt.prefix.Addr()
	}
	size := 1 << (32 - rt.prefix.Bits())
	for range size {
		ip = ip.Next()
		if !rt.prefix.Contains(ip) {
			ip = rt.prefix.Addr()
		}
		if _, taken := rt.ips[ip]; !taken && rt.usable(ip) {
			rt.ips[ip], rt.ipOf[uid], rt.lastIP = uid, ip, ip
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("agent: pod CIDR %s is exhausted", rt.prefix)
}

func (rt *procRuntime) release(uid string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if ip, ok := rt.ipOf[uid]; ok {
		delete(rt.ipOf, uid)
		delete(rt.ips, ip)
	}
}

// sync hands the cached state of pod key to its runner, starting one for a pod new here
// and removing the runner of a pod gone from the store or from this node.
func (rt *procRuntime) sync(ctx context.Context, key string) error {
	select {
	case <-rt.ready:
	case <-ctx.Done():
		return nil
	}
	p, ok := rt.a.pods.Cache().Get(key)
	here := ok && p.Spec.NodeName == rt.node
	if here && rt.a.ev != nil && p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed {
		// A pod new here may be refused under memory pressure (evictionmanager.go). Only
		// sync makes runners, and the queue syncs a key once at a time: no runner appears
		// between this look and the locked one below.
		rt.mu.Lock()
		_, has := rt.runners[key]
		rt.mu.Unlock()
		if _, err := os.Stat(rt.podDir(p.Namespace, p.Name, p.UID)); !has && err != nil {
			if rejected, err := rt.a.ev.admit(ctx, p); rejected || err != nil {
				return err
			}
		}
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	r := rt.runners[key]
	if r != nil && (!here || p.UID != r.uid) {
		r.remove()
		delete(rt.runners, key)
		r = nil
	}
	if !here || rt.closed {
		return nil
	}
	if r != nil {
		r.update(p)
		return nil
	}
	var want netip.Addr
	var rec podRecord
	dir := rt.podDir(p.Namespace, p.Name, p.UID)
	if readJSON(filepath.Join(dir, "pod.json"), &rec) == nil {
		want, _ = netip.ParseAddr(rec.IP)
	} else if p.Status.PodIP != "" {
		want, _ = netip.ParseAddr(p.Status.PodIP)
	}
	terminal := p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
	var ip netip.Addr
	if !terminal {
		var err error
		if ip, err = rt.allocateLocked(p.UID, want); err != nil {
			return err
		}
	}
	r = newPodRunner(rt, p, dir, ip)
	rt.runners[key] = r
	rt.wg.Add(1)
	go r.run(ctx)
	return nil
}

// desiredNode returns the process runtime's node as the agent registers it.
func (rt *procRuntime) desiredNode(name string, lbls map[string]string, now api.Time, capacity api.ResourceList) *api.Node {
	lbls["type"] = RuntimeProcess
	return &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: lbls},
		Spec:       api.NodeSpec{PodCIDR: rt.prefix.String()},
		Status: api.NodeStatus{
			Capacity:    maps.Clone(capacity),
			Allocatable: maps.Clone(capacity),
			Phase:       "Running",
			Conditions: []api.NodeCondition{{Type: "Ready", Status: api.ConditionTrue, Reason: "KubeletReady",
				Message: "agent is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
			Addresses:       []api.NodeAddress{{Type: "InternalIP", Address: rt.cfg.Address}, {Type: "Hostname", Address: name}},
			DaemonEndpoints: api.NodeDaemonEndpoints{KubeletEndpoint: api.DaemonEndpoint{Port: int32(rt.port)}},
			NodeInfo: api.NodeSystemInfo{KubeletVersion: "keel-agent", ContainerRuntimeVersion: "process://1",
				OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH},
		},
	}
}
