package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// configSource reads the ConfigMaps and Secrets a pod refers to; both return an error
// matching registry.ErrNotFound when the object does not exist.
type configSource interface {
	configMap(ns, name string) (*api.ConfigMap, error)
	secret(ns, name string) (*api.Secret, error)
}

// configError is a reference a container cannot start without (kubelet's
// CreateContainerConfigError): a missing ConfigMap, Secret or key that is not optional.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// storeConfigs reads ConfigMaps and Secrets from the store, once per object per
// resolution (a storeConfigs lives for one container start or volume refresh).
type storeConfigs struct {
	ctx     context.Context
	cms     *registry.Store[api.ConfigMap, *api.ConfigMap]
	secrets *registry.Store[api.Secret, *api.Secret]
	seenCM  map[string]*api.ConfigMap
	seenSec map[string]*api.Secret
}

// configStores are the agent's stores of ConfigMaps and Secrets (Secrets decrypted with
// Config.Transformers).
type configStores struct {
	cms     *registry.Store[api.ConfigMap, *api.ConfigMap]
	secrets *registry.Store[api.Secret, *api.Secret]
}

func newConfigStores(cli *clientv3.Client, trs map[string]registry.Transformer) configStores {
	cfg := registry.Config{Transformers: trs}
	return configStores{cms: registry.New[api.ConfigMap](cli, cfg), secrets: registry.New[api.Secret](cli, cfg)}
}

func (s configStores) source(ctx context.Context) *storeConfigs {
	return &storeConfigs{ctx: ctx, cms: s.cms, secrets: s.secrets, seenCM: map[string]*api.ConfigMap{}, seenSec: map[string]*api.Secret{}}
}

func (s *storeConfigs) configMap(ns, name string) (*api.ConfigMap, error) {
	if cm, ok := s.seenCM[name]; ok {
		return cm, nil
	}
	cm, err := s.cms.Get(s.ctx, ns, name)
	if err != nil {
		return nil, err
	}
	s.seenCM[name] = cm
	return cm, nil
}

func (s *storeConfigs) secret(ns, name string) (*api.Secret, error) {
	if sec, ok := s.seenSec[name]; ok {
		return sec, nil
	}
	sec, err := s.secrets.Get(s.ctx, ns, name)
	if err != nil {
		return nil, err
	}
	s.seenSec[name] = sec
	return sec, nil
}

// configData returns the keys of a ConfigMap (kind "configmap") or Secret ("secret");
// found is false when it does not exist. Other errors (the store unreachable, a Secret that
// cannot be decrypted) are returned as configErrors too, so the container waits.
func configData(ns, kind, name string, src configSource) (data map[string][]byte, found bool, err error) {
	if src == nil {
		return nil, false, &configError{fmt.Sprintf("%s %q: references are not available", kind, name)}
	}
	if kind == "configmap" {
		cm, err := src.configMap(ns, name)
		if err != nil {
			return nil, false, notFoundOr(err)
		}
		data = map[string][]byte{}
		for k, v := range cm.Data {
			data[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			data[k] = v
		}
		return data, true, nil
	}
	sec, err := src.secret(ns, name)
	if err != nil {
		return nil, false, notFoundOr(err)
	}
	return sec.Data, true, nil
}

func notFoundOr(err error) error {
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	return &configError{err.Error()}
}

// keyValue resolves one key reference; ok is false when an optional reference is missing.
func keyValue(ns, kind, kindTitle, name, key string, optional bool, src configSource) (string, bool, error) {
	data, found, err := configData(ns, kind, name, src)
	if err != nil {
		return "", false, err
	}
	if !found {
		if optional {
			return "", false, nil
		}
		return "", false, &configError{fmt.Sprintf("%s %q not found", kind, name)}
	}
	v, ok := data[key]
	if !ok {
		if optional {
			return "", false, nil
		}
		return "", false, &configError{fmt.Sprintf("couldn't find key %s in %s %s/%s", key, kindTitle, ns, name)}
	}
	return string(v), true, nil
}

// envSourceValue resolves an env var's valueFrom; ok is false when an optional reference
// is missing (the variable is not set).
func envSourceValue(p *api.Pod, s *api.EnvVarSource, podIP, hostIP string, src configSource) (string, bool, error) {
	switch {
	case s.FieldRef != nil:
		v, err := fieldValue(p, s.FieldRef.FieldPath, podIP, hostIP)
		return v, err == nil, err
	case s.ConfigMapKeyRef != nil:
		r := s.ConfigMapKeyRef
		return keyValue(p.Namespace, "configmap", "ConfigMap", r.Name, r.Key, api.IsOptional(r.Optional), src)
	case s.SecretKeyRef != nil:
		r := s.SecretKeyRef
		return keyValue(p.Namespace, "secret", "Secret", r.Name, r.Key, api.IsOptional(r.Optional), src)
	}
	return "", false, errors.New("valueFrom has no source")
}

// envFromValues returns the [name, value] pairs of envFrom, in order, keys sorted within
// each source; keys that are not valid variable names are skipped, as kubelet does.
func envFromValues(ns string, from []api.EnvFromSource, src configSource) ([][2]string, error) {
	var out [][2]string
	for _, ef := range from {
		kind, name, optional := "configmap", "", false
		if r := ef.ConfigMapRef; r != nil {
			name, optional = r.Name, api.IsOptional(r.Optional)
		} else if r := ef.SecretRef; r != nil {
			kind, name, optional = "secret", r.Name, api.IsOptional(r.Optional)
		}
		data, found, err := configData(ns, kind, name, src)
		if err != nil {
			return nil, err
		}
		if !found {
			if optional {
				continue
			}
			return nil, &configError{fmt.Sprintf("%s %q not found", kind, name)}
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if envVarNameOK(ef.Prefix + k) {
				out = append(out, [2]string{ef.Prefix + k, string(data[k])})
			}
		}
	}
	return out, nil
}

func envVarNameOK(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '.' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// configRetry is how long a container whose ConfigMap or Secret is missing waits before
// its start is retried.
const configRetry = 2 * time.Second

// warn records a Warning event about the pod for container c, once per distinct message
// (the recorder aggregates repeats too).
func (r *podRunner) warn(c *ctr, reason, msg string) {
	if c.warned == msg {
		return
	}
	c.warned = msg
	r.rt.a.recorder.Event(r.pod, "Warning", reason, msg)
}
