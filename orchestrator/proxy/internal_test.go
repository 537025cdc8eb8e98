package proxy

import (
	"slices"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestReadyAddrs(t *testing.T) {
	addrs := func(ips ...string) []api.EndpointAddress {
		var out []api.EndpointAddress
		for _, ip := range ips {
			out = append(out, api.EndpointAddress{IP: ip})
		}
		return out
	}
	ep := &api.Endpoints{Subsets: []api.EndpointSubset{
		{
			Addresses: addrs("10.0.0.2", "10.0.0.1"), NotReadyAddresses: addrs("10.0.0.9"),
			Ports: []api.EndpointPort{{Name: "dns", Port: 53, Protocol: "UDP"}, {Name: "http", Port: 8080, Protocol: "TCP"}},
		},
		{Addresses: addrs("10.0.0.3"), Ports: []api.EndpointPort{{Name: "http", Port: 8081}}},
		{Addresses: addrs("fd00::1"), Ports: []api.EndpointPort{{Name: "", Port: 80}}},
		{NotReadyAddresses: addrs("10.0.0.4"), Ports: []api.EndpointPort{{Name: "http", Port: 8082}}},
	}}
	for _, tc := range []struct {
		port string
		want []string
	}{
		{"http", []string{"10.0.0.2:8080", "10.0.0.1:8080", "10.0.0.3:8081"}},
		{"", []string{"[fd00::1]:80"}},
		{"dns", nil}, // UDP is not proxied
		{"missing", nil},
	} {
		if got := readyAddrs(ep, tc.port); !slices.Equal(got, tc.want) {
			t.Errorf("readyAddrs(%q) = %v, want %v", tc.port, got, tc.want)
		}
	}
}
