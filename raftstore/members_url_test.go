package raftstore

import (
	"slices"
	"testing"
)

func TestPeerURLsOfUnpublishedMembersKeepTheClusterScheme(t *testing.T) {
	tlsCluster := []Member{
		{Name: "m0", PeerURLs: []string{"https://10.0.0.1:2380"}},
		{Name: "m1", PeerURLs: []string{"https://10.0.0.2:2380", "https://10.0.0.2:2381"}},
	}
	plainCluster := []Member{{Name: "m0", PeerURLs: []string{"http://10.0.0.1:2380"}}}
	for _, tc := range []struct {
		name    string
		cluster []Member
		addr    string
		want    []string
	}{
		{"initial member", tlsCluster, "10.0.0.2:2380", []string{"https://10.0.0.2:2380", "https://10.0.0.2:2381"}},
		{"member added later", tlsCluster, "10.0.0.9:2380", []string{"https://10.0.0.9:2380"}},
		{"plain cluster", plainCluster, "10.0.0.9:2380", []string{"http://10.0.0.9:2380"}},
		{"no initial cluster", nil, "10.0.0.9:2380", []string{"http://10.0.0.9:2380"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Name: "m0", InitialCluster: tc.cluster}
			if got := cfg.peerURLsOf(tc.addr); !slices.Equal(got, tc.want) {
				t.Fatalf("peerURLsOf(%q) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
}
