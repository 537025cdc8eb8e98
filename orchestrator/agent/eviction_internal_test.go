package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

const mi = int64(1) << 20

func TestParseThresholds(t *testing.T) {
	parse := func(hard, soft, grace, reclaim string) ([]Threshold, error) {
		h, err := ParseEvictionMap(hard, '<')
		if err != nil {
			return nil, err
		}
		s, err := ParseEvictionMap(soft, '<')
		if err != nil {
			return nil, err
		}
		g, err := ParseEvictionMap(grace, '=')
		if err != nil {
			return nil, err
		}
		r, err := ParseEvictionMap(reclaim, '=')
		if err != nil {
			return nil, err
		}
		return ParseThresholds(h, s, g, r)
	}
	for _, tc := range []struct {
		hard, soft, grace, reclaim string
		want                       string // thresholds as "value/grace/minReclaim;..." or the error
	}{
		{hard: "memory.available<100Mi", want: "100Mi/0s/-"},
		{hard: " memory.available < 10% ", want: "10%/0s/-"},
		{hard: "memory.available<0%", want: ""},
		{hard: "memory.available<100%", want: ""},
		{hard: "memory.available<100Mi", soft: "memory.available<1Gi", grace: "memory.available=1m30s", reclaim: "memory.available=50Mi",
			want: "100Mi/0s/50Mi;1Gi/1m30s/50Mi"},
		{soft: "memory.available<1Gi", reclaim: "memory.available=5%", grace: "memory.available=10s", want: "1Gi/10s/5%"},
		{hard: "nodefs.available<10%", want: "unsupported eviction signal nodefs.available"},
		{hard: "memory.available=100Mi", want: "malformed pair, expect string<string"},
		{soft: "memory.available<1Gi", grace: "memory.available<1m", want: "malformed pair, expect string=string"},
		{soft: "memory.available<1Gi", want: "grace period must be specified for the soft eviction threshold memory.available"},
		{soft: "memory.available<1Gi", grace: "memory.available=-1s", want: "invalid eviction grace period specified: -1s, must be a positive value"},
		{soft: "memory.available<1Gi", grace: "memory.available=soon", want: `time: invalid duration "soon"`},
		{soft: "memory.available<1Gi", grace: "pid.available=1s", want: "unsupported eviction signal pid.available"},
		{hard: "memory.available<-1Mi", want: "eviction threshold memory.available must be positive: -1Mi"},
		{hard: "memory.available<0", want: "eviction threshold memory.available must be positive: 0"},
		{hard: "memory.available<-5%", want: "eviction percentage threshold memory.available must be >= 0%: -5%"},
		{hard: "memory.available<150%", want: "eviction percentage threshold memory.available must be <= 100%: 150%"},
		{hard: "memory.available<lots", want: "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"},
		{hard: "memory.available<1Gi", reclaim: "memory.available=0%", want: "eviction percentage minimum reclaim memory.available must be positive: 0%"},
		{hard: "memory.available<1Gi", reclaim: "memory.available=-1Mi", want: "negative eviction minimum reclaim specified for memory.available"},
	} {
		ths, err := parse(tc.hard, tc.soft, tc.grace, tc.reclaim)
		var got string
		if err != nil {
			got = err.Error()
		} else {
			var parts []string
			for _, th := range ths {
				mr := "-"
				if th.MinReclaim != nil {
					mr = valueString(*th.MinReclaim)
				}
				parts = append(parts, fmt.Sprintf("%s/%s/%s", valueString(th.Value), th.GracePeriod, mr))
			}
			got = strings.Join(parts, ";")
		}
		if got != tc.want {
			t.Errorf("hard %q soft %q grace %q reclaim %q: got %q, want %q", tc.hard, tc.soft, tc.grace, tc.reclaim, got, tc.want)
		}
	}
}

func valueString(v ThresholdValue) string {
	if v.Quantity != nil {
		return v.Quantity.String()
	}
	return fmt.Sprintf("%g%%", v.Percentage*100)
}

func rankPod(name string, prio int32, requests ...string) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name, UID: "uid-" + name}}
	if prio != 0 {
		p.Spec.Priority = &prio
	}
	for i, r := range requests {
		c := api.Container{Name: fmt.Sprintf("c%d", i)}
		if r != "" {
			c.Resources.Requests = api.ResourceList{"memory": api.Quantity(r)}
		}
		p.Spec.Containers = append(p.Spec.Containers, c)
	}
	return p
}

