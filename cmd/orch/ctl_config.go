package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// registryConfig is the registry configuration of a component: the transformers of its
// --encryption-provider-config file, if any (Secrets stay plaintext without one, as
// Kubernetes' identity provider).
func registryConfig(file string) (registry.Config, error) {
	if file == "" {
		return registry.Config{}, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return registry.Config{}, err
	}
	trs, err := registry.ParseEncryptionConfig(b)
	if err != nil {
		return registry.Config{}, fmt.Errorf("%s: %w", file, err)
	}
	return registry.Config{Transformers: trs}, nil
}

// configClients are the clients of ConfigMaps and Secrets, Secrets through cfg's transformer.
func configClients(cli *clientv3.Client, cfg registry.Config) []resourceClient {
	return []resourceClient{
		typed{registry.New[api.ConfigMap](cli, cfg).Generic()},
		typed{registry.New[api.Secret](cli, cfg).Generic()},
	}
}

// describeConfigMap writes kubectl's describe of a ConfigMap: the values in full.
func (d *describer) configMap(w *describeWriter, cm *api.ConfigMap) {
	d.meta(w, &cm.ObjectMeta, true)
	w.line(0, "")
	w.line(0, "Data")
	w.line(0, "====")
	for _, k := range sortedMapKeys(cm.Data) {
		w.line(0, "%s:", k)
		w.line(0, "----")
		w.line(0, "%s", cm.Data[k])
		w.line(0, "")
	}
	w.line(0, "")
	w.line(0, "BinaryData")
	w.line(0, "====")
	for _, k := range sortedMapKeys(cm.BinaryData) {
		w.line(0, "%s: %d bytes", k, len(cm.BinaryData[k]))
	}
}

// secret writes kubectl's describe of a Secret: byte counts, never the values.
func (d *describer) secret(w *describeWriter, s *api.Secret) {
	d.meta(w, &s.ObjectMeta, true)
	w.line(0, "")
	w.line(0, "Type:\t%s", s.Type)
	w.line(0, "")
	w.line(0, "Data")
	w.line(0, "====")
	for _, k := range sortedMapKeys(s.Data) {
		w.line(0, "%s:\t%d bytes", k, len(s.Data[k]))
	}
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// configSources are the --from-literal, --from-file and --from-env-file flags of
// `create configmap` and `create secret generic`.
type configSources struct {
	literals, files, envFiles sourceList
}

type sourceList []string

func (l *sourceList) String() string     { return strings.Join(*l, ",") }
func (l *sourceList) Set(v string) error { *l = append(*l, v); return nil }

func (s *configSources) register(fs *flag.FlagSet) {
	fs.Var(&s.literals, "from-literal", "a key and literal value (key=value), repeatable")
	fs.Var(&s.files, "from-file", "a file ([key=]path; the key defaults to the file's name) or a directory's files, repeatable")
	fs.Var(&s.envFiles, "from-env-file", "a file of key=value lines, repeatable")
}

// collect reads the sources into key → value, refusing duplicate and invalid keys as kubectl.
func (s *configSources) collect() (map[string][]byte, error) {
	out := map[string][]byte{}
	add := func(k string, v []byte) error {
		if !api.IsConfigKey(k) {
			return fmt.Errorf("%q is not a valid key name: a valid config key must consist of alphanumeric characters, '-', '_' or '.'", k)
		}
		if _, dup := out[k]; dup {
			return fmt.Errorf("cannot add key %q, another key by that name already exists", k)
		}
		out[k] = v
		return nil
	}
	for _, l := range s.literals {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid literal source %s, expected key=value", l)
		}
		if err := add(k, []byte(v)); err != nil {
			return nil, err
		}
	}
	for _, f := range s.files {
		k, p, ok := strings.Cut(f, "=")
		if !ok {
			k, p = "", f
		}
		if err := addFileSource(k, p, add); err != nil {
			return nil, err
		}
	}
	for _, f := range s.envFiles {
		if err := addEnvFile(f, add); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func addFileSource(key, p string, add func(string, []byte) error) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if key == "" {
			key = filepath.Base(p)
		}
		return add(key, b)
	}
	if key != "" {
		return fmt.Errorf("cannot give a key name for a directory path: %s", p)
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(p, e.Name()))
			if err != nil {
				return err
			}
			if err := add(e.Name(), b); err != nil {
				return err
			}
		}
	}
	return nil
}

// addEnvFile reads KEY=VALUE lines (blank lines and # comments skipped; a bare KEY takes
// its value from the environment, as kubectl).
func addEnvFile(p string, add func(string, []byte) error) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			v = os.Getenv(k)
		}
		if err := add(k, []byte(v)); err != nil {
			return fmt.Errorf("%s line %d: %w", p, n, err)
		}
	}
	return sc.Err()
}

