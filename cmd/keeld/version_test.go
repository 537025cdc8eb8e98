package main

import (
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersion runs keeld --version as main does: it prints etcd-style build information and
// returns without starting a member, whatever the other flags say.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"--version", "--data-dir", t.TempDir(), "--heartbeat-interval", "0"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if err := run(args, &out, io.Discard); err != nil {
				t.Fatalf("run(%q) = %v, want nil", args, err)
			}
			for _, want := range []string{"keeld Version: ", "Git SHA: ", "Go Version: " + runtime.Version(), "Go OS/Arch: "} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output %q does not contain %q", out.String(), want)
				}
			}
		})
	}
}

// TestVersionBinary builds keeld and runs keeld --version: it exits 0 with etcd's lines (the
// Git SHA is the build's vcs.revision, "Not provided" when built with -buildvcs=false).
func TestVersionBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds keeld")
	}
	bin := filepath.Join(t.TempDir(), "keeld")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("keeld --version: %v", err)
	}
	for _, want := range []string{"keeld Version: ", "Git SHA: ", "Go Version: ", "Go OS/Arch: "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("keeld --version printed %q, missing %q", out, want)
		}
	}
}
