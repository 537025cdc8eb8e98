package agent

import (
	"fmt"
	"os"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
)

// expand replaces $(VAR) references in s by mapping's value when VAR is defined, leaving
// undefined references as they are; $$ is an escaped $. It is Kubernetes' expansion
// (third_party/forked/golang/expansion).
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	checkpoint := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			continue
		}
		b.WriteString(s[checkpoint:i])
		rest := s[i+1:]
		advance := 1
		switch rest[0] {
		case '$':
			b.WriteByte('$')
		case '(':
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				b.WriteString("$(")
				break
			}
			name := rest[1:end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			advance = end + 1
		default:
			b.WriteString(s[i : i+2])
		}
		i += advance
		checkpoint = i + 1
	}
	return b.String() + s[checkpoint:]
}

// fieldValue returns the value of a downward-API field path of p.
func fieldValue(p *api.Pod, path, podIP, hostIP string) (string, error) {
	if base, key, ok := api.SubscriptedFieldPath(path); ok {
		switch base {
		case "metadata.labels":
			return p.Labels[key], nil
		case "metadata.annotations":
			return p.Annotations[key], nil
		}
	}
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return p.UID, nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.podIP":
		return podIP, nil
	case "status.hostIP":
		return hostIP, nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q (want one of %v)", path, api.EnvFieldPaths)
}

// containerEnv returns c's environment as KEY=VALUE pairs: what an image and the runtime
// would provide (the agent's PATH and HOME, HOSTNAME = the pod's hostname), then c.env in
// order, each value expanded against the variables before it.
func containerEnv(p *api.Pod, c *api.Container, podIP, hostIP string) ([]string, map[string]string, error) {
	return containerEnvFrom(p, c, podIP, hostIP, nil)
}

// containerEnvFrom is containerEnv with c.envFrom and the configMapKeyRef and secretKeyRef
// of c.env resolved through src (nil: such references fail). envFrom comes first, env
// overrides it, as kubelet. A missing object or key that is not optional is an error
// (*configError: the container waits with CreateContainerConfigError).
func containerEnvFrom(p *api.Pod, c *api.Container, podIP, hostIP string, src configSource) ([]string, map[string]string, error) {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			set(k, v)
		}
	}
	host := p.Spec.Hostname
	if host == "" {
		host = p.Name
	}
	set("HOSTNAME", host)
	base := map[string]bool{"PATH": true, "HOME": true, "HOSTNAME": true}
	lookup := func(name string) (string, bool) {
		if base[name] {
			return "", false // only variables the user defined are expanded, as in Kubernetes
		}
		v, ok := vals[name]
		return v, ok
	}
	fromKeys, err := envFromValues(p.Namespace, c.EnvFrom, src)
	if err != nil {
		return nil, nil, err
	}
	for _, kv := range fromKeys {
		delete(base, kv[0])
		set(kv[0], kv[1])
	}
	for _, e := range c.Env {
		v := expand(e.Value, lookup)
		if e.ValueFrom != nil {
			fv, ok, err := envSourceValue(p, e.ValueFrom, podIP, hostIP, src)
			if err != nil {
				return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			if !ok {
				continue // an optional reference that is missing: no variable
			}
			v = fv
		}
		delete(base, e.Name)
		set(e.Name, v)
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vals[k])
	}
	user := map[string]string{}
	for _, kv := range fromKeys {
		user[kv[0]] = vals[kv[0]]
	}
	for _, e := range c.Env {
		if v, ok := vals[e.Name]; ok {
			user[e.Name] = v
		}
	}
	return env, user, nil
}

// containerArgv returns c's command and args with $(VAR) references to its env expanded.
func containerArgv(c *api.Container, user map[string]string) []string {
	lookup := func(name string) (string, bool) { v, ok := user[name]; return v, ok }
	argv := make([]string, 0, len(c.Command)+len(c.Args))
	for _, s := range c.Command {
		argv = append(argv, expand(s, lookup))
	}
	for _, s := range c.Args {
		argv = append(argv, expand(s, lookup))
	}
	return argv
}
