package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestVersion runs orch version (and --version): etcd-style build information, no store needed.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		t.Run(arg, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(t.Context(), []string{arg}, &out, io.Discard); err != nil {
				t.Fatalf("orch %s: %v", arg, err)
			}
			for _, want := range []string{"orch Version: ", "Git SHA: ", "Go Version: ", "API Version: "} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("orch %s printed %q, missing %q", arg, out.String(), want)
				}
			}
		})
	}
}