func TestRankMemoryPressure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pods  []*api.Pod
		usage map[string]int64 // by pod name, in Mi; missing: no stats
		want  string
	}{
		{name: "best effort before pods within their requests",
			pods:  []*api.Pod{rankPod("guaranteed", 0, "512Mi"), rankPod("besteffort", 0, "")},
			usage: map[string]int64{"guaranteed": 500, "besteffort": 10},
			want:  "besteffort guaranteed"},
		{name: "over requests before within, whatever the usage",
			pods:  []*api.Pod{rankPod("within", 0, "1Gi"), rankPod("over", 0, "100Mi")},
			usage: map[string]int64{"within": 900, "over": 101},
			want:  "over within"},
		{name: "among those over: lower priority first",
			pods:  []*api.Pod{rankPod("high", 100, ""), rankPod("low", -5, "10Mi"), rankPod("zero", 0, "")},
			usage: map[string]int64{"high": 900, "low": 20, "zero": 50},
			want:  "low zero high"},
		{name: "same priority: larger usage above request first",
			pods:  []*api.Pod{rankPod("a", 0, "100Mi"), rankPod("b", 0, ""), rankPod("c", 0, "300Mi", "")},
			usage: map[string]int64{"a": 250, "b": 100, "c": 500},
			want:  "c a b"},
		{name: "no stats first, then ties by name",
			pods:  []*api.Pod{rankPod("y", 0, ""), rankPod("x", 0, ""), rankPod("nostats", 0, "1Gi")},
			usage: map[string]int64{"x": 10, "y": 10},
			want:  "nostats x y"},
		{name: "within requests: priority, then usage above request (least under first)",
			pods:  []*api.Pod{rankPod("g1", 0, "1Gi"), rankPod("g2", 0, "1Gi"), rankPod("g3", 10, "100Mi")},
			usage: map[string]int64{"g1": 100, "g2": 1000, "g3": 1},
			want:  "g2 g1 g3"},
		{name: "critical pods are never candidates",
			pods:  []*api.Pod{rankPod("critical", systemCriticalPriority, ""), rankPod("web", 0, "")},
			usage: map[string]int64{"critical": 900, "web": 1},
			want:  "web"},
	} {
		usage := map[string]int64{}
		for name, u := range tc.usage {
			usage["uid-"+name] = u * mi
		}
		var got []string
		for _, p := range RankMemoryPressure(tc.pods, usage) {
			got = append(got, p.Name)
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, g, tc.want)
		}
	}
}

func TestEvictionDecision(t *testing.T) {
	q := func(s string) ThresholdValue {
		ths, err := ParseThresholds(map[string]string{SignalMemoryAvailable: s}, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ths[0].Value
	}
	hard := Threshold{Signal: SignalMemoryAvailable, Value: q("100Mi")}
	soft := Threshold{Signal: SignalMemoryAvailable, Value: q("50%"), GracePeriod: 30 * time.Second}
	reclaim := q("100Mi")
	hardReclaim := Threshold{Signal: SignalMemoryAvailable, Value: q("100Mi"), MinReclaim: &reclaim}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		after     time.Duration // since t0
		available int64         // Mi, of 1024
		want      string        // "pressure=B evict=hard|soft|-"
	}
	for _, tc := range []struct {
		name  string
		ths   []Threshold
		steps []step
	}{
		{name: "hard: evict at once, pressure until the transition period passes",
			ths: []Threshold{hard},
			steps: []step{
				{0, 500, "pressure=false evict=-"},
				{10 * time.Second, 99, "pressure=true evict=hard"},
				{20 * time.Second, 600, "pressure=true evict=-"},
				{69 * time.Second, 600, "pressure=true evict=-"},
				{70 * time.Second, 600, "pressure=false evict=-"},
			}},
		{name: "soft: pressure at once, eviction after the grace period",
			ths: []Threshold{soft},
			steps: []step{
				{0, 400, "pressure=true evict=-"},
				{29 * time.Second, 400, "pressure=true evict=-"},
				{30 * time.Second, 400, "pressure=true evict=soft"},
				{40 * time.Second, 600, "pressure=true evict=-"},
				{50 * time.Second, 400, "pressure=true evict=-"}, // the grace period starts again
				{80 * time.Second, 400, "pressure=true evict=soft"},
			}},
		{name: "hard wins over soft",
			ths:   []Threshold{soft, hard},
			steps: []step{{0, 400, "pressure=true evict=-"}, {30 * time.Second, 50, "pressure=true evict=hard"}},
		},
		{name: "minimum reclaim keeps the threshold met until value+reclaim is available",
			ths: []Threshold{hardReclaim},
			steps: []step{
				{0, 99, "pressure=true evict=hard"},
				{10 * time.Second, 150, "pressure=true evict=hard"},
				{20 * time.Second, 200, "pressure=true evict=-"},
				{30 * time.Second, 150, "pressure=true evict=-"}, // resolved: plain threshold again
			}},
	} {
		var st evictionState
		for _, s := range tc.steps {
			d := st.observe(tc.ths, MemoryObservation{Capacity: 1024 * mi, Available: s.available * mi}, t0.Add(s.after), time.Minute)
			ev := "-"
			if d.evict != nil {
				ev = "soft"
				if d.evict.hard() {
					ev = "hard"
				}
			}
			if got := fmt.Sprintf("pressure=%v evict=%s", d.pressure, ev); got != s.want {
				t.Errorf("%s: at %s, available %dMi: got %s, want %s", tc.name, s.after, s.available, got, s.want)
			}
		}
	}
}

