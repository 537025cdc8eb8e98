package registry

import (
	"net/netip"
	"testing"
)

func TestIPRange(t *testing.T) {
	r, err := parseIPRange("127.254.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.size(); got != 65534 {
		t.Fatalf("size = %d, want 65534", got)
	}
	for _, tc := range []struct {
		ip   string
		off  int
		want bool
	}{
		{"127.254.0.0", 0, false}, // network address
		{"127.254.0.1", 0, true},
		{"127.254.1.0", 255, true},
		{"127.254.255.254", 65533, true},
		{"127.254.255.255", 0, false}, // broadcast
		{"127.253.0.1", 0, false},
	} {
		off, ok := r.offset(netip.MustParseAddr(tc.ip))
		if ok != tc.want || ok && off != tc.off {
			t.Errorf("offset(%s) = %d, %v; want %d, %v", tc.ip, off, ok, tc.off, tc.want)
		}
		if ok && r.nth(off).String() != tc.ip {
			t.Errorf("nth(%d) = %s, want %s", off, r.nth(off), tc.ip)
		}
	}
	for _, bad := range []string{"127.0.0.0/31", "::1/64", "nonsense"} {
		if _, err := parseIPRange(bad); err == nil {
			t.Errorf("parseIPRange(%q) succeeded", bad)
		}
	}
}

func TestPortRange(t *testing.T) {
	r, err := parsePortRange("30000-32767")
	if err != nil || r.size != 2768 || !r.contains(30000) || !r.contains(32767) || r.contains(32768) || r.contains(29999) {
		t.Fatalf("parsePortRange = %+v, %v", r, err)
	}
	for _, bad := range []string{"3-2", "0-10", "1-70000", "30000"} {
		if _, err := parsePortRange(bad); err == nil {
			t.Errorf("parsePortRange(%q) succeeded", bad)
		}
	}
}

func TestPickFree(t *testing.T) {
	taken := map[int]bool{3: true, 4: true, 0: true}
	for _, tc := range []struct{ start, want int }{{3, 5}, {1, 1}, {4, 5}} {
		if got, ok := pickFree(6, tc.start, func(i int) bool { return taken[i] }); !ok || got != tc.want {
			t.Errorf("pickFree from %d = %d, %v; want %d", tc.start, got, ok, tc.want)
		}
	}
	if _, ok := pickFree(2, 0, func(int) bool { return true }); ok {
		t.Error("pickFree of a full range succeeded")
	}
}
