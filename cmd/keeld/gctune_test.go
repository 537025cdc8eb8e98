package main

import "testing"

func TestGCPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, headroom uint64
		want           int
	}{
		{0, 128 * mib, 1000},
		{10 * mib, 128 * mib, 1000},
		{20 * mib, 128 * mib, 640},
		{64 * mib, 128 * mib, 200},
		{128 * mib, 128 * mib, 100},
		{1024 * mib, 128 * mib, 100},
		{30 * mib, 128 * mib, 420},
	} {
		if got := gcPercent(tc.live, tc.headroom); got != tc.want {
			t.Errorf("gcPercent(%d MiB, %d MiB) = %d, want %d", tc.live/mib, tc.headroom/mib, got, tc.want)
		}
	}
}
