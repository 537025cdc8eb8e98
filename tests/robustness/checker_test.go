package robustness_test

import (
	"slices"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/kvhist"
	"github.com/keeldb/keel/internal/watchcheck"
)

// The profiles' own checks on hand-made histories: each accepts the right one and reports
// the broken ones, so a green scenario means something. (TestMutations proves the same for
// porcupine, the write check and the watch checks against a really broken keeld.)

// checkEnv is an Env good enough for the profiles' Check methods (they only Note).
func checkEnv(t *testing.T) *Env {
	return &Env{T: t, Rec: kvhist.NewRecorder(), markers: map[string]bool{}}
}

func TestLockCheck(t *testing.T) {
	put := func(rev int64, v string) watchcheck.Event {
		return watchcheck.Event{Rev: rev, Key: lockCounter, Value: v}
	}
	for _, tc := range []struct {
		name string
		hist []watchcheck.Event
		incs []increment
		want string
	}{
		{"counts up", []watchcheck.Event{put(2, "1"), put(3, "2")},
			[]increment{{lockCounter, 1, 2}, {lockCounter, 2, 3}, {lockCounter, 3, 0}}, ""},
		{"two holders at once", []watchcheck.Event{put(2, "1"), put(3, "1")},
			[]increment{{lockCounter, 1, 2}, {lockCounter, 1, 3}}, "two holders"},
		{"lost increment", []watchcheck.Event{put(2, "1")},
			[]increment{{lockCounter, 1, 2}, {lockCounter, 2, 3}}, "not in the history"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &lockTraffic{incs: tc.incs}
			wantViolation(t, l.Check(t.Context(), checkEnv(t), &result{hist: tc.hist}), tc.want)
		})
	}
}

func TestK8sCheck(t *testing.T) {
	key := k8sPrefix + "obj-0"
	put := func(rev int64, v string) watchcheck.Event { return watchcheck.Event{Rev: rev, Key: key, Value: v} }
	del := func(rev int64) watchcheck.Event { return watchcheck.Event{Rev: rev, Key: key, Delete: true} }
	create := k8sWrite{op: k8sCreate, key: key, value: "a", acked: true, succeeded: true, rev: 2}
	update := k8sWrite{op: k8sUpdate, key: key, value: "b", expect: 2, acked: true, succeeded: true, rev: 3}
	remove := k8sWrite{op: k8sDelete, key: key, expect: 3, acked: true, succeeded: true, rev: 4}
	stale := update
	stale.expect = 1
	for _, tc := range []struct {
		name   string
		hist   []watchcheck.Event
		writes []k8sWrite
		lists  []k8sList
		want   string
	}{
		{"create, update, delete", []watchcheck.Event{put(2, "a"), put(3, "b"), del(4)},
			[]k8sWrite{create, update, remove}, []k8sList{{rev: 3, kvs: map[string]string{key: "b"}}, {rev: 4, kvs: map[string]string{}}}, ""},
		{"lost update", []watchcheck.Event{put(2, "a")}, []k8sWrite{create, update}, nil, "not in the history"},
		{"update on a stale mod_revision applied", []watchcheck.Event{put(2, "a"), put(3, "b")},
			[]k8sWrite{create, stale}, nil, "compared mod_revision 1"},
		{"value nobody wrote", []watchcheck.Event{put(2, "a"), put(3, "z")}, []k8sWrite{create}, nil, "never written"},
		{"wrong list", []watchcheck.Event{put(2, "a"), put(3, "b")}, []k8sWrite{create, update},
			[]k8sList{{rev: 2, kvs: map[string]string{key: "b"}}}, "list at revision 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &k8sTraffic{writes: tc.writes, lists: tc.lists}
			wantViolation(t, k.Check(t.Context(), checkEnv(t), &result{hist: tc.hist}), tc.want)
		})
	}
}

func TestLeaseCheck(t *testing.T) {
	key := prefix + "lease/0-0"
	const lease = clientv3.LeaseID(7)
	put := watchcheck.Event{Rev: 2, Key: key, Value: key}
	del := watchcheck.Event{Rev: 3, Key: key, Delete: true}
	for _, tc := range []struct {
		name    string
		hist    []watchcheck.Event
		state   map[string]string
		revoked map[clientv3.LeaseID]bool
		want    string
	}{
		{"revoked", []watchcheck.Event{put, del}, map[string]string{}, map[clientv3.LeaseID]bool{lease: true}, ""},
		{"kept", []watchcheck.Event{put}, map[string]string{key: key}, nil, ""},
		{"revoke unknown", []watchcheck.Event{put}, map[string]string{key: key}, map[clientv3.LeaseID]bool{lease: false}, ""},
		{"survived its revoke", []watchcheck.Event{put}, map[string]string{key: key}, map[clientv3.LeaseID]bool{lease: true}, "still there"},
		{"gone without a revoke", []watchcheck.Event{put, del}, map[string]string{}, nil, "nobody revoked"},
		{"lost put", nil, map[string]string{}, map[clientv3.LeaseID]bool{lease: true}, "not in the history"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &leaseClient{puts: []leasePut{{key: key, lease: lease, rev: 2}}, revoked: tc.revoked}
			if l.revoked == nil {
				l.revoked = map[clientv3.LeaseID]bool{}
			}
			wantViolation(t, l.check(&result{hist: tc.hist, state: tc.state}), tc.want)
		})
	}
}

// wantViolation checks that vs is empty when want is "", else that one mentions want.
func wantViolation(t *testing.T, vs []violation, want string) {
	t.Helper()
	if want == "" {
		if len(vs) > 0 {
			t.Errorf("got violations %v, want none", vs)
		}
		return
	}
	for _, v := range vs {
		if strings.Contains(v.msg, want) {
			return
		}
	}
	t.Errorf("got violations %v, want one mentioning %q", vs, want)
}

// TestLogPanics checks the panic check: a failpoint panic a fault declared is not flagged, any
// other panic, fatal error or race is, including a declared failpoint's panic in another name.
func TestLogPanics(t *testing.T) {
	log := strings.Join([]string{
		`{"level":"INFO","msg":"started"}`,
		`panic: failpoint panic: raftBeforeSave [recovered]`,
		`	panic: failpoint raftBeforeSave: failpoint panic: raftBeforeSave`,
		`goroutine 1 [running]:`,
		`panic: failpoint backendAfterCommit: failpoint panic: backendAfterCommit`,
		`panic: runtime error: index out of range [3] with length 3`,
		`fatal error: concurrent map writes`,
		`WARNING: DATA RACE`,
	}, "\n")
	got := logPanics(strings.NewReader(log), []string{"failpoint raftBeforeSave:"})
	want := []string{
		`panic: failpoint backendAfterCommit: failpoint panic: backendAfterCommit`,
		`panic: runtime error: index out of range [3] with length 3`,
		`fatal error: concurrent map writes`,
		`WARNING: DATA RACE`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("logPanics = %q, want %q", got, want)
	}
	if got := logPanics(strings.NewReader(log), nil); len(got) != 5 {
		t.Errorf("with nothing expected, logPanics = %q, want all 5 crashes", got)
	}
}
