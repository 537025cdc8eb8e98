package agent

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// mapConfigs is a configSource over maps.
type mapConfigs struct {
	cms     map[string]*api.ConfigMap
	secrets map[string]*api.Secret
}

func (m mapConfigs) configMap(ns, name string) (*api.ConfigMap, error) {
	if cm, ok := m.cms[name]; ok {
		return cm, nil
	}
	return nil, fmt.Errorf("%w: configmaps %s/%s", registry.ErrNotFound, ns, name)
}

func (m mapConfigs) secret(ns, name string) (*api.Secret, error) {
	if s, ok := m.secrets[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w: secrets %s/%s", registry.ErrNotFound, ns, name)
}

func TestContainerEnvFrom(t *testing.T) {
	src := mapConfigs{
		cms:     map[string]*api.ConfigMap{"app": {Data: map[string]string{"greeting": "hello", "mode": "fast", "1bad": "x"}}},
		secrets: map[string]*api.Secret{"creds": {Data: map[string][]byte{"password": []byte("hunter2")}}},
	}
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "p"}}
	yes := true
	cmRef := func(name, key string, opt bool) *api.EnvVarSource {
		return &api.EnvVarSource{ConfigMapKeyRef: &api.ConfigMapKeySelector{Name: name, Key: key, Optional: &opt}}
	}
	secRef := func(name, key string) *api.EnvVarSource {
		return &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{Name: name, Key: key}}
	}
	for _, tc := range []struct {
		name    string
		c       api.Container
		want    map[string]string
		absent  []string
		wantErr string
	}{
		{name: "key refs and envFrom with prefix, env wins",
			c: api.Container{Env: []api.EnvVar{{Name: "GREETING", ValueFrom: cmRef("app", "greeting", false)},
				{Name: "PASSWORD", ValueFrom: secRef("creds", "password")}, {Name: "APP_mode", Value: "slow"},
				{Name: "MSG", Value: "$(GREETING) world"}},
				EnvFrom: []api.EnvFromSource{{Prefix: "APP_", ConfigMapRef: &api.ConfigMapEnvSource{Name: "app"}},
					{SecretRef: &api.SecretEnvSource{Name: "gone", Optional: &yes}}}},
			want:   map[string]string{"GREETING": "hello", "PASSWORD": "hunter2", "APP_greeting": "hello", "APP_mode": "slow", "MSG": "hello world"},
			absent: []string{"1bad"}},
		{name: "optional missing key sets nothing",
			c:      api.Container{Env: []api.EnvVar{{Name: "X", ValueFrom: cmRef("app", "nope", true)}, {Name: "Y", ValueFrom: cmRef("none", "k", true)}}},
			absent: []string{"X", "Y"}},
		{name: "missing configmap", c: api.Container{Env: []api.EnvVar{{Name: "X", ValueFrom: cmRef("none", "k", false)}}},
			wantErr: `env X: configmap "none" not found`},
		{name: "missing secret key", c: api.Container{Env: []api.EnvVar{{Name: "X", ValueFrom: secRef("creds", "user")}}},
			wantErr: "env X: couldn't find key user in Secret ns/creds"},
		{name: "missing envFrom secret", c: api.Container{EnvFrom: []api.EnvFromSource{{SecretRef: &api.SecretEnvSource{Name: "gone"}}}},
			wantErr: `secret "gone" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, _, err := containerEnvFrom(p, &tc.c, "", "", src)
			if tc.wantErr != "" {
				var ce *configError
				if err == nil || err.Error() != tc.wantErr || !errors.As(err, &ce) {
					t.Fatalf("got %v, want configError %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				got[k] = v
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s set, want absent", k)
				}
			}
		})
	}
}