// createConfig is `create configmap NAME` and `create secret generic NAME`.
func createConfig(ctx context.Context, c *ctl, ns string, pos []string, src *configSources, secretType string) error {
	data, err := src.collect()
	if err != nil {
		return err
	}
	var obj api.Object
	switch pos[0] {
	case "configmap", "configmaps", "cm":
		if len(pos) != 2 {
			fmt.Fprintln(c.stderr, "usage: orch ctl create configmap NAME [--from-literal=k=v] [--from-file=[key=]path] [--from-env-file=path] [-n NS]")
			return errUsage
		}
		cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: pos[1], Namespace: ns}}
		for k, v := range data {
			if utf8.Valid(v) {
				if cm.Data == nil {
					cm.Data = map[string]string{}
				}
				cm.Data[k] = string(v)
			} else {
				if cm.BinaryData == nil {
					cm.BinaryData = map[string][]byte{}
				}
				cm.BinaryData[k] = v
			}
		}
		obj = cm
	default: // secret generic
		if len(pos) != 3 || pos[1] != "generic" {
			fmt.Fprintln(c.stderr, "usage: orch ctl create secret generic NAME [--type=TYPE] [--from-literal=k=v] [--from-file=[key=]path] [--from-env-file=path] [-n NS]")
			return errUsage
		}
		obj = &api.Secret{ObjectMeta: api.ObjectMeta{Name: pos[2], Namespace: ns}, Data: data, Type: secretType}
	}
	out, err := c.clients[api.ResourceOf(obj).Name].create(ctx, obj)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s/%s created\n", qualifiedKind(api.ResourceOf(out)), out.Meta().Name)
	return nil
}

// podVolumes writes kubectl describe's Volumes section of a pod.
func podVolumes(w *describeWriter, vs []api.Volume) {
	if len(vs) == 0 {
		w.line(0, "Volumes:\t<none>")
		return
	}
	w.line(0, "Volumes:")
	opt := func(b *bool) string { return strconv.FormatBool(api.IsOptional(b)) }
	for _, v := range vs {
		w.line(1, "%s:", v.Name)
		switch {
		case v.EmptyDir != nil:
			w.line(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)")
			w.line(2, "Medium:\t%s", v.EmptyDir.Medium)
			limit := "<unset>"
			if v.EmptyDir.SizeLimit != nil {
				limit = string(*v.EmptyDir.SizeLimit)
			}
			w.line(2, "SizeLimit:\t%s", limit)
		case v.HostPath != nil:
			w.line(2, "Type:\tHostPath (bare host directory volume)")
			w.line(2, "Path:\t%s", v.HostPath.Path)
			t := ""
			if v.HostPath.Type != nil {
				t = *v.HostPath.Type
			}
			w.line(2, "HostPathType:\t%s", t)
		case v.ConfigMap != nil:
			w.line(2, "Type:\tConfigMap (a volume populated by a ConfigMap)")
			w.line(2, "Name:\t%s", v.ConfigMap.Name)
			w.line(2, "Optional:\t%s", opt(v.ConfigMap.Optional))
		case v.Secret != nil:
			w.line(2, "Type:\tSecret (a volume populated by a Secret)")
			w.line(2, "SecretName:\t%s", v.Secret.SecretName)
			w.line(2, "Optional:\t%s", opt(v.Secret.Optional))
		case v.DownwardAPI != nil:
			w.line(2, "Type:\tDownwardAPI (a volume populated by information about the pod)")
			w.line(2, "Items:")
			for _, it := range v.DownwardAPI.Items {
				if it.FieldRef != nil {
					w.line(3, "%s -> %s", it.FieldRef.FieldPath, it.Path)
				}
			}
		case v.Projected != nil:
			w.line(2, "Type:\tProjected (a volume that contains injected data from multiple sources)")
			for _, s := range v.Projected.Sources {
				switch {
				case s.ConfigMap != nil:
					w.line(2, "ConfigMapName:\t%s", s.ConfigMap.Name)
					w.line(2, "ConfigMapOptional:\t%s", opt(s.ConfigMap.Optional))
				case s.Secret != nil:
					w.line(2, "SecretName:\t%s", s.Secret.Name)
					w.line(2, "SecretOptionalName:\t%s", opt(s.Secret.Optional))
				case s.DownwardAPI != nil:
					w.line(2, "DownwardAPI:\ttrue")
				}
			}
		}
	}
}

// envRefText is kubectl describe's text of a configMapKeyRef or secretKeyRef variable.
func envRefText(s *api.EnvVarSource) string {
	switch {
	case s.ConfigMapKeyRef != nil:
		r := s.ConfigMapKeyRef
		return fmt.Sprintf("<set to the key '%s' of config map '%s'>\tOptional: %t", r.Key, r.Name, api.IsOptional(r.Optional))
	case s.SecretKeyRef != nil:
		r := s.SecretKeyRef
		return fmt.Sprintf("<set to the key '%s' in secret '%s'>\tOptional: %t", r.Key, r.Name, api.IsOptional(r.Optional))
	}
	return ""
}

// containerConfigRefs writes a container's envFrom sources and volume mounts, as kubectl
// describe.
func containerConfigRefs(w *describeWriter, level int, c api.Container) {
	if len(c.EnvFrom) > 0 {
		w.line(level+2, "Environment Variables from:")
		for _, ef := range c.EnvFrom {
			prefix := ""
			if ef.Prefix != "" {
				prefix = " with prefix '" + ef.Prefix + "'"
			}
			if r := ef.ConfigMapRef; r != nil {
				w.line(level+3, "%s\tConfigMap%s\tOptional: %t", r.Name, prefix, api.IsOptional(r.Optional))
			} else if r := ef.SecretRef; r != nil {
				w.line(level+3, "%s\tSecret%s\tOptional: %t", r.Name, prefix, api.IsOptional(r.Optional))
			}
		}
	}
	if len(c.VolumeMounts) == 0 {
		w.line(level+2, "Mounts:\t<none>")
		return
	}
	w.line(level+2, "Mounts:")
	for _, m := range c.VolumeMounts {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		sub := ""
		if m.SubPath != "" {
			sub = ", path = \"" + m.SubPath + "\""
		}
		w.line(level+3, "%s from %s (%s%s)", m.MountPath, m.Name, mode, sub)
	}
}
