package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestVolumePayload(t *testing.T) {
	src := mapConfigs{
		cms:     map[string]*api.ConfigMap{"app": {Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"bin": {0, 1}}}},
		secrets: map[string]*api.Secret{"creds": {Data: map[string][]byte{"password": []byte("hunter2")}}},
	}
	r := &podRunner{rt: &procRuntime{cfg: ProcessConfig{Address: "127.0.1.1"}}, ip: "127.1.1.2",
		pod: &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "p", Labels: map[string]string{"app": "web", "tier": "x"}}}}
	mode := func(m int32) *int32 { return &m }
	yes := true
	for _, tc := range []struct {
		name    string
		v       api.VolumeSource
		want    map[string]string
		modes   map[string]os.FileMode
		wantErr string
	}{
		{name: "configMap, all keys", v: api.VolumeSource{ConfigMap: &api.ConfigMapVolumeSource{Name: "app", DefaultMode: mode(0o640)}},
			want: map[string]string{"a": "1", "b": "2", "bin": "\x00\x01"}, modes: map[string]os.FileMode{"a": 0o640}},
		{name: "configMap items", v: api.VolumeSource{ConfigMap: &api.ConfigMapVolumeSource{Name: "app",
			Items: []api.KeyToPath{{Key: "a", Path: "dir/first", Mode: mode(0o600)}}}},
			want: map[string]string{"dir/first": "1"}, modes: map[string]os.FileMode{"dir/first": 0o600}},
		{name: "configMap item missing", v: api.VolumeSource{ConfigMap: &api.ConfigMapVolumeSource{Name: "app",
			Items: []api.KeyToPath{{Key: "nope", Path: "x"}}}}, wantErr: "configmap references non-existent config key: nope"},
		{name: "secret missing", v: api.VolumeSource{Secret: &api.SecretVolumeSource{SecretName: "gone"}}, wantErr: `secret "gone" not found`},
		{name: "secret missing, optional", v: api.VolumeSource{Secret: &api.SecretVolumeSource{SecretName: "gone", Optional: &yes}},
			want: map[string]string{}},
		{name: "downwardAPI", v: api.VolumeSource{DownwardAPI: &api.DownwardAPIVolumeSource{Items: []api.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &api.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "name", FieldRef: &api.ObjectFieldSelector{FieldPath: "metadata.name"}}}}},
			want: map[string]string{"labels": "app=\"web\"\ntier=\"x\"", "name": "p"}},
		{name: "projected", v: api.VolumeSource{Projected: &api.ProjectedVolumeSource{Sources: []api.VolumeProjection{
			{ConfigMap: &api.ConfigMapProjection{Name: "app", Items: []api.KeyToPath{{Key: "b", Path: "b"}}}},
			{Secret: &api.SecretProjection{Name: "creds"}}}}},
			want: map[string]string{"b": "2", "password": "hunter2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.volumePayload(tc.v, src)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d files, want %d: %v", len(got), len(tc.want), got)
			}
			for p, v := range tc.want {
				if string(got[p].data) != v {
					t.Errorf("%s = %q, want %q", p, got[p].data, v)
				}
			}
			for p, m := range tc.modes {
				if got[p].mode != m {
					t.Errorf("%s mode %o, want %o", p, got[p].mode, m)
				}
			}
		})
	}
}

func TestMountsOf(t *testing.T) {
	dir := t.TempDir()
	r := &podRunner{dir: dir, pod: &api.Pod{Spec: api.PodSpec{Volumes: []api.Volume{
		{Name: "cfg", VolumeSource: api.VolumeSource{ConfigMap: &api.ConfigMapVolumeSource{Name: "app"}}},
		{Name: "data", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: api.VolumeSource{HostPath: &api.HostPathVolumeSource{Path: "/var/log"}}},
	}}}}
	if err := writeAtomic(r.volumeDir("cfg"), map[string]volumeFile{"k": {data: []byte("v"), mode: 0o644}}, testTime); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.volumeDir("data"), 0o777); err != nil {
		t.Fatal(err)
	}
	got, err := r.mountsOf(&api.Container{VolumeMounts: []api.VolumeMount{
		{Name: "cfg", MountPath: "/etc/app"}, {Name: "cfg", MountPath: "/etc/k", SubPath: "k"},
		{Name: "data", MountPath: "/data", SubPath: "sub"}, {Name: "host", MountPath: "/logs", ReadOnly: true}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []bindMount{
		{Source: r.volumeDir("cfg"), Target: "/etc/app", ReadOnly: true},
		{Source: filepath.Join(r.volumeDir("cfg"), "..2026_12_07_18_00_00.000000000", "k"), Target: "/etc/k", ReadOnly: true},
		{Source: filepath.Join(r.volumeDir("data"), "sub"), Target: "/data"},
		{Source: "/var/log", Target: "/logs", ReadOnly: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mount %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestVolumeRefusal(t *testing.T) {
	withMount := &api.Pod{Spec: api.PodSpec{Volumes: []api.Volume{{Name: "v", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}}},
		Containers: []api.Container{{Name: "c", VolumeMounts: []api.VolumeMount{{Name: "v", MountPath: "/v"}}}}}}
	memoryOnly := &api.Pod{Spec: api.PodSpec{Volumes: []api.Volume{{Name: "v", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{Medium: "Memory"}}}},
		Containers: []api.Container{{Name: "c"}}}}
	unmounted := &api.Pod{Spec: api.PodSpec{Volumes: []api.Volume{{Name: "v", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}}},
		Containers: []api.Container{{Name: "c"}}}}
	for _, tc := range []struct {
		name    string
		p       *api.Pod
		root    bool
		refused bool
	}{
		{"mounts as root", withMount, true, false},
		{"mounts, not root", withMount, false, true},
		{"memory emptyDir, not root", memoryOnly, false, true},
		{"volume without mounts, not root", unmounted, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := volumeRefusal(tc.p, tc.root); (got != "") != tc.refused {
				t.Fatalf("got %q, want refused=%v", got, tc.refused)
			}
		})
	}
}
