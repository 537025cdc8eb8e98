package main

import (
	"flag"
	"io"
	"testing"
)

func TestEvictionFlags(t *testing.T) {
	parse := func(args ...string) (string, error) {
		fs := flag.NewFlagSet("agent", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var f evictionFlags
		f.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := f.config()
		if err != nil {
			return "", err
		}
		var s string
		for _, th := range cfg.Thresholds {
			s += th.Signal + "<" + th.Value.Quantity.String() + "/" + th.GracePeriod.String() + " "
		}
		return s + cfg.PressureTransitionPeriod.String() + " " + cfg.Interval.String() + " " + cfg.MaxPodGracePeriod.String(), nil
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "memory.available<100Mi/0s 5m0s 10s 0s"},
		{[]string{"--eviction-hard="}, "5m0s 10s 0s"},
		{[]string{"--eviction-hard=memory.available<1Gi", "--eviction-soft=memory.available<2Gi", "--eviction-soft-grace-period=memory.available=1m",
			"--eviction-pressure-transition-period=30s", "--housekeeping-interval=1s", "--eviction-max-pod-grace-period=-1"},
			"memory.available<1Gi/0s memory.available<2Gi/1m0s 30s 1s -1s"},
		{[]string{"--eviction-hard=memory.available=1Gi"}, `invalid argument "memory.available=1Gi" for "--eviction-hard" flag: malformed pair, expect string<string`},
		{[]string{"--eviction-soft=memory.available<1Gi", "--eviction-soft-grace-period=memory.available"},
			`invalid argument "memory.available" for "--eviction-soft-grace-period" flag: malformed pair, expect string=string`},
		{[]string{"--eviction-soft=memory.available<1Gi"}, "grace period must be specified for the soft eviction threshold memory.available"},
		{[]string{"--eviction-hard=imagefs.available<15%"}, "unsupported eviction signal imagefs.available"},
		{[]string{"--housekeeping-interval=0s"}, "--housekeeping-interval must be positive, got 0s"},
	} {
		got, err := parse(tc.args...)
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.args, got, tc.want)
		}
	}
}
