package api

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// ErrorNotFound is Kubernetes' "Not found" field error type (a volume mount naming no volume).
const ErrorNotFound = "Not found"

// MaxConfigSize is the limit of a ConfigMap's or Secret's data, as Kubernetes' (1 MiB).
const MaxConfigSize = 1 << 20

var configKeyRe = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

const configKeyMsg = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"

// IsConfigKey reports whether k is a valid ConfigMap or Secret key.
func IsConfigKey(k string) bool {
	return len(k) <= 253 && configKeyRe.MatchString(k) && k != "." && k != ".." && !strings.HasPrefix(k, "..")
}

func validateConfigKey(k string, p Path) ErrorList {
	if IsConfigKey(k) {
		return nil
	}
	return ErrorList{invalid(p, k, configKeyMsg)}
}

func validateConfigMap(c *ConfigMap) ErrorList {
	var errs ErrorList
	size := 0
	for _, k := range sortedKeys(c.Data) {
		errs = append(errs, validateConfigKey(k, Path("data").Key(k))...)
		size += len(c.Data[k])
	}
	for _, k := range sortedKeys(c.BinaryData) {
		errs = append(errs, validateConfigKey(k, Path("binaryData").Key(k))...)
		if _, dup := c.Data[k]; dup {
			errs = append(errs, invalid(Path("data").Key(k), k, "duplicate of key present in binaryData"))
		}
		size += len(c.BinaryData[k])
	}
	if size > MaxConfigSize {
		errs = append(errs, &FieldError{Field: "data", Type: ErrorTooLong, Detail: fmt.Sprintf("must have at most %d bytes", MaxConfigSize)})
	}
	return errs
}

// secretRequiredKeys are the keys each typed Secret must hold.
var secretRequiredKeys = map[string][]string{
	SecretTypeTLS:              {"tls.crt", "tls.key"},
	SecretTypeSSHAuth:          {"ssh-privatekey"},
	SecretTypeDockerConfigJSON: {".dockerconfigjson"},
	SecretTypeDockercfg:        {".dockercfg"},
}

func validateSecret(s *Secret) ErrorList {
	var errs ErrorList
	size := 0
	for _, k := range sortedKeys(s.Data) {
		errs = append(errs, validateConfigKey(k, Path("data").Key(k))...)
		size += len(s.Data[k])
	}
	if size > MaxConfigSize {
		errs = append(errs, &FieldError{Field: "data", Type: ErrorTooLong, Detail: fmt.Sprintf("must have at most %d bytes", MaxConfigSize)})
	}
	for _, k := range secretRequiredKeys[s.Type] {
		if _, ok := s.Data[k]; !ok {
			errs = append(errs, required(Path("data").Key(k), ""))
		}
	}
	if s.Type == SecretTypeBasicAuth && s.Data["username"] == nil && s.Data["password"] == nil {
		errs = append(errs, required(Path("data").Key("username"), ""), required(Path("data").Key("password"), ""))
	}
	return errs
}

// ValidateUpdate checks an update of old to next beyond Validate: the fields Kubernetes
// makes immutable (a ConfigMap's or Secret's data once immutable, a Secret's type, a
// binding's roleRef).
func ValidateUpdate(old, next Object) ErrorList {
	const msg = "field is immutable when `immutable` is set"
	if errs := validateRBACUpdate(old, next); errs != nil {
		return errs
	}
	switch o := old.(type) {
	case *ConfigMap:
		n := next.(*ConfigMap)
		if !IsOptional(o.Immutable) {
			return nil
		}
		var errs ErrorList
		if !IsOptional(n.Immutable) {
			errs = append(errs, forbidden("immutable", msg))
		}
		if !equalMaps(o.Data, n.Data) {
			errs = append(errs, forbidden("data", msg))
		}
		if !equalBytesMaps(o.BinaryData, n.BinaryData) {
			errs = append(errs, forbidden("binaryData", msg))
		}
		return errs
	case *Secret:
		n := next.(*Secret)
		var errs ErrorList
		if o.Type != n.Type {
			errs = append(errs, invalid("type", n.Type, "field is immutable"))
		}
		if IsOptional(o.Immutable) {
			if !IsOptional(n.Immutable) {
				errs = append(errs, forbidden("immutable", msg))
			}
			if !equalBytesMaps(o.Data, n.Data) {
				errs = append(errs, forbidden("data", msg))
			}
		}
		return errs
	}
	return nil
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func equalBytesMaps(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || string(w) != string(v) {
			return false
		}
	}
	return true
}

