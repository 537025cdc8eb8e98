package main

import (
	"flag"
	"fmt"
	"net"

	"github.com/keeldb/keel/orchestrator/agent"
)

// processFlags are the flags of `orch agent --runtime process`.
type processFlags struct {
	address        string
	podCIDR        string
	rootDir        string
	port           int
	stopPodsOnExit bool
	timing         string
	podMaxPids     int64
}

func (f *processFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.address, "address", "127.0.0.1", "process runtime: the node's InternalIP; the agent's HTTP port and the service proxy listen on it")
	fs.StringVar(&f.podCIDR, "pod-cidr", "", "process runtime: IPv4 range of pod IPs (default 127.<10..250>.<x>.0/24 derived from the node name)")
	fs.StringVar(&f.rootDir, "root-dir", "", "process runtime: directory of pod logs and state (default ./data/agent-<node>)")
	fs.IntVar(&f.port, "port", agent.DefaultKubeletPort, "process runtime: the agent's HTTP port (container logs) on --address")
	fs.BoolVar(&f.stopPodsOnExit, "stop-pods-on-exit", false, "process runtime: stop the pods' processes when the agent exits (default: they keep running and the next agent adopts them)")
	fs.Int64Var(&f.podMaxPids, "pod-max-pids", -1, "process runtime: the most processes each pod may have, through the pids cgroup (-1: unlimited)")
	fs.StringVar(&f.timing, "timing", "fast", "process runtime: restart back-off profile: fast (1s doubling to 30s) or kubernetes (10s doubling to 5m)")
}

// config returns the process runtime's configuration for node.
func (f *processFlags) config() (agent.ProcessConfig, error) {
	if net.ParseIP(f.address) == nil {
		return agent.ProcessConfig{}, fmt.Errorf("--address %q is not an IP address", f.address)
	}
	cfg := agent.ProcessConfig{Address: f.address, PodCIDR: f.podCIDR, RootDir: f.rootDir, Port: f.port,
		StopPodsOnExit: f.stopPodsOnExit, PodMaxPids: f.podMaxPids}
	switch f.timing {
	case "fast":
	case "kubernetes":
		cfg.BackoffBase, cfg.BackoffMax = agent.KubernetesBackoffBase, agent.KubernetesBackoffMax
	default:
		return cfg, fmt.Errorf("unknown --timing %q (want fast or kubernetes)", f.timing)
	}
	if f.port == 0 {
		cfg.Port = -1 // any free port
	}
	return cfg, nil
}
