//go:build !linux

package proccluster

import "syscall"

// sysProcAttr has no portable parent-death signal outside Linux; t.Cleanup still kills members.
func sysProcAttr() *syscall.SysProcAttr { return nil }
