package agent

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ShimArg is the first argument that makes a binary run as a container shim: the process
// runtime starts containers as "<shim command> <args>", where the shim command defaults to
// ["/proc/self/exe", ShimArg]. cmd/orch dispatches it as the hidden `orch shim` command; a
// test binary calls MaybeRunShim at the top of TestMain.
const ShimArg = "shim"

// MaybeRunShim runs the shim and exits the process when os.Args[1] is ShimArg; otherwise it
// returns. Call it first in TestMain of tests that start the process runtime.
func MaybeRunShim() {
	if len(os.Args) > 1 && os.Args[1] == ShimArg {
		os.Exit(RunShim(os.Args[2:]))
	}
}

// shimExit is the exit record a shim writes when its container has ended.
type shimExit struct {
	ExitCode   int32     `json:"exitCode"`
	Signal     int32     `json:"signal,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Message    string    `json:"message,omitempty"`
	FinishedAt time.Time `json:"finishedAt"`
}

// shimPids is the record a shim writes once its container has started.
type shimPids struct {
	Pid       int    `json:"pid"`
	PidStart  uint64 `json:"pidStart"`
	Shim      int    `json:"shim"`
	ShimStart uint64 `json:"shimStart"`
}

func pidFile(dir string, attempt int32) string {
	return filepath.Join(dir, fmt.Sprintf("%d.pid", attempt))
}
func exitFile(dir string, attempt int32) string {
	return filepath.Join(dir, fmt.Sprintf("%d.exit", attempt))
}
func logFile(dir string, attempt int32) string {
	return filepath.Join(dir, fmt.Sprintf("%d.log", attempt))
}

// RunShim is the shim's main: `shim --dir DIR --attempt N [--workdir W] [--path P] -- ARGV...`.
// It starts P (default ARGV[0]) as ARGV in its own process group with the shim's environment,
// stdin, stdout and stderr, records the pids in DIR/N.pid, forwards SIGTERM and SIGINT to
// the group, waits, kills what is left of the group, writes DIR/N.exit and returns the exit
// code of the shim itself (0 unless its arguments were wrong).
func RunShim(args []string) int {
	fs := flag.NewFlagSet("shim", flag.ContinueOnError)
	dir := fs.String("dir", "", "container state directory")
	attempt := fs.Int("attempt", 0, "restart count of this run")
	workdir := fs.String("workdir", "", "working directory")
	path := fs.String("path", "", "executable (default: ARGV[0])")
	mounts := fs.String("mounts", "", "JSON file of bind mounts to make first (the shim runs in a private mount namespace)")
	cgroups := fs.String("cgroups", "", "comma-separated cgroup directories to join before starting the command")
	inCommand := fs.Bool("cgroups-in-command", false, "the command's process joins the cgroups, not the shim (a pids limit must not count the shim's threads)")
	joinExec := fs.String("join-exec", "", "internal: join these cgroups, then exec the command in this process")
	if err := fs.Parse(args); err != nil || *dir == "" || fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: shim --dir DIR --attempt N [--workdir W] [--path P] -- ARGV...")
		return 2
	}
	if *joinExec != "" {
		// The command's own process: join the cgroups (a migration may exceed pids.max; only
		// forks are refused), then become the command at once, which drops the Go runtime's
		// threads; nothing in between starts goroutines.
		if err := cgroupJoin(strings.Split(*joinExec, ","), os.Getpid()); err != nil {
			fmt.Fprintf(os.Stderr, "shim: %v\n", err)
			return 128
		}
		exe := *path
		if exe == "" {
			exe = fs.Arg(0)
		}
		err := syscall.Exec(exe, fs.Args(), os.Environ())
		fmt.Fprintf(os.Stderr, "shim: cannot start %s: %v\n", fs.Arg(0), err)
		return 128
	}
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	n := int32(*attempt)
	argv := fs.Args()
	exe := *path
	if exe == "" {
		exe = argv[0]
	}
	if *mounts != "" {
		var ms []bindMount
		err := readJSON(*mounts, &ms)
		if err == nil {
			err = applyMounts(ms)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "shim: cannot mount the volumes: %v\n", err)
			writeJSON(exitFile(*dir, n), shimExit{ExitCode: 128, Reason: "StartError", Message: "volume mounts: " + err.Error(), FinishedAt: time.Now()})
			return 0
		}
	}
	var cgDirs []string
	var ooms int64
	var err error
	if *cgroups != "" {
		cgDirs = strings.Split(*cgroups, ",")
		if !*inCommand {
			err = cgroupJoin(cgDirs, os.Getpid())
		}
		if err != nil {
			cgroupLeave(cgDirs, os.Getpid())
			fmt.Fprintf(os.Stderr, "shim: %v\n", err)
			writeJSON(exitFile(*dir, n), shimExit{ExitCode: 128, Reason: "StartError", Message: err.Error(), FinishedAt: time.Now()})
			return 0
		}
		ooms = cgroupOOMKills(cgDirs)
	}
	cmd := exec.Command(exe, argv[1:]...)
	cmd.Args = argv
	if *inCommand && len(cgDirs) > 0 {
		// Re-execute this shim (as it was invoked, minus its arguments) to join and exec.
		prefix := os.Args[:len(os.Args)-len(args)]
		stub := append(append([]string(nil), prefix[1:]...), "--dir", *dir, "--join-exec", *cgroups, "--path", exe, "--")
		cmd = exec.Command("/proc/self/exe", append(stub, argv...)...)
		cmd.Args[0] = prefix[0]
	}
	cmd.Dir = *workdir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "shim: cannot start %s: %v\n", argv[0], err)
		writeJSON(exitFile(*dir, n), shimExit{ExitCode: 128, Reason: "StartError", Message: err.Error(), FinishedAt: time.Now()})
		return 0
	}
	pid := cmd.Process.Pid
	ps, _ := procStart(pid)
	ss, _ := procStart(os.Getpid())
	writeJSON(pidFile(*dir, n), shimPids{Pid: pid, PidStart: ps, Shim: os.Getpid(), ShimStart: ss})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for waiting := true; waiting; {
		select {
		case s := <-sigs:
			_ = syscall.Kill(-pid, s.(syscall.Signal))
		case <-done:
			waiting = false
		}
	}
	// The container is its process group: like a pid namespace whose init exits, what is
	// left of it is killed.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	ex := shimExit{FinishedAt: time.Now(), Reason: "Completed"}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		ex.Signal = int32(ws.Signal())
		ex.ExitCode = 128 + ex.Signal
	} else {
		ex.ExitCode = int32(cmd.ProcessState.ExitCode())
	}
	if ex.ExitCode != 0 {
		ex.Reason = "Error"
	}
	if len(cgDirs) > 0 {
		// The kernel killed a process of the container's memory cgroup (over its limit).
		if ex.ExitCode == 137 && cgroupOOMKills(cgDirs) > ooms {
			ex.Reason = "OOMKilled"
		}
		cgroupLeave(cgDirs, os.Getpid())
	}
	writeJSON(exitFile(*dir, n), ex)
	return 0
}

// writeJSON writes v to path atomically (temporary file, then rename).
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// procStart returns the start time (in clock ticks since boot) of the live, non-zombie
// process pid, from /proc/<pid>/stat; it fails when there is no such process.
func procStart(pid int) (uint64, error) {
	if pid <= 0 {
		return 0, errors.New("agent: no pid")
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is parenthesised and may contain spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("agent: malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, errors.New("agent: malformed stat")
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, errors.New("agent: process exited")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive reports whether pid is running and is still the process that started at start.
func alive(pid int, start uint64) bool {
	s, err := procStart(pid)
	return err == nil && s == start
}

// killRecorded sends sig to the container group and shim recorded in a pid file, if they
// are still the recorded processes. It reports whether any was alive.
func killRecorded(p shimPids, sig syscall.Signal) bool {
	any := false
	if alive(p.Pid, p.PidStart) {
		_ = syscall.Kill(-p.Pid, sig)
		any = true
	}
	if sig == syscall.SIGKILL && alive(p.Shim, p.ShimStart) {
		_ = syscall.Kill(p.Shim, sig)
		any = true
	}
	return any
}

// StopPods kills (SIGKILL) every container process and shim recorded under rootDir, the
// process runtime's --root-dir, and waits up to 10 s for them to go. It is what cleans up
// after an agent that was killed or stopped without --stop-pods-on-exit; it does not touch
// the store.
func StopPods(rootDir string) error {
	files, err := filepath.Glob(filepath.Join(rootDir, "pods", "*", "*", "*.pid"))
	if err != nil {
		return err
	}
	var recs []shimPids
	for _, f := range files {
		var p shimPids
		if readJSON(f, &p) == nil && killRecorded(p, syscall.SIGKILL) {
			recs = append(recs, p)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range recs {
		for alive(p.Pid, p.PidStart) || alive(p.Shim, p.ShimStart) {
			if time.Now().After(deadline) {
				return fmt.Errorf("agent: pod processes %d/%d still alive", p.Pid, p.Shim)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}
