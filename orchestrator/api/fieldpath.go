package api

import (
	"slices"
	"strings"

	"github.com/keeldb/keel/orchestrator/labels"
)

// SubscriptedFieldPath splits a downward-API path with a subscript, such as
// "metadata.annotations['batch.kubernetes.io/job-completion-index']", into its base
// ("metadata.annotations") and key; ok is false for any other path.
func SubscriptedFieldPath(path string) (base, key string, ok bool) {
	base, rest, found := strings.Cut(path, "['")
	if !found || !strings.HasSuffix(rest, "']") {
		return "", "", false
	}
	return base, strings.TrimSuffix(rest, "']"), true
}

// IsEnvFieldPath reports whether an env fieldRef may select path: one of EnvFieldPaths, or
// metadata.labels['KEY'] / metadata.annotations['KEY'] with a valid key, as Kubernetes.
func IsEnvFieldPath(path string) bool {
	if slices.Contains(EnvFieldPaths, path) {
		return true
	}
	base, key, ok := SubscriptedFieldPath(path)
	return ok && (base == "metadata.labels" || base == "metadata.annotations") && labels.ValidateKey(key) == nil
}

// envFieldPathsHelp lists the supported paths in field errors.
func envFieldPathsHelp() []string {
	return append(slices.Clone(EnvFieldPaths), "metadata.labels['<KEY>']", "metadata.annotations['<KEY>']")
}
