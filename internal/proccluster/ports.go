package proccluster

import (
	"errors"
	"fmt"
	"net"
)

// errPortInUse marks a start attempt that failed because a member could not bind its port.
var errPortInUse = errors.New("proccluster: a member port was already in use")

// FreePorts returns n distinct free TCP ports on 127.0.0.1 for a test's own listeners (a
// member's GOFAIL_HTTP, a proxy), never etcd's 2379/2380. Another process may take one before
// it is used; a member that then fails to bind shows it in its log.
func FreePorts(n int) ([]int, error) { return freePorts(n) }

// freePorts returns n distinct free TCP ports on 127.0.0.1, never etcd's 2379/2380 defaults.
// All listeners stay open until every port is chosen, so the ports are distinct; they are
// closed before returning, so another process may still take one (see the package caveat).
func freePorts(n int) ([]int, error) {
	var (
		ports []int
		lns   []net.Listener
	)
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("proccluster: finding a free port: %w", err)
		}
		lns = append(lns, ln)
		p := ln.Addr().(*net.TCPAddr).Port
		if p == 2379 || p == 2380 {
			continue
		}
		ports = append(ports, p)
	}
	return ports, nil
}
