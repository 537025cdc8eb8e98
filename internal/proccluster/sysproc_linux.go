package proccluster

import "syscall"

// sysProcAttr asks the kernel to SIGKILL a member when the test process dies, so an aborted
// test run (timeout panic, ^C) leaves no servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