func TestEvictionMessageAndGrace(t *testing.T) {
	p := rankPod("web", 0, "", "64Mi")
	p.Spec.Containers[0].Name, p.Spec.Containers[1].Name = "web", "sidecar"
	ths, err := ParseThresholds(map[string]string{SignalMemoryAvailable: "100Mi"}, map[string]string{SignalMemoryAvailable: "10%"},
		map[string]string{SignalMemoryAvailable: "1m"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obs := MemoryObservation{Capacity: 1024 * mi, Available: 50 * mi, Pods: map[string][]ContainerMemory{
		p.UID: {{Name: "web", WorkingSet: 80 * mi}, {Name: "sidecar", WorkingSet: 10 * mi}}}}
	want := "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. " +
		"Container web was using 80Mi, request is 0, has larger consumption of memory. "
	if got := evictionMessage(p, &ths[0], obs); got != want {
		t.Errorf("message:\n got %q\nwant %q", got, want)
	}
	obs.Pods[p.UID][1].WorkingSet = 70 * mi
	want = "The node was low on resource: memory. Threshold quantity: 107374182, available: 50Mi. " +
		"Container web was using 80Mi, request is 0, has larger consumption of memory. " +
		"Container sidecar was using 70Mi, request is 64Mi, has larger consumption of memory. "
	if got := evictionMessage(p, &ths[1], obs); got != want {
		t.Errorf("message (percentage):\n got %q\nwant %q", got, want)
	}
	sixty := int64(60)
	p.Spec.TerminationGracePeriodSeconds = &sixty
	for _, tc := range []struct {
		th       *Threshold
		maxGrace time.Duration
		want     time.Duration
	}{
		{&ths[0], time.Minute, 0},
		{&ths[1], 20 * time.Second, 20 * time.Second},
		{&ths[1], 0, 0},
		{&ths[1], -1, time.Minute},
		{&ths[1], time.Hour, time.Minute},
	} {
		if got := evictionGrace(p, tc.th, tc.maxGrace); got != tc.want {
			t.Errorf("grace (hard %v, max %s) = %s, want %s", tc.th.hard(), tc.maxGrace, got, tc.want)
		}
	}
}

func TestSetMemoryPressure(t *testing.T) {
	n := &api.Node{Spec: api.NodeSpec{Taints: []api.Taint{{Key: "other", Effect: api.TaintNoSchedule}}}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	check := func(wantChanged bool, pressure bool, wantStatus, wantReason string, wantTaint bool) {
		t.Helper()
		if changed := setMemoryPressure(n, pressure, now); changed != wantChanged {
			t.Errorf("changed = %v, want %v", changed, wantChanged)
		}
		status, tainted := memoryPressure(n)
		reason := ""
		for _, c := range n.Status.Conditions {
			if c.Type == NodeMemoryPressure {
				reason = c.Reason
			}
		}
		if status != wantStatus || reason != wantReason || tainted != wantTaint || n.Spec.Taints[0].Key != "other" {
			t.Errorf("pressure %v: condition %s/%s taint %v (taints %+v), want %s/%s %v", pressure, status, reason, tainted,
				n.Spec.Taints, wantStatus, wantReason, wantTaint)
		}
	}
	check(true, false, api.ConditionFalse, "KubeletHasSufficientMemory", false)
	check(false, false, api.ConditionFalse, "KubeletHasSufficientMemory", false)
	check(true, true, api.ConditionTrue, "KubeletHasInsufficientMemory", true)
	check(false, true, api.ConditionTrue, "KubeletHasInsufficientMemory", true)
	check(true, false, api.ConditionFalse, "KubeletHasSufficientMemory", false)
}

func TestReadMeminfo(t *testing.T) {
	total, avail, err := readMeminfo("/proc/meminfo")
	if err != nil {
		t.Skipf("no /proc/meminfo: %v", err)
	}
	if total <= 0 || avail <= 0 || avail > total {
		t.Errorf("MemTotal %d, MemAvailable %d", total, avail)
	}
}
