package agent

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPodIPAllocation(t *testing.T) {
	rt := &procRuntime{prefix: netip.MustParsePrefix("127.9.9.0/29"), ips: map[netip.Addr]string{}, ipOf: map[string]netip.Addr{}}
	if !rt.reserve("a", netip.MustParseAddr("127.9.9.4")) {
		t.Fatal("reserve a free address failed")
	}
	for _, bad := range []string{"127.9.9.0", "127.9.9.1", "127.9.9.7", "127.9.10.2"} {
		if rt.reserve("x-"+bad, netip.MustParseAddr(bad)) {
			t.Errorf("reserved unusable %s", bad)
		}
	}
	if rt.reserve("b", netip.MustParseAddr("127.9.9.4")) {
		t.Error("reserved a taken address")
	}
	seen := map[string]bool{"127.9.9.4": true}
	rt.mu.Lock()
	for _, uid := range []string{"b", "c", "d", "e"} { // .2 .3 .5 .6
		ip, err := rt.allocateLocked(uid, netip.Addr{})
		if err != nil {
			t.Fatalf("allocate %s: %v", uid, err)
		}
		if seen[ip.String()] {
			t.Errorf("%s got %s twice", uid, ip)
		}
		seen[ip.String()] = true
	}
	if _, err := rt.allocateLocked("f", netip.Addr{}); err == nil || !strings.Contains(err.Error(), "exhausted") {
		t.Errorf("allocate in a full range: %v", err)
	}
	again, _ := rt.allocateLocked("b", netip.Addr{})
	rt.mu.Unlock()
	if !seen[again.String()] {
		t.Errorf("b's second allocation %s is new", again)
	}
	rt.release("b")
	rt.mu.Lock()
	ip, err := rt.allocateLocked("f", netip.Addr{})
	rt.mu.Unlock()
	if err != nil || ip != again {
		t.Errorf("after release: %s, %v; want %s", ip, err, again)
	}
	if got := DefaultPodCIDR("n1"); got != DefaultPodCIDR("n1") || !strings.HasPrefix(got, "127.") || !strings.HasSuffix(got, ".0/24") {
		t.Errorf("DefaultPodCIDR(n1) = %q", got)
	}
}
