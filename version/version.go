// Package version reports what a Keel binary was built from, for keeld --version, keelctl
// version and orch version (etcd prints its version, git SHA and Go version the same way).
// It reads the build information the Go toolchain embeds (runtime/debug.ReadBuildInfo): the
// main module's version and, for a binary built with go build inside a git checkout, the
// commit (vcs.revision, "-dirty" when vcs.modified). It imports no Keel package, so every
// binary, the client-only orchestrator included, may use it.
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// APIVersion is the etcd API version Keel serves (etcd's Status and /version report it).
const APIVersion = "3.6.0"

// gitCommit is the commit the Makefile stamps in with -ldflags -X (`make build`), for builds
// that carry no VCS information (GOFLAGS=-buildvcs=false, a tarball); VCS information wins.
var gitCommit string

// Info describes one build.
type Info struct {
	Version string // the main module's version, "(devel)" for a build from a checkout
	GitSHA  string // the commit built, "Not provided" without VCS information
	Go      string // runtime.Version()
	OSArch  string // GOOS/GOARCH
}

// Get returns this binary's build information.
func Get() Info {
	info := Info{Version: "(devel)", GitSHA: "Not provided", Go: runtime.Version(),
		OSArch: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if v := bi.Main.Version; v != "" {
		info.Version = v
	}
	info.GitSHA = gitSHA(bi.Settings)
	return info
}

// gitSHA returns the short commit of vcs.revision (with "-dirty" if vcs.modified is true), or
// "Not provided" if the build carries none.
func gitSHA(settings []debug.BuildSetting) string {
	var rev, modified string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		if gitCommit != "" {
			return gitCommit
		}
		return "Not provided"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return rev
}

// Print writes the build information as etcd --version does, name being the binary's name:
//
//	keeld Version: (devel)
//	Git SHA: 0123456789ab
//	Go Version: go1.25.0
//	Go OS/Arch: linux/amd64
//	API Version: 3.6.0
func Print(w io.Writer, name string) {
	i := Get()
	fmt.Fprintf(w, "%s Version: %s\nGit SHA: %s\nGo Version: %s\nGo OS/Arch: %s\nAPI Version: %s\n",
		name, i.Version, i.GitSHA, i.Go, i.OSArch, APIVersion)
}
