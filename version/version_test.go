package version

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestGitSHA(t *testing.T) {
	tests := []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{"none", nil, "Not provided"},
		{"clean", []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "false"}}, "0123456789ab"},
		{"dirty", []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}, "0123456789ab-dirty"},
		{"short", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gitSHA(tt.settings); got != tt.want {
				t.Errorf("gitSHA = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrint(t *testing.T) {
	var b bytes.Buffer
	Print(&b, "keeld")
	got := b.String()
	for _, want := range []string{"keeld Version: ", "Git SHA: ", "Go Version: " + runtime.Version(),
		"Go OS/Arch: " + runtime.GOOS + "/" + runtime.GOARCH, "API Version: " + APIVersion} {
		if !strings.Contains(got, want) {
			t.Errorf("Print wrote %q, missing %q", got, want)
		}
	}
}

// TestGitSHAStamped: without VCS information the commit stamped by the Makefile is used;
// VCS information wins over it.
func TestGitSHAStamped(t *testing.T) {
	old := gitCommit
	t.Cleanup(func() { gitCommit = old })
	gitCommit = "fedcba987654"
	if got := gitSHA(nil); got != "fedcba987654" {
		t.Errorf("gitSHA without VCS info = %q, want the stamped fedcba987654", got)
	}
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}}
	if got := gitSHA(vcs); got != "0123456789ab" {
		t.Errorf("gitSHA with VCS info = %q, want 0123456789ab", got)
	}
}
