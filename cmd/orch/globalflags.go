package main

import (
	"fmt"
	"strings"
)

// leadingFlags are the flags that may come before a command ("orch --endpoints X ctl …")
// or a ctl verb ("orch ctl -n NS get pods"), as kubectl and etcdctl users write them: the
// global flags and the namespace, output, selector and all-namespaces flags of the verbs.
// The value is whether the flag takes a value (a bool flag takes one only as -A=false).
var leadingFlags = map[string]bool{
	"endpoints": true, "dial-timeout": true, "command-timeout": true, "log-level": true,
	"n": true, "namespace": true, "o": true, "output": true, "l": true, "selector": true,
	"A": false, "all-namespaces": false, "encryption-provider-config": true,
	"user": true, "password": true, "cacert": true, "cert": true, "key": true, "insecure-skip-tls-verify": false,
}

// hoistCommand finds the command (the first positional argument) of args when leading
// flags come before it, and returns it with the rest of the line: the leading flags (and
// their values) first, then what followed the command, so that the command's own flag set
// parses them wherever they were written. A flag before the command that is not a leading
// flag is an error; no command at all gives "" and no error.
func hoistCommand(args []string) (cmd string, rest []string, err error) {
	var lead []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			if a == "--" {
				i++
				if i == len(args) {
					return "", nil, nil
				}
			}
			return args[i], append(lead, args[i+1:]...), nil
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesValue, ok := leadingFlags[name]
		if !ok {
			return "", nil, fmt.Errorf("unknown flag %s before the command (only --endpoints, --dial-timeout, --command-timeout, --log-level, --user, --password, --cacert, --cert, --key, --insecure-skip-tls-verify, -n/--namespace, -o/--output, -l/--selector and -A/--all-namespaces may come first)", a)
		}
		lead = append(lead, a)
		if takesValue && !hasValue {
			if i+1 == len(args) {
				return "", nil, fmt.Errorf("flag needs an argument: %s", a)
			}
			i++
			lead = append(lead, args[i])
		}
	}
	return "", nil, nil
}