// validateEnvSource checks an env var's valueFrom: exactly one source.
func validateEnvSource(s *EnvVarSource, p Path) ErrorList {
	n := 0
	var errs ErrorList
	if f := s.FieldRef; f != nil {
		n++
		if !IsEnvFieldPath(f.FieldPath) {
			errs = append(errs, notSupported(p.Child("fieldRef.fieldPath"), f.FieldPath, envFieldPathsHelp()...))
		}
	}
	if r := s.ConfigMapKeyRef; r != nil {
		n++
		errs = append(errs, validateKeyRef(r.Name, r.Key, p.Child("configMapKeyRef"))...)
	}
	if r := s.SecretKeyRef; r != nil {
		n++
		errs = append(errs, validateKeyRef(r.Name, r.Key, p.Child("secretKeyRef"))...)
	}
	switch {
	case n == 0:
		errs = append(errs, required(p, "must specify one of: `fieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case n > 1:
		errs = append(errs, invalid(p, "", "may not have more than one field specified at a time"))
	}
	return errs
}

func validateKeyRef(name, key string, p Path) ErrorList {
	var errs ErrorList
	if name == "" {
		errs = append(errs, required(p.Child("name"), ""))
	}
	if key == "" {
		errs = append(errs, required(p.Child("key"), ""))
	} else {
		errs = append(errs, validateConfigKey(key, p.Child("key"))...)
	}
	return errs
}

func validateEnvFrom(ef []EnvFromSource, p Path) ErrorList {
	var errs ErrorList
	for i, e := range ef {
		ep := p.Index(i)
		n := 0
		if e.ConfigMapRef != nil {
			n++
			if e.ConfigMapRef.Name == "" {
				errs = append(errs, required(ep.Child("configMapRef.name"), ""))
			}
		}
		if e.SecretRef != nil {
			n++
			if e.SecretRef.Name == "" {
				errs = append(errs, required(ep.Child("secretRef.name"), ""))
			}
		}
		if n != 1 {
			errs = append(errs, invalid(ep, "", "must specify exactly one of: `configMapRef` or `secretRef`"))
		}
		if e.Prefix != "" && !envNameRe.MatchString(e.Prefix) {
			errs = append(errs, invalid(ep.Child("prefix"), e.Prefix, "must be a C identifier-like name"))
		}
	}
	return errs
}

// validateVolumes checks the pod's volumes and returns their names.
func validateVolumes(vs []Volume, p Path) (map[string]bool, ErrorList) {
	var errs ErrorList
	names := map[string]bool{}
	for i := range vs {
		v := &vs[i]
		vp := p.Index(i)
		switch {
		case v.Name == "":
			errs = append(errs, required(vp.Child("name"), ""))
		case !isDNSLabel(v.Name):
			errs = append(errs, invalid(vp.Child("name"), v.Name, "must be a DNS label"))
		case names[v.Name]:
			errs = append(errs, &FieldError{Field: string(vp.Child("name")), Type: ErrorDuplicate, Value: v.Name})
		}
		names[v.Name] = true
		errs = append(errs, validateVolumeSource(&v.VolumeSource, vp)...)
	}
	return names, errs
}

func validateVolumeSource(s *VolumeSource, p Path) ErrorList {
	var errs ErrorList
	n := 0
	if e := s.EmptyDir; e != nil {
		n++
		if e.Medium != "" && e.Medium != "Memory" {
			errs = append(errs, notSupported(p.Child("emptyDir.medium"), e.Medium, "", "Memory"))
		}
		if e.SizeLimit != nil {
			errs = append(errs, validateResources(ResourceList{"sizeLimit": *e.SizeLimit}, p.Child("emptyDir"))...)
		}
	}
	if h := s.HostPath; h != nil {
		n++
		if h.Path == "" {
			errs = append(errs, required(p.Child("hostPath.path"), ""))
		} else if !path.IsAbs(h.Path) {
			errs = append(errs, invalid(p.Child("hostPath.path"), h.Path, "must be an absolute path"))
		}
		types := []string{"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"}
		if h.Type != nil && !slices.Contains(types, *h.Type) {
			errs = append(errs, notSupported(p.Child("hostPath.type"), *h.Type, types...))
		}
	}
	if c := s.ConfigMap; c != nil {
		n++
		errs = append(errs, validateProjection(c.Name, "name", c.Items, c.DefaultMode, p.Child("configMap"))...)
	}
	if c := s.Secret; c != nil {
		n++
		errs = append(errs, validateProjection(c.SecretName, "secretName", c.Items, c.DefaultMode, p.Child("secret"))...)
	}
	if d := s.DownwardAPI; d != nil {
		n++
		errs = append(errs, validateMode(d.DefaultMode, p.Child("downwardAPI.defaultMode"))...)
		errs = append(errs, validateDownwardFiles(d.Items, p.Child("downwardAPI.items"))...)
	}
	if pr := s.Projected; pr != nil {
		n++
		errs = append(errs, validateMode(pr.DefaultMode, p.Child("projected.defaultMode"))...)
		for i, src := range pr.Sources {
			sp := p.Child("projected.sources").Index(i)
			m := 0
			if c := src.ConfigMap; c != nil {
				m++
				errs = append(errs, validateProjection(c.Name, "name", c.Items, nil, sp.Child("configMap"))...)
			}
			if c := src.Secret; c != nil {
				m++
				errs = append(errs, validateProjection(c.Name, "name", c.Items, nil, sp.Child("secret"))...)
			}
			if d := src.DownwardAPI; d != nil {
				m++
				errs = append(errs, validateDownwardFiles(d.Items, sp.Child("downwardAPI.items"))...)
			}
			if m != 1 {
				errs = append(errs, forbidden(sp, "may not specify more or less than 1 volume type"))
			}
		}
	}
	if c := s.PersistentVolumeClaim; c != nil {
		n++
		if c.ClaimName == "" {
			errs = append(errs, required(p.Child("persistentVolumeClaim.claimName"), ""))
		}
	}
	switch {
	case n == 0:
		errs = append(errs, required(p, "must specify a volume type (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected, persistentVolumeClaim)"))
	case n > 1:
		errs = append(errs, forbidden(p, "may not specify more than 1 volume type"))
	}
	return errs
}

func validateProjection(name, nameField string, items []KeyToPath, mode *int32, p Path) ErrorList {
	var errs ErrorList
	if name == "" {
		errs = append(errs, required(p.Child(nameField), ""))
	}
	errs = append(errs, validateMode(mode, p.Child("defaultMode"))...)
	for i, it := range items {
		ip := p.Child("items").Index(i)
		if it.Key == "" {
			errs = append(errs, required(ip.Child("key"), ""))
		}
		errs = append(errs, validateLocalPath(it.Path, ip.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
	}
	return errs
}

func validateDownwardFiles(items []DownwardAPIVolumeFile, p Path) ErrorList {
	var errs ErrorList
	for i, it := range items {
		ip := p.Index(i)
		errs = append(errs, validateLocalPath(it.Path, ip.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
		switch {
		case it.FieldRef == nil:
			errs = append(errs, required(ip.Child("fieldRef"), "only fieldRef is supported"))
		case !isDownwardVolumePath(it.FieldRef.FieldPath) || it.FieldRef.FieldPath == "status.podIP" || it.FieldRef.FieldPath == "status.hostIP":
			errs = append(errs, notSupported(ip.Child("fieldRef.fieldPath"), it.FieldRef.FieldPath, "metadata.name", "metadata.namespace",
				"metadata.uid", "metadata.labels", "metadata.annotations", "metadata.labels['<KEY>']", "metadata.annotations['<KEY>']"))
		}
	}
	return errs
}

// isDownwardVolumePath reports whether a downwardAPI volume file may select path (the env
// paths, except the status ones, and the whole labels or annotations).
func isDownwardVolumePath(p string) bool {
	return p == "metadata.labels" || p == "metadata.annotations" || IsEnvFieldPath(p)
}

func validateMode(m *int32, p Path) ErrorList {
	if m != nil && (*m < 0 || *m > 0o777) {
		return ErrorList{invalid(p, *m, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

// validateLocalPath checks a relative path inside a volume: not absolute, no "..".
func validateLocalPath(s string, p Path) ErrorList {
	switch {
	case s == "":
		return ErrorList{required(p, "")}
	case path.IsAbs(s):
		return ErrorList{invalid(p, s, "must be a relative path")}
	case slices.Contains(strings.Split(s, "/"), ".."):
		return ErrorList{invalid(p, s, "must not contain '..'")}
	case strings.HasPrefix(s, ".."):
		return ErrorList{invalid(p, s, "must not start with '..'")}
	}
	return nil
}

func validateVolumeMounts(ms []VolumeMount, volumes map[string]bool, p Path) ErrorList {
	var errs ErrorList
	paths := map[string]bool{}
	for i, m := range ms {
		mp := p.Index(i)
		switch {
		case m.Name == "":
			errs = append(errs, required(mp.Child("name"), ""))
		case !volumes[m.Name]:
			errs = append(errs, &FieldError{Field: string(mp.Child("name")), Type: ErrorNotFound, Value: m.Name})
		}
		switch {
		case m.MountPath == "":
			errs = append(errs, required(mp.Child("mountPath"), ""))
		case !path.IsAbs(m.MountPath):
			errs = append(errs, invalid(mp.Child("mountPath"), m.MountPath, "must be an absolute path in the process runtime"))
		case paths[path.Clean(m.MountPath)]:
			errs = append(errs, invalid(mp.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths[path.Clean(m.MountPath)] = true
		if m.SubPath != "" {
			errs = append(errs, validateLocalPath(m.SubPath, mp.Child("subPath"))...)
		}
	}
	return errs
}
