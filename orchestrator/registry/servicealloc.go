package registry

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Default allocation ranges of Services. The cluster IP range lies in 127.0.0.0/8, so
// every address of it is local on Linux and needs no setup, and outside the process
// runtime's pod ranges (127.10.0.0–127.250.255.255, agent.DefaultPodCIDR).
const (
	DefaultServiceClusterIPRange = "127.254.0.0/16"
	DefaultServiceNodePortRange  = "30000-32767"
)

// ipRange is a range of IPv4 addresses to allocate cluster IPs from: the prefix without
// its network and broadcast addresses, as Kubernetes' ipallocator. Offset i is the
// (i+1)-th address of the prefix.
type ipRange struct {
	prefix netip.Prefix
}

// parseIPRange parses an IPv4 CIDR of at least 4 addresses.
func parseIPRange(s string) (ipRange, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return ipRange{}, fmt.Errorf("registry: invalid service cluster IP range %q: want an IPv4 CIDR of at least 4 addresses", s)
	}
	return ipRange{prefix: p.Masked()}, nil
}

func (r ipRange) String() string { return r.prefix.String() }

// size is the number of allocatable addresses.
func (r ipRange) size() int { return 1<<(32-r.prefix.Bits()) - 2 }

// nth returns the address at offset i (0 ≤ i < size).
func (r ipRange) nth(i int) netip.Addr {
	b := r.prefix.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i) + 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// offset returns a's offset, and false when a is not allocatable in r.
func (r ipRange) offset(a netip.Addr) (int, bool) {
	if !a.Is4() || !r.prefix.Contains(a) {
		return 0, false
	}
	b, base := a.As4(), r.prefix.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	w := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	i := int(v-w) - 1
	if i < 0 || i >= r.size() {
		return 0, false
	}
	return i, true
}

// portRange is the range of node ports, base to base+size-1.
type portRange struct {
	base, size int
}

// parsePortRange parses "FIRST-LAST" (as kube-apiserver's --service-node-port-range).
func parsePortRange(s string) (portRange, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return portRange{}, fmt.Errorf("registry: invalid service node port range %q: want FIRST-LAST within 1-65535", s)
	}
	return portRange{base: a, size: b - a + 1}, nil
}

func (r portRange) String() string { return fmt.Sprintf("%d-%d", r.base, r.base+r.size-1) }

func (r portRange) contains(port int) bool { return port >= r.base && port < r.base+r.size }

// pickFree returns the first offset from start (wrapping around) in [0, size) that taken
// does not report, and false when all are taken. Starting at a random offset spreads
// concurrent allocators over the range, as Kubernetes' random-scan allocation strategy.
func pickFree(size, start int, taken func(int) bool) (int, bool) {
	for i := range size {
		o := (start + i) % size
		if !taken(o) {
			return o, true
		}
	}
	return 0, false
}
